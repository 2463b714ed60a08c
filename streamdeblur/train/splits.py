"""Which data trains the model and which is kept for evaluation (one place, importable).

- Plates (``plates/eu``, ``plates/br``): the images of each folder sorted by file name
  (plain string order, e.g. eu1, eu10, eu11, ...); every 5th one, starting with the first
  (indices 0, 5, 10, ...), is held out.
- Video: ``one-by-one-person-detection.mp4`` is held out entirely; ``car-detection.mp4``
  trains.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

IMAGE_EXTS = (".jpg", ".jpeg", ".png")
HELD_OUT_VIDEOS = frozenset({"one-by-one-person-detection.mp4"})
HOLD_OUT_EVERY = 5


def data_root() -> Path:
    """``$STREAMDEBLUR_DATA`` or ``../shared/data`` next to the repository."""
    env = os.environ.get("STREAMDEBLUR_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


@lru_cache(maxsize=16)
def _folder_images(folder: str) -> tuple[str, ...]:
    return tuple(sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTS)))


def is_held_out(path: str | os.PathLike) -> bool:
    """True for evaluation-only plate images and videos (see module doc)."""
    p = Path(path)
    if p.suffix.lower() in (".mp4", ".mkv", ".avi", ".mov"):
        return p.name in HELD_OUT_VIDEOS
    try:
        names = _folder_images(str(p.resolve().parent))
    except OSError:
        return False
    return p.name in names and names.index(p.name) % HOLD_OUT_EVERY == 0


def plate_images(held_out: bool, root: Path | None = None) -> list[Path]:
    """Plate photos of the training (``held_out=False``) or evaluation split."""
    root = root or data_root()
    out = []
    for region in ("eu", "br"):
        folder = root / "plates" / region
        if folder.is_dir():
            out += [folder / n for n in _folder_images(str(folder.resolve())) if is_held_out(folder / n) == held_out]
    return out


def videos(held_out: bool, root: Path | None = None) -> list[Path]:
    """Video clips of the training or evaluation split."""
    folder = (root or data_root()) / "video"
    return sorted(p for p in folder.glob("*.mp4") if is_held_out(p) == held_out) if folder.is_dir() else []


def plate_box(image: Path) -> tuple[int, int, int, int, str] | None:
    """(x, y, w, h, text) from the label file next to a plate photo."""
    label = image.with_suffix(".txt")
    if not label.is_file():
        return None
    parts = label.read_text(encoding="utf-8").strip().split("\t")
    if len(parts) < 5:
        parts = label.read_text(encoding="utf-8").split()
    x, y, w, h = (int(v) for v in parts[1:5])
    return x, y, w, h, " ".join(parts[5:])
