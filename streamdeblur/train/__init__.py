"""streamdeblur.train"""
