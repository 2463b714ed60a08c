"""Overlapping tiles with feathered blending, for frames too large to restore at once."""

from __future__ import annotations

from collections.abc import Callable

import torch


def _starts(n: int, tile: int, step: int) -> list[int]:
    if n <= tile:
        return [0]
    starts = list(range(0, n - tile, step)) + [n - tile]
    return sorted(set(starts))


def tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, overlap: int, scale: int = 1, multiple: int = 1) -> torch.Tensor:
    """Apply ``fn`` (output ``scale`` times the input size) to overlapping tiles of ``x``
    (BxCxHxW) and blend them; ``tile`` and ``overlap`` are in input pixels, tiles are
    multiples of ``multiple``."""
    b, _, h, w = x.shape
    tile = max(multiple, tile // multiple * multiple)
    overlap = min(overlap, tile // 2)
    step = max(multiple, tile - overlap)
    out = None
    norm = torch.zeros(1, 1, h * scale, w * scale, device=x.device)
    ys, xs = _starts(h, tile, step), _starts(w, tile, step)
    band = overlap * scale
    for yi, y0 in enumerate(ys):
        for xi, x0 in enumerate(xs):
            th, tw = min(tile, h - y0), min(tile, w - x0)
            y = fn(x[:, :, y0 : y0 + th, x0 : x0 + tw])
            if out is None:
                out = torch.zeros(b, y.shape[1], h * scale, w * scale, device=x.device, dtype=torch.float32)
            wy = _band(th * scale, band, yi == 0, yi == len(ys) - 1, x.device)
            wx = _band(tw * scale, band, xi == 0, xi == len(xs) - 1, x.device)
            wgt = wy[:, None] * wx[None, :]
            sl = (slice(None), slice(None), slice(y0 * scale, (y0 + th) * scale), slice(x0 * scale, (x0 + tw) * scale))
            out[sl] += y.float() * wgt
            norm[sl] += wgt
    return (out / norm.clamp_min(1e-6)).to(x.dtype)


def _band(n: int, band: int, first: bool, last: bool, device: torch.device) -> torch.Tensor:
    """Blending weight along one side: over each inner overlap of ``band`` pixels, 0 on the
    outer quarter (context only), a linear ramp over the middle half, 1 on the inner quarter;
    the two tiles sharing an overlap get complementary weights."""
    w = torch.ones(n, device=device)
    if band <= 0:
        return w
    q = band // 4
    mid = band - 2 * q
    ramp = torch.cat([
        torch.zeros(q, device=device),
        (torch.arange(mid, device=device, dtype=torch.float32) + 0.5) / mid,
        torch.ones(q, device=device),
    ])
    if not first:
        w[:band] = ramp
    if not last:
        w[-band:] = torch.minimum(w[-band:], ramp.flip(0))
    return w
