"""streamdeblur.ocr"""
