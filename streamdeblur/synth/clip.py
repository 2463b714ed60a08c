"""Blurred clips with ground truth, made from one sharp image moved along synthetic paths."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from streamdeblur.synth.codec import h264_roundtrip
from streamdeblur.synth.optics import add_noise, optical_blur, quantise, to_display, to_linear, warp
from streamdeblur.synth.trajectory import Path, compose, invert

QUIET = 1e-6
"""What a parameter is set to instead of 0 to switch its effect off: the random draws it
scales still happen, so every later draw, and every later clip, stays the same."""


@dataclass
class SynthParams:
    """How a clip is degraded. Distances are pixels of the output frame, times are frames.

    Motion blur is the average of ``subframes`` sharp renderings over the exposure, in
    linear light; the sharp ground truth is the rendering at mid-exposure.
    """

    motion_px: float = 4.0
    """Camera drift speed in px/frame, random direction (pan or vehicle speed)."""
    velocity: tuple[float, float] | None = None
    """Fixed drift (vx, vy) in px/frame instead of a random direction of ``motion_px``."""
    shake_px: float = 2.0
    """RMS amplitude of smooth random camera shake (sum of sinusoids, 0.05-0.4 cycles/frame)."""
    rotation_deg: float = 0.5
    """Amplitude of random in-plane rotation (degrees)."""
    zoom: float = 0.005
    """RMS relative scale change (breathing zoom)."""
    objects: int = 0
    """Independently moving patches (cut from the same image) composited over the background."""
    object_motion_px: float = 6.0
    """Speed of the moving objects in px/frame."""
    exposure: float = 0.8
    """Fraction of the frame interval the shutter is open (0-1]."""
    subframes: int = 9
    """Minimum sub-frames per exposure; raised so consecutive sub-frames are <= 1 px apart."""
    gaussian_sigma: float = 0.0
    """Gaussian (soft lens) blur std, pixels."""
    defocus_radius: float = 0.0
    """Defocus disk radius, pixels."""
    noise_sigma: float = 2.0
    """Read noise std, 8-bit units."""
    shot_noise: float = 3.0
    """Shot noise std at full white, 8-bit units (scales with sqrt of brightness)."""
    crf: int | None = 28
    """libx264 constant rate factor of the round trip (no macroblock tree, so that a seed
    pins the bits: ``synth.codec``); None: no compression."""
    gamma: float = 2.2
    """Display gamma undone before averaging (linear light)."""
    strength: float = 1.0
    """Multiplies every blur amplitude (motion, shake, rotation, zoom, Gaussian, defocus)."""
    fps: float = 25.0
    """Frame rate given to the encoder (rate control)."""

    def scaled(self) -> "SynthParams":
        """These parameters with ``strength`` applied (and reset to 1)."""
        s = self.strength
        vel = None if self.velocity is None else (self.velocity[0] * s, self.velocity[1] * s)
        return replace(
            self, motion_px=self.motion_px * s, velocity=vel, shake_px=self.shake_px * s,
            rotation_deg=self.rotation_deg * s, zoom=self.zoom * s, object_motion_px=self.object_motion_px * s,
            gaussian_sigma=self.gaussian_sigma * s, defocus_radius=self.defocus_radius * s, strength=1.0,
        )

    def unblurred(self) -> "SynthParams":
        """These parameters without any blur: a focused camera with a fast shutter. The frames
        still move; noise and H.264 are kept (the exposure is ``QUIET``, not 0)."""
        return replace(self, exposure=QUIET, gaussian_sigma=0.0, defocus_radius=0.0)

    @classmethod
    def random(cls, rng: np.random.Generator) -> "SynthParams":
        """A random degradation from the training distribution (mild to severe)."""
        return cls(
            motion_px=float(rng.choice([0.0, rng.uniform(0, 3), rng.uniform(2, 10)], p=[0.1, 0.4, 0.5])),
            shake_px=float(rng.uniform(0, 4)),
            rotation_deg=float(rng.uniform(0, 1.0)),
            zoom=float(rng.uniform(0, 0.01)),
            objects=int(rng.choice([0, 1, 2], p=[0.4, 0.4, 0.2])),
            object_motion_px=float(rng.uniform(1, 10)),
            exposure=float(rng.uniform(0.4, 1.0)),
            gaussian_sigma=float(rng.choice([0.0, rng.uniform(0.3, 1.2)], p=[0.6, 0.4])),
            defocus_radius=float(rng.choice([0.0, rng.uniform(0.5, 2.0)], p=[0.8, 0.2])),
            noise_sigma=float(rng.uniform(0, 4)),
            shot_noise=float(rng.uniform(0, 6)),
            crf=None if rng.random() < 0.2 else int(rng.integers(18, 33)),
        )


@dataclass
class SynthClip:
    """A synthesized clip and its ground truth."""

    sharp: list[np.ndarray]
    """Sharp mid-exposure frames (HxWx3 uint8 BGR)."""
    blurred: list[np.ndarray]
    """The degraded frames: motion/optical blur, noise, H.264 round trip."""
    transforms: list[np.ndarray]
    """Per frame, the 2x3 affine mapping source-image pixel coordinates to frame coordinates."""
    flow: list[np.ndarray] | None = None
    """flow[i]: HxWx2 float32 (dx, dy) from frame i to frame i+1 (n-1 entries)."""
    objects: list[list[np.ndarray]] = field(default_factory=list)
    """Per moving object, its per-frame 2x3 source->frame affine (for reference)."""


@dataclass
class _Layer:
    """A moving patch: content (float linear), alpha mask and its path."""

    content: np.ndarray
    alpha: np.ndarray
    base: np.ndarray  # patch coords -> reference frame coords
    path: Path

    def affine(self, t: float) -> np.ndarray:
        return compose(self.path.at(t), self.base)


def _objects(src_lin: np.ndarray, size: tuple[int, int], base: np.ndarray, p: SynthParams, t0: float, rng: np.random.Generator) -> list[_Layer]:
    w, h = size
    layers = []
    for _ in range(p.objects):
        ow = int(rng.uniform(0.15, 0.4) * w) + 4
        oh = int(rng.uniform(0.15, 0.4) * h) + 4
        # content: a patch of the source seen through the frame's base transform, elsewhere
        sx = rng.uniform(0, max(1, w - ow))
        sy = rng.uniform(0, max(1, h - oh))
        shift = np.array([[1, 0, -sx], [0, 1, -sy]], dtype=np.float64)
        content = warp(src_lin, compose(shift, base), (ow, oh))
        yy, xx = np.mgrid[0:oh, 0:ow].astype(np.float32)
        r = ((xx - (ow - 1) / 2) / (ow / 2)) ** 2 + ((yy - (oh - 1) / 2) / (oh / 2)) ** 2
        alpha = np.clip((1.0 - r) * 4.0, 0.0, 1.0)  # soft-edged ellipse
        px, py = rng.uniform(0, max(1, w - ow)), rng.uniform(0, max(1, h - oh))
        place = np.array([[1, 0, px], [0, 1, py]], dtype=np.float64)
        path = Path.random(rng, (px + ow / 2, py + oh / 2), t0, p.object_motion_px, p.shake_px * 0.3)
        layers.append(_Layer(content, alpha, place, path))
    return layers


def _render(src_lin: np.ndarray, size: tuple[int, int], base: np.ndarray, path: Path, layers: list[_Layer], t: float) -> np.ndarray:
    """Sharp linear-light rendering at time ``t``."""
    img = warp(src_lin, compose(path.at(t), base), size)
    for layer in layers:
        a = layer.affine(t)
        alpha = warp(layer.alpha, a, size, cv2.BORDER_CONSTANT)[..., None]
        img = img * (1 - alpha) + warp(layer.content, a, size, cv2.BORDER_CONSTANT) * alpha
    return img


def _affine_flow(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Displacement field p -> a @ p - p on a w x h grid."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    fx = a[0, 0] * xx + a[0, 1] * yy + a[0, 2] - xx
    fy = a[1, 0] * xx + a[1, 1] * yy + a[1, 2] - yy
    return np.stack([fx, fy], -1).astype(np.float32)


def _true_flow(size: tuple[int, int], base: np.ndarray, path: Path, layers: list[_Layer], t: float, t1: float) -> np.ndarray:
    """Flow from the sharp frame at ``t`` to the one at ``t1`` (objects on top where visible)."""
    flow = _affine_flow(compose(path.at(t1), invert(path.at(t))), size)
    for layer in layers:
        a0 = layer.affine(t)
        vis = warp(layer.alpha, a0, size, cv2.BORDER_CONSTANT) > 0.5
        obj = _affine_flow(compose(layer.affine(t1), invert(a0)), size)
        flow[vis] = obj[vis]
    return flow


def _offsets(p: SynthParams, n: int) -> np.ndarray:
    """Sub-frame times relative to mid-exposure, in frames."""
    return (np.arange(n) + 0.5) / n * p.exposure - p.exposure / 2


def _subframe_count(p: SynthParams, size: tuple[int, int]) -> int:
    """Enough sub-frames that the content moves at most ~1 px between two of them."""
    w, h = size
    rot = np.deg2rad(p.rotation_deg) * max(w, h) / 2
    speed = math.hypot(*(p.velocity or (p.motion_px, 0.0))) + 2 * np.pi * 0.4 * p.shake_px * 1.5 + rot + p.object_motion_px * (p.objects > 0)
    return int(max(p.subframes, math.ceil(speed * p.exposure) + 1))


def render_clip(
    source: np.ndarray,
    size: tuple[int, int],
    base: np.ndarray,
    n_frames: int,
    rng: np.random.Generator,
    params: SynthParams,
    with_flow: bool = True,
) -> SynthClip:
    """Render ``n_frames`` of ``size`` (w, h) looking at ``source`` through ``base`` (source->frame
    affine at the centre frame), moved along random paths drawn from ``rng``."""
    p = params.scaled()
    w, h = size
    t0 = (n_frames - 1) / 2
    src_lin = to_linear(source, p.gamma)
    path = Path.random(rng, (w / 2, h / 2), t0, p.motion_px, p.shake_px, p.rotation_deg, p.zoom, p.velocity)
    layers = _objects(src_lin, size, base, p, t0, rng)
    offsets = _offsets(p, _subframe_count(p, size))
    sharp, blurred_f = [], []
    for i in range(n_frames):
        sharp.append(quantise(to_display(_render(src_lin, size, base, path, layers, i), p.gamma)))
        acc = np.zeros((h, w, 3), np.float32)
        for dt in offsets:
            acc += _render(src_lin, size, base, path, layers, i + dt)
        lin = optical_blur(acc / len(offsets), p.gaussian_sigma, p.defocus_radius)
        blurred_f.append(quantise(add_noise(to_display(lin, p.gamma), rng, p.noise_sigma, p.shot_noise)))
    blurred = h264_roundtrip(blurred_f, p.crf, fps=p.fps) if p.crf is not None else blurred_f
    transforms = [compose(path.at(i), base) for i in range(n_frames)]
    flow = [_true_flow(size, base, path, layers, i, i + 1) for i in range(n_frames - 1)] if with_flow else None
    objects = [[layer.affine(i) for i in range(n_frames)] for layer in layers]
    return SynthClip(sharp=sharp, blurred=blurred, transforms=transforms, flow=flow, objects=objects)


def synth_clip(sharp: np.ndarray, n_frames: int = 5, *, seed: int = 0, params: SynthParams | None = None) -> SynthClip:
    """A blurred clip of ``n_frames`` made from one sharp BGR uint8 image (same size).

    The middle frame (index ``(n_frames-1)//2`` for odd n) is aligned with the input image;
    ``transforms[i]`` maps input pixel coordinates into frame ``i`` (to locate a plate box).
    """
    if sharp.ndim != 3 or sharp.shape[2] != 3 or sharp.dtype != np.uint8:
        raise ValueError("sharp must be an HxWx3 uint8 image")
    if n_frames < 1:
        raise ValueError("n_frames must be >= 1")
    h, w = sharp.shape[:2]
    rng = np.random.default_rng(seed)
    return render_clip(sharp, (w, h), np.eye(2, 3), n_frames, rng, params or SynthParams())


def blur_frame(frame: np.ndarray, path: Path, t: float, params: SynthParams, rng: np.random.Generator) -> np.ndarray:
    """Blur one frame of real video as if the camera moved along ``path`` during its exposure
    around time ``t``; the frame itself is the mid-exposure image (no H.264 here)."""
    p = params.scaled()
    h, w = frame.shape[:2]
    lin = to_linear(frame, p.gamma)
    ref_inv = invert(path.at(t))
    offsets = _offsets(p, _subframe_count(p, (w, h)))
    acc = np.zeros_like(lin)
    for dt in offsets:
        acc += warp(lin, compose(path.at(t + dt), ref_inv), (w, h))
    lin = optical_blur(acc / len(offsets), p.gaussian_sigma, p.defocus_radius)
    return quantise(add_noise(to_display(lin, p.gamma), rng, p.noise_sigma, p.shot_noise))
