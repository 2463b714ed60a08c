"""The one frame type that travels through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np


@dataclass(slots=True)
class Frame:
    """A decoded video frame and where it came from.

    ``image`` is an ``HxWx3`` uint8 array in BGR order (OpenCV's and the wire's ``bgr24``).
    ``seq`` counts frames per camera from 0 in decode order; ``pts``/``time_base`` are the
    container's timestamp; ``capture_ts_ns`` is wall-clock (``time.time_ns``) at decode.
    """

    camera: str
    seq: int
    image: np.ndarray
    pts: int | None = None
    time_base: Fraction | None = None
    capture_ts_ns: int = 0

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def seconds(self) -> float | None:
        """Presentation time in seconds, when the container gave one."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)

    def with_image(self, image: np.ndarray) -> "Frame":
        """The same frame metadata carrying other pixels (e.g. the deblurred result)."""
        return replace(self, image=image)
