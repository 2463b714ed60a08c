"""A demo camera with readable plates: real plate photos driven past a shaky camera.

The bundled car-park clip is filmed from above and shows no readable plate, so the OCR
demo needs footage that does. Each held-out plate photo (``streamdeblur.train.splits``)
is scaled so its plate is ``plate_width`` px wide and filmed for ``seconds`` by a camera
that drifts and shakes, with motion blur, noise and H.264 from :mod:`streamdeblur.synth`.
"""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

import cv2
import numpy as np

from streamdeblur.errors import StreamDeblurError
from streamdeblur.ocr.evaluate import load_labels


def make_demo_clip(
    out: str | Path,
    plates_dirs: list[str | Path],
    *,
    count: int = 6,
    seconds: float = 6.0,
    fps: float = 10.0,
    size: tuple[int, int] = (512, 288),
    plate_width: int = 128,
    strength: float = 1.0,
    seed: int = 0,
    held_out_only: bool = True,
    progress: bool = True,
) -> Path:
    """Write an H.264 mp4 showing ``count`` plates in turn; returns its path."""
    from tqdm import tqdm

    from streamdeblur.io.writer import VideoWriter
    from streamdeblur.synth import SynthParams, render_clip

    labels = []
    for folder in plates_dirs:
        found, _ = load_labels(folder)
        if held_out_only:
            from streamdeblur.train.splits import is_held_out

            found = [lb for lb in found if is_held_out(lb.image)]
        labels.append(found)
    # alternate between folders (e.g. br, eu) so the clip shows each kind
    w, h = size
    fits = [[(lb, c) for lb in group if (c := _view_centre(lb, size, plate_width)) is not None] for group in labels]
    picked = [item for group in zip_longest(*fits) for item in group if item is not None][:count]
    if not picked:
        raise StreamDeblurError("no plate photo wide enough around its plate to make a demo clip from")
    n = max(3, round(seconds * fps))
    rng = np.random.default_rng(seed)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(out, w, h, fps=round(fps), crf=23, preset="medium") as writer:
        for label, (cx, cy) in tqdm(picked, desc="demo clip", unit="plate", disable=not progress):
            image = cv2.imread(str(label.image), cv2.IMREAD_COLOR)
            x, y, bw, bh = label.box
            s = plate_width / bw
            scaled = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
            base = np.array([[1.0, 0.0, w / 2 - cx], [0.0, 1.0, h / 2 - cy]])
            speed = 110.0 / n  # drifts ~110 px while in view
            angle = rng.uniform(-0.4, 0.4) + (np.pi if rng.random() < 0.5 else 0.0)
            params = SynthParams(velocity=(speed * np.cos(angle), speed * np.sin(angle)), shake_px=1.5, strength=strength, crf=None, fps=fps)
            clip = render_clip(scaled, (w, h), base, n, rng, params, with_flow=False)
            for frame in clip.blurred:
                writer.write(frame)
    return out


def _view_centre(label, size: tuple[int, int], plate_width: int, margin: tuple[float, float] = (60.0, 16.0)) -> tuple[float, float] | None:
    """Centre of a view on the photo (scaled for ``plate_width``) that shows the plate and
    stays inside the photo with ``margin`` px for the camera's drift; None for close-ups."""
    image = cv2.imread(str(label.image), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    if image is None:
        return None
    x, y, bw, bh = label.box
    s = plate_width / bw
    iw, ih = image.shape[1] * 8 * s, image.shape[0] * 8 * s
    w, h = size
    lo_x, hi_x = w / 2 + margin[0], iw - w / 2 - margin[0]
    lo_y, hi_y = h / 2 + margin[1], ih - h / 2 - margin[1]
    if lo_x > hi_x or lo_y > hi_y:
        return None
    cx = min(max((x + bw / 2) * s, lo_x), hi_x)
    cy = min(max((y + bh / 2) * s, lo_y), hi_y)
    if abs(cx - (x + bw / 2) * s) > w / 2 - plate_width or abs(cy - (y + bh / 2) * s) > h / 2 - 2 * bh * s:
        return None  # the plate would leave the view
    return cx, cy
