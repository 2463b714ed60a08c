"""streamdeblur.io"""
