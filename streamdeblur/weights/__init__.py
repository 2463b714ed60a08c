"""streamdeblur.weights"""
