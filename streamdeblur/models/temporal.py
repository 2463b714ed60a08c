"""Temporal fusion of restored frames (``model.fuse: frames``).

Each neighbour's restored frame is warped to the centre with the flow and averaged with the
centre's, weighted per pixel by how well the two agree: ``exp(-d / tolerance**2)``, where
``d`` is the squared difference of the colours averaged over a small box. The centre has
weight 1, so where alignment fails (occlusions, wrong flow, samples outside the frame) the
centre's own restoration stays. Neighbours carry different residual blur and noise, so
the average is sharper than any one of them and flickers less between outputs
(docs/BENCHMARKS.md, "Frame fusion").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from streamdeblur.models.warp import resize_flow, warp

BOX = 5
"""Side of the box (pixels) the photometric difference is averaged over."""


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over the (2r+1)x(2r+1) box around each pixel of ``x`` (...xHxW), over the part of
    the box inside the image: ``avg_pool2d(count_include_pad=False)``, as two running sums
    (four 640x360 planes on 2 CPU threads: 9.5 ms against the pooling's 12-15)."""
    h, w = x.shape[-2:]

    def along(t: torch.Tensor, dim: int, n: int) -> torch.Tensor:
        pad = [radius + 1, radius, 0, 0] if dim == -1 else [0, 0, radius + 1, radius]
        s = F.pad(t, pad).cumsum(dim)
        return s.narrow(dim, 2 * radius + 1, n) - s.narrow(dim, 0, n)

    def count(n: int) -> torch.Tensor:
        i = torch.arange(n, device=x.device)
        return (i.clamp(max=n - 1 - radius) - i.clamp(min=radius) + 2 * radius + 1).to(x.dtype)

    return along(along(x, -1, w), -2, h) / (count(h)[:, None] * count(w)[None, :])


def fuse_frames(centre: torch.Tensor, neighbours: list[torch.Tensor], flows: list[torch.Tensor], tolerance: float) -> torch.Tensor:
    """``centre``, ``neighbours[i]``: Bx3xHxW restored frames in [0, 1]; ``flows[i]``: flow
    centre -> neighbour i (Bx2xhxw, any resolution: rescaled to the frame's). Computed in
    float32; returns the fused Bx3xHxW frame."""
    c = centre.float()
    if not neighbours:
        return c
    n, b = len(neighbours), c.shape[0]
    # all neighbours in one warp: N*B frames; plain NCHW from here (the engine's frames are
    # channels_last, and broadcasting a 5-D view of those took a slow path: 25% of this function)
    c = c.contiguous()
    warped, valid = warp(torch.cat(neighbours).float().contiguous(), torch.cat([resize_flow(f.float(), c.shape[-2:]) for f in flows]))
    warped, valid = warped.contiguous().view(n, b, *warped.shape[1:]), valid.view(n, b, *valid.shape[1:])
    d = box_mean((warped - c).square_().mean(2), BOX // 2)  # N x B x H x W
    w = torch.exp_(d.unsqueeze(2).mul_(-1 / tolerance**2)).mul_(valid)
    return (c + (w * warped).sum(0)) / (1 + w.sum(0))
