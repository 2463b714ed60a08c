"""streamdeblur.runtime"""
