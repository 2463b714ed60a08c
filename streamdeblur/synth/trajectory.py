"""Smooth random motion paths: an affine transform as a function of time (in frames).

A path is a similarity transform about the frame centre, drifting at a constant velocity
plus camera shake made of a few random sinusoids (hand-held or wind-shaken cameras move at
a few Hz, i.e. 0.05-0.4 cycles per frame at 10-25 fps). ``at(t)`` is exactly the identity
transform at the reference time ``t0`` so the centre frame lines up with the source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _shake(rng: np.random.Generator, amplitude: float, n: int = 3) -> np.ndarray:
    """Random sinusoid mixture (rows: amplitude, frequency in cycles/frame, phase) with RMS ``amplitude``."""
    freq = rng.uniform(0.05, 0.4, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    amp = rng.uniform(0.5, 1.0, n)
    amp *= amplitude * np.sqrt(2.0) / np.sqrt(np.sum(amp**2))  # RMS of the sum = amplitude
    return np.stack([amp, freq, phase])


def _eval(sines: np.ndarray, t: float) -> float:
    amp, freq, phase = sines
    return float(np.sum(amp * np.sin(2 * np.pi * freq * t + phase)))


@dataclass
class Path:
    """Affine motion of content over time; ``at(t)`` maps reference coordinates to time-``t`` ones."""

    centre: tuple[float, float]
    velocity: tuple[float, float] = (0.0, 0.0)
    """Drift in pixels per frame."""
    spin: float = 0.0
    """Rotation speed, radians per frame."""
    t0: float = 0.0
    shake_xy: tuple[np.ndarray, np.ndarray] | None = None
    shake_rot: np.ndarray | None = None
    shake_zoom: np.ndarray | None = None

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        centre: tuple[float, float],
        t0: float,
        speed: float,
        shake_px: float,
        rotation_deg: float = 0.0,
        zoom: float = 0.0,
        velocity: tuple[float, float] | None = None,
    ) -> "Path":
        """A path with drift ``speed`` px/frame in a random direction (or ``velocity``) and shake."""
        if velocity is None:
            angle = rng.uniform(0, 2 * np.pi)
            velocity = (speed * np.cos(angle), speed * np.sin(angle))
        rot = np.deg2rad(rotation_deg)
        return cls(
            centre=centre,
            velocity=(float(velocity[0]), float(velocity[1])),
            spin=float(rng.uniform(-1, 1) * rot * 0.5),
            t0=t0,
            shake_xy=(_shake(rng, shake_px), _shake(rng, shake_px)) if shake_px > 0 else None,
            shake_rot=_shake(rng, rot * 0.5) if rot > 0 else None,
            shake_zoom=_shake(rng, zoom) if zoom > 0 else None,
        )

    def params(self, t: float) -> tuple[float, float, float, float]:
        """(dx, dy, angle, scale) at time ``t``, all zero/one at ``t0``."""
        def rel(s: np.ndarray | None) -> float:
            return 0.0 if s is None else _eval(s, t) - _eval(s, self.t0)

        dt = t - self.t0
        dx = self.velocity[0] * dt + (rel(self.shake_xy[0]) if self.shake_xy else 0.0)
        dy = self.velocity[1] * dt + (rel(self.shake_xy[1]) if self.shake_xy else 0.0)
        angle = self.spin * dt + rel(self.shake_rot)
        scale = 1.0 + rel(self.shake_zoom)
        return dx, dy, angle, scale

    def at(self, t: float) -> np.ndarray:
        """2x3 float64 affine mapping reference coordinates to coordinates at time ``t``."""
        dx, dy, angle, scale = self.params(t)
        c, s = scale * np.cos(angle), scale * np.sin(angle)
        cx, cy = self.centre
        lin = np.array([[c, -s], [s, c]])
        off = np.array([cx + dx, cy + dy]) - lin @ np.array([cx, cy])
        return np.hstack([lin, off[:, None]])


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``a o b`` (apply ``b`` first)."""
    a3 = np.vstack([a, [0, 0, 1]])
    b3 = np.vstack([b, [0, 0, 1]])
    return (a3 @ b3)[:2]


def invert(a: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine."""
    return np.linalg.inv(np.vstack([a, [0, 0, 1]]))[:2]
