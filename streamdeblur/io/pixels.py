"""YUV <-> BGR: the one place decoded pictures become arrays and arrays become pictures.

swscale's default conversions (what PyAV's ``to_ndarray`` / ``from_ndarray`` use) truncate
instead of rounding and take chroma from the nearest sample: a decode came out 1-1.5 levels
dark with a green cast, an encode 1.5 levels dark in red and blue, and a grey of 128 went
through a file as (124, 126, 123). With ``ACCURATE_RND`` and full-chroma interpolation the
round trip is exact for flat colours and unbiased elsewhere, for about 1.7 ms more per
640x360 frame and 10 ms more at 1920x1080 (docs/BENCHMARKS.md "Colour conversions").

The source's own colour tags (BT.709, full range) are honoured when decoding; written
files are BT.601 limited range and say so.
"""

from __future__ import annotations

import av
import numpy as np
from av.video.reformatter import Interpolation

_ROUND = Interpolation.ACCURATE_RND
DECODE = Interpolation.BILINEAR | _ROUND | Interpolation.FULL_CHR_H_INT
DECODE_SCALED = Interpolation.AREA | _ROUND | Interpolation.FULL_CHR_H_INT
ENCODE = Interpolation.BILINEAR | _ROUND

WRITTEN_COLORSPACE = 5  # AVCOL_SPC_BT470BG: BT.601, swscale's matrix for untagged pictures
WRITTEN_RANGE = 1  # AVCOL_RANGE_MPEG: limited (16-235)


def to_bgr(frame: av.VideoFrame, size: tuple[int, int] | None = None) -> np.ndarray:
    """A decoded picture as a BGR uint8 array, scaled to ``size`` (w, h) inside the same
    conversion where given (area averaging)."""
    if size is None or (frame.width, frame.height) == tuple(size):
        return frame.to_ndarray(format="bgr24", interpolation=DECODE)
    return frame.to_ndarray(format="bgr24", width=size[0], height=size[1], interpolation=DECODE_SCALED)


def from_bgr(image: np.ndarray, pix_fmt: str = "yuv420p") -> av.VideoFrame:
    """A BGR uint8 array as a picture in ``pix_fmt``, ready for an encoder."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
    return frame.reformat(format=pix_fmt, interpolation=ENCODE, dst_color_range=WRITTEN_RANGE)


def tag_stream(codec_context: av.codec.context.CodecContext) -> None:
    """Label an encoder's output with the matrix and range :func:`from_bgr` converts with,
    so players do not guess (many assume BT.709 for HD)."""
    codec_context.colorspace = WRITTEN_COLORSPACE
    codec_context.color_range = WRITTEN_RANGE
