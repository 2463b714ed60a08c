"""Optical flow: torchvision's RAFT (``raft_small`` / ``raft_large``) with per-frame caching.

The network is built with ``weights=None`` and loaded from our own checkpoints. Instead of
``RAFT.forward`` (which encodes both images of every pair), the submodules are driven so
that each frame is encoded once and reused by the pairs it belongs to, and only the last
iteration's flow is upsampled. The correlation volume and its lookups run in float32 even
under FP16 autocast.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.models.optical_flow import raft_large, raft_small
from torchvision.models.optical_flow._utils import make_coords_grid, upsample_flow

MIN_SIDE = 128
"""RAFT's 4-level correlation pyramid needs feature maps of at least 16 cells (128 px)."""


@dataclass
class FlowFeatures:
    """One frame encoded for RAFT at flow resolution."""

    fmap: torch.Tensor
    hidden: torch.Tensor
    context: torch.Tensor
    size: tuple[int, int]
    """(h, w) of the image before padding."""


class InstanceNorm(torch.nn.Module):
    """``InstanceNorm2d`` without parameters (RAFT's feature encoder has 21), written out on
    the CPU: ATen's instance norm copies the input into a batch norm's layout and back,
    5x slower on channels_last maps (a 32x92x160 map on 2 threads: 0.75 -> 0.15 ms). The
    statistics are computed in float32; elsewhere (CUDA) it is ``F.instance_norm``."""

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return F.instance_norm(x, eps=self.eps)
        d = x.float()
        d = d - d.mean((2, 3), keepdim=True)
        return (d * torch.rsqrt(d.square().mean((2, 3), keepdim=True) + self.eps)).to(x.dtype)


class RaftFlow(torch.nn.Module):
    """RAFT wrapper: ``encode`` frames once, ``flow(a, b)`` for any pair of encoded frames."""

    def __init__(self, arch: str = "raft_small", iters: int = 6) -> None:
        super().__init__()
        builders = {"raft_small": raft_small, "raft_large": raft_large}
        if arch not in builders:
            raise ValueError(f"unknown flow network {arch!r}")
        self.arch = arch
        self.iters = iters
        self.raft = builders[arch](weights=None)
        for name, module in list(self.raft.named_modules()):
            if isinstance(module, torch.nn.InstanceNorm2d) and not module.affine and not module.track_running_stats:
                parent, _, attr = name.rpartition(".")
                setattr(self.raft.get_submodule(parent), attr, InstanceNorm(module.eps))

    def encode(self, img: torch.Tensor) -> FlowFeatures:
        """``img``: Bx3xHxW in [0, 1] (already at flow resolution)."""
        h, w = img.shape[-2:]
        ph, pw = max(MIN_SIDE, -(-h // 8) * 8), max(MIN_SIDE, -(-w // 8) * 8)
        x = F.pad(img, (0, pw - w, 0, ph - h), mode="replicate") if (ph, pw) != (h, w) else img
        x = x * 2.0 - 1.0
        fmap = self.raft.feature_encoder(x)
        ctx = self.raft.context_encoder(x)
        hs = self.raft.update_block.hidden_state_size
        hidden, context = torch.split(ctx, [hs, ctx.shape[1] - hs], dim=1)
        return FlowFeatures(fmap, torch.tanh(hidden), F.relu(context), (h, w))

    def flow(self, a: FlowFeatures, b: FlowFeatures, iters: int | None = None, all_iters: bool = False) -> torch.Tensor | list[torch.Tensor]:
        """Flow a->b at the (unpadded) flow resolution, Bx2xhxw float32.

        ``all_iters``: return every iteration's prediction (training's sequence loss).
        """
        iters = iters or self.iters
        corr = self.raft.corr_block
        with torch.autocast(a.fmap.device.type, enabled=False):
            corr.build_pyramid(a.fmap.float(), b.fmap.float())
        n, _, hf, wf = a.fmap.shape
        coords0 = make_coords_grid(n, hf, wf).to(a.fmap.device)
        coords1 = coords0.clone()
        hidden = a.hidden
        preds = []
        for i in range(iters):
            coords1 = coords1.detach()
            with torch.autocast(a.fmap.device.type, enabled=False):
                corr_feat = corr.index_pyramid(centroids_coords=coords1)
            flow = coords1 - coords0
            hidden, delta = self.raft.update_block(hidden, a.context, corr_feat.to(hidden.dtype), flow.to(hidden.dtype))
            coords1 = coords1 + delta.float()
            if all_iters or i == iters - 1:
                up_mask = None if self.raft.mask_predictor is None else self.raft.mask_predictor(hidden)
                up = upsample_flow(coords1 - coords0, up_mask=None if up_mask is None else up_mask.float())
                preds.append(up[..., : a.size[0], : a.size[1]])
        corr.corr_pyramid = None  # free the volume
        return preds if all_iters else preds[-1]


def build_flow(arch: str = "raft_small", iters: int = 6) -> RaftFlow:
    """The flow network (untrained; load a checkpoint with ``streamdeblur.models.weights``)."""
    return RaftFlow(arch, iters)
