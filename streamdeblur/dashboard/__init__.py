"""streamdeblur.dashboard"""
