"""Training clips synthesized on the fly from sharp real content (plate photos, video frames)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from streamdeblur.synth import SynthClip, SynthParams, render_clip
from streamdeblur.train.splits import plate_box, plate_images, videos


@dataclass
class Source:
    image: np.ndarray
    box: tuple[int, int, int, int] | None
    """Plate box (x, y, w, h), to centre some crops on plates."""


def load_sources(held_out: bool = False, video_stride: int = 6, max_side: int = 1000) -> list[Source]:
    """Sharp images of one split: plate photos and every ``video_stride``-th video frame."""
    from streamdeblur.io.reader import read_frames

    out: list[Source] = []
    for path in plate_images(held_out):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            continue
        box = plate_box(path)
        s = min(1.0, max_side / max(img.shape[:2]))
        if s < 1.0:
            img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        out.append(Source(img, None if box is None else tuple(int(round(v * s)) for v in box[:4])))
    for path in videos(held_out):
        for frame in read_frames(str(path), path.stem):
            if frame.seq % video_stride == 0:
                out.append(Source(frame.image, None))
    return out


def sample_clip(src: Source, rng: np.random.Generator, crop: int, n_frames: int, params: SynthParams | None = None,
                plate_bias: float = 0.5, plate_width: tuple[float, float] | None = None,
                adjust: Callable[[SynthParams], SynthParams] | None = None,
                ) -> tuple[SynthClip, tuple[int, int, int, int] | None]:
    """One random clip: rescale the source, choose a crop window (around the plate with
    probability ``plate_bias``), render ``n_frames`` with a random degradation. Also returns
    the plate's box (x0, y0, x1, y1) in the centre frame when it is fully inside.

    ``plate_width`` (lo, hi): scale a plate photo so the plate is a random width in this
    range (pixels) instead of a random 0.3-1.0 of the photo. ``adjust``: applied to the
    degradation after it is drawn (the random stream is unchanged: ``tools/degradation_budget.py``)."""
    img = src.image
    lo = 0.3 if src.box is not None else 0.6
    s = rng.uniform(lo, 1.0)
    if plate_width is not None and src.box is not None:
        s = min(1.0, rng.uniform(*plate_width) / max(1, src.box[2]))
    s = max(s, (crop + 16) / min(img.shape[:2]))
    scaled = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else img
    s = scaled.shape[1] / img.shape[1]
    h, w = scaled.shape[:2]
    if src.box is not None and rng.random() < plate_bias:
        x, y, bw, bh = (v * s for v in src.box)
        cx, cy = x + bw / 2 + rng.uniform(-0.3, 0.3) * crop, y + bh / 2 + rng.uniform(-0.3, 0.3) * crop
    else:
        cx, cy = rng.uniform(crop / 2, max(crop / 2 + 1, w - crop / 2)), rng.uniform(crop / 2, max(crop / 2 + 1, h - crop / 2))
    cx = float(np.clip(cx, crop / 2, w - crop / 2))
    cy = float(np.clip(cy, crop / 2, h - crop / 2))
    flip = rng.random() < 0.5
    if flip:
        scaled = scaled[:, ::-1].copy()
        cx = w - cx
    base = np.array([[1, 0, crop / 2 - cx], [0, 1, crop / 2 - cy]], dtype=np.float64)
    params = params or SynthParams.random(rng)
    clip = render_clip(scaled, (crop, crop), base, n_frames, rng, adjust(params) if adjust else params)
    box = None
    if src.box is not None:
        x, y, bw, bh = (v * s for v in src.box)
        if flip:
            x = w - x - bw
        x0, y0 = x + base[0, 2], y + base[1, 2]
        if x0 >= 0 and y0 >= 0 and x0 + bw <= crop and y0 + bh <= crop:
            box = (int(x0), int(y0), int(np.ceil(x0 + bw)), int(np.ceil(y0 + bh)))
    return clip, box


def to_tensor(frames: list[np.ndarray]) -> torch.Tensor:
    """list of HxWx3 uint8 -> Tx3xHxW float in [0, 1] (channel order kept: BGR)."""
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def clip_tensors(blurred, sharp, flow) -> dict[str, torch.Tensor]:
    """One training item: T blurred and T sharp HxWx3 uint8 frames and T-1 HxWx2 flows ->
    ``blurred``/``sharp`` Tx3xHxW in [0, 1] and ``flow`` (T-1)x2xHxW float32."""
    flows = np.asarray(np.stack(flow), dtype=np.float32)
    return {"blurred": to_tensor(blurred), "sharp": to_tensor(sharp), "flow": torch.from_numpy(flows).permute(0, 3, 1, 2)}


class ClipDataset(torch.utils.data.IterableDataset):
    """Endless random clips: ``blurred`` Tx3xSxS, ``sharp`` Tx3xSxS, ``flow`` (T-1)x2xSxS."""

    def __init__(self, crop: int = 128, n_frames: int = 5, seed: int = 0, held_out: bool = False,
                 plate_clips: float = 0.0, plate_width: tuple[float, float] = (64.0, 192.0)) -> None:
        """``plate_clips``: share of clips centred on a plate photo's plate, scaled to a width
        in ``plate_width`` px (what a plate cache holds, ``train.cache``)."""
        self.crop, self.n_frames, self.seed, self.held_out = crop, n_frames, seed, held_out
        self.plate_clips, self.plate_width = plate_clips, plate_width
        self._sources: list[Source] | None = None

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        rng = np.random.default_rng([self.seed, wid])
        if self._sources is None:
            self._sources = load_sources(self.held_out)
        plates = [s for s in self._sources if s.box is not None]
        while True:
            if plates and self.plate_clips and rng.random() < self.plate_clips:
                src = plates[rng.integers(len(plates))]
                clip, _ = sample_clip(src, rng, self.crop, self.n_frames, plate_bias=1.0, plate_width=self.plate_width)
            else:
                src = self._sources[rng.integers(len(self._sources))]
                clip, _ = sample_clip(src, rng, self.crop, self.n_frames)
            yield clip_tensors(clip.blurred, clip.sharp, clip.flow)


def fixed_clips(sources: list[Source], count: int, crop: int, n_frames: int, seed: int, params: SynthParams | None = None) -> list[dict]:
    """A reproducible list of clips (validation / evaluation)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        src = sources[i % len(sources)]
        clip, _ = sample_clip(src, rng, crop, n_frames, params)
        out.append(clip_tensors(clip.blurred, clip.sharp, clip.flow))
    return out
