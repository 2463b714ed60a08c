"""streamdeblur: real-time video surveillance stream processor."""

__version__ = "0.1.0"
