"""Exposure integration in linear light, optical blur and sensor noise.

The GoPro / DVD recipe (Nah et al. 2017, Su et al. 2017): a blurred frame is the average of
sharp sub-frames over the exposure, averaged in linear light (the sRGB-like gamma undone),
then gamma-encoded again. Gaussian blur models a soft lens or atmosphere; defocus is a disk
(pillbox) point-spread function. Noise: signal-dependent shot noise plus read noise.
"""

from __future__ import annotations

import cv2
import numpy as np


def to_linear(img: np.ndarray, gamma: float) -> np.ndarray:
    """uint8 display values -> float32 linear light in [0, 1]."""
    return np.power(img.astype(np.float32) / 255.0, gamma)


def to_display(lin: np.ndarray, gamma: float) -> np.ndarray:
    """float32 linear light -> float32 display values in [0, 255] (not rounded)."""
    return np.power(np.clip(lin, 0.0, 1.0), 1.0 / gamma) * 255.0


def warp(src: np.ndarray, affine: np.ndarray, size: tuple[int, int], border: int = cv2.BORDER_REFLECT101) -> np.ndarray:
    """Sample ``src`` so that source point p lands at ``affine @ p`` in an image of ``size`` (w, h)."""
    return cv2.warpAffine(src, affine.astype(np.float64), size, flags=cv2.INTER_LINEAR, borderMode=border)


def disk_kernel(radius: float) -> np.ndarray:
    """Normalised pillbox PSF of the given radius (pixels), anti-aliased at the rim."""
    r = int(np.ceil(radius))
    y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
    k = np.clip(radius + 0.5 - np.sqrt(x * x + y * y), 0.0, 1.0)
    return k / k.sum()


def optical_blur(lin: np.ndarray, gaussian_sigma: float, defocus_radius: float) -> np.ndarray:
    """Apply Gaussian and defocus (disk) blur to a linear-light image."""
    if defocus_radius > 0.25:
        lin = cv2.filter2D(lin, -1, disk_kernel(defocus_radius), borderType=cv2.BORDER_REFLECT101)
    if gaussian_sigma > 0.05:
        lin = cv2.GaussianBlur(lin, (0, 0), gaussian_sigma, borderType=cv2.BORDER_REFLECT101)
    return lin


def add_noise(display: np.ndarray, rng: np.random.Generator, read_sigma: float, shot_sigma: float) -> np.ndarray:
    """Add sensor noise to float display values (0-255).

    ``read_sigma``: constant Gaussian std (8-bit units). ``shot_sigma``: std at full white,
    scaled by the square root of the brightness (Poisson-like, brighter = noisier).
    """
    if read_sigma <= 0 and shot_sigma <= 0:
        return display
    var = read_sigma**2 + shot_sigma**2 * np.clip(display / 255.0, 0.0, 1.0)
    return display + rng.standard_normal(display.shape, dtype=np.float32) * np.sqrt(var).astype(np.float32)


def quantise(display: np.ndarray) -> np.ndarray:
    """float display values -> uint8."""
    return np.clip(np.rint(display), 0, 255).astype(np.uint8)
