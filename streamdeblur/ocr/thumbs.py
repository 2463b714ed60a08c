"""Plate thumbnails for OCR events: a small JPEG of the read plate, base64 in the JSON line."""

from __future__ import annotations

import base64

import cv2
import numpy as np

THUMB_WIDTH = 160
THUMB_HEIGHT = 48
THUMB_QUALITY = 70
MARGIN = 0.15
"""Share of the text box's height added around it, so the plate's edge shows."""


def plate_thumbnail(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    max_width: int = THUMB_WIDTH,
    max_height: int = THUMB_HEIGHT,
    quality: int = THUMB_QUALITY,
) -> str | None:
    """Base64 JPEG of the plate at ``box`` (``x0, y0, x1, y1``, frame pixels) in a BGR
    frame, with a small margin, shrunk to fit ``max_width`` x ``max_height`` (never
    enlarged); None when the box lies outside the frame."""
    h, w = image.shape[:2]
    pad = MARGIN * max(box[3] - box[1], 1.0)
    x0, y0 = max(0, int(box[0] - pad)), max(0, int(box[1] - pad))
    x1, y1 = min(w, int(np.ceil(box[2] + pad))), min(h, int(np.ceil(box[3] + pad)))
    if x1 <= x0 or y1 <= y0:
        return None
    crop = image[y0:y1, x0:x1]
    scale = min(max_width / crop.shape[1], max_height / crop.shape[0], 1.0)
    if scale < 1.0:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(crop), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return base64.b64encode(jpeg.tobytes()).decode("ascii") if ok else None
