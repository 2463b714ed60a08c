"""Blur synthesis: realistic blurred clips with ground truth from sharp images and video.

``synth_clip`` turns one sharp image into a short clip (camera drift, shake, moving objects,
exposure averaged in linear light, Gaussian/defocus blur, noise, H.264); ``synth_video``
degrades a whole video file (``streamdeblur synth``).
"""

from streamdeblur.synth.clip import SynthClip, SynthParams, blur_frame, render_clip, synth_clip
from streamdeblur.synth.trajectory import Path

__all__ = ["Path", "SynthClip", "SynthParams", "blur_frame", "render_clip", "synth_clip"]
