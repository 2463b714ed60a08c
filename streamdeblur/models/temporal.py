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


def fuse_frames(centre: torch.Tensor, neighbours: list[torch.Tensor], flows: list[torch.Tensor], tolerance: float) -> torch.Tensor:
    """``centre``, ``neighbours[i]``: Bx3xHxW restored frames in [0, 1]; ``flows[i]``: flow
    centre -> neighbour i (Bx2xhxw, any resolution: rescaled to the frame's). Computed in
    float32; returns the fused Bx3xHxW frame."""
    c = centre.float()
    if not neighbours:
        return c
    n, b = len(neighbours), c.shape[0]
    # all neighbours in one warp: N*B frames
    warped, valid = warp(torch.cat(neighbours).float(), torch.cat([resize_flow(f.float(), c.shape[-2:]) for f in flows]))
    warped, valid = warped.view(n, b, *warped.shape[1:]), valid.view(n, b, *valid.shape[1:])
    d = (warped - c).square().mean(2)  # N x B x H x W
    d = F.avg_pool2d(d, BOX, 1, BOX // 2, count_include_pad=False)
    w = torch.exp(d.unsqueeze(2) / -(tolerance**2)) * valid
    return (c + (w * warped).sum(0)) / (1 + w.sum(0))
