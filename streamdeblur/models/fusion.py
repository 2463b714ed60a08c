"""Alignment-weighted multi-frame fusion and the encoder-decoder that restores the centre frame.

Every frame is encoded once (pixel-unshuffle to half resolution + conv) and cached. For a
window, each neighbour's features and half-resolution image are warped to the centre frame
with the flow; a small confidence head looks at the centre, the warped neighbour and their
photometric difference and gives a per-pixel weight in [0, 1] (0 where alignment failed,
e.g. occlusions, or where the sample left the frame). The weighted mean of the centre's and
the neighbours' features (the centre with weight 1) is permutation invariant, so the same
network serves any window (k = 0, 1, 2, ..., causal or not). A 3-level U-Net restores a
residual that is added to the centre frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from streamdeblur.errors import StreamDeblurError
from streamdeblur.models.warp import warp


def _act() -> nn.Module:
    return nn.LeakyReLU(0.1, inplace=True)


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), _act(), nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@dataclass
class FusionSpec:
    feat: int = 16
    """Per-frame feature channels (half resolution)."""
    widths: tuple[int, int, int] = (16, 32, 48)
    """U-Net channels at 1/2, 1/4, 1/8 resolution."""
    blocks: tuple[int, int] = (1, 2)
    """Residual blocks at 1/4 and 1/8."""
    fine_blocks: int = 0
    """Residual blocks at 1/2, at the end of the decoder (the level the output's detail comes
    from)."""
    conf_hidden: int = 8


class FusionNet(nn.Module):
    """Weights neighbours by warp confidence, fuses, restores a residual for the centre frame."""

    MULTIPLE = 8
    """Frame sides must be multiples of this (the engine pads)."""

    def __init__(self, spec: FusionSpec | None = None) -> None:
        super().__init__()
        s = spec or FusionSpec()
        self.spec = s
        c1, c2, c3 = s.widths
        self.encoder = nn.Sequential(nn.Conv2d(12, s.feat, 3, padding=1), _act())
        self.conf = nn.Sequential(nn.Conv2d(2 * s.feat + 3, s.conf_hidden, 1), _act(), nn.Conv2d(s.conf_hidden, 1, 3, padding=1))
        self.inp = nn.Sequential(nn.Conv2d(2 * s.feat + 1, c1, 3, padding=1), _act())
        self.down1 = nn.Sequential(nn.Conv2d(c1, c2, 3, stride=2, padding=1), _act(), *[ResBlock(c2) for _ in range(s.blocks[0])])
        self.down2 = nn.Sequential(nn.Conv2d(c2, c3, 3, stride=2, padding=1), _act(), *[ResBlock(c3) for _ in range(s.blocks[1])])
        self.up2 = nn.Conv2d(c3, c2, 1)
        self.dec2 = ResBlock(c2)
        self.up1 = nn.Conv2d(c2, c1, 1)
        self.dec1 = nn.Sequential(nn.Conv2d(c1, c1, 3, padding=1), _act(), *[ResBlock(c1) for _ in range(s.fine_blocks)])
        self.out = nn.Conv2d(c1, 12, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def encode(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame cache: (features at 1/2 resolution, the same features followed by the
        image average-pooled to 1/2, concatenated once so a warp moves both together). The
        first is a view of the second: a frame's cache is stored once."""
        feat = self.encoder(F.pixel_unshuffle(img, 2))
        both = torch.cat([feat, F.avg_pool2d(img, 2)], 1)
        return both[:, : feat.shape[1]], both

    def fuse(self, centre: tuple[torch.Tensor, torch.Tensor], neighbours: list[tuple[torch.Tensor, torch.Tensor]], flows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """U-Net input (centre features, fused features, weight sum) and the weights (BxNx1xhxw).

        ``flows[i]``: flow centre -> neighbour i at half resolution. All neighbours go through
        the warp and the confidence head as one batch (N*B frames): on the CPU ``grid_sample``
        spreads a batch over the cores, on CUDA it is one launch per operation, not N."""
        feat_c, both_c = centre
        n = len(neighbours)
        if not n:
            zero = torch.zeros_like(feat_c[:, :1])
            return torch.cat([feat_c, feat_c, zero], 1), zero[:, None]
        b, c = feat_c.shape[:2]
        img_c = both_c[:, c:]
        # The confidence head's first (1x1) layer on [centre, warped features, |photometric
        # difference|], split by input: the centre's part once per window, and no
        # concatenated copy per neighbour (it cost as much as the warp on the CPU).
        first, act, last = self.conf
        w_c, w_f, w_d = first.weight.split([c, c, 3], dim=1)
        w_warped = torch.cat([w_f, torch.zeros_like(w_d)], 1)
        warped, valid = warp(torch.cat([both for _, both in neighbours]), torch.cat(flows))  # neighbour-major
        diff = (warped[:, c:].unflatten(0, (n, b)) - img_c).abs().flatten(0, 1)
        hidden = (F.conv2d(warped, w_warped) + F.conv2d(diff, w_d)).unflatten(0, (n, b)) + F.conv2d(feat_c, w_c, first.bias)
        w = (torch.sigmoid(last(act(hidden.flatten(0, 1)))) * valid).unflatten(0, (n, b))  # N x B x 1 x h x w
        den = 1 + w.sum(0)
        fused = (feat_c + (w * warped[:, :c].unflatten(0, (n, b))).sum(0)) / den
        x = torch.cat([feat_c, fused, (den - 1) / n], 1)
        return x, w.transpose(0, 1)

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """U-Net on the fused half-resolution input: the full-resolution residual (Bx3xHxW)."""
        e1 = self.inp(x)
        e2 = self.down1(e1)
        e3 = self.down2(e2)
        d2 = self.dec2(e2 + self.up2(F.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False)))
        d1 = self.dec1(e1 + self.up1(F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False)))
        return F.pixel_shuffle(self.out(d1), 2)


def grow(model: nn.Module, state: dict[str, torch.Tensor]) -> int:
    """Load ``state`` (a model with fewer residual blocks, or the same) into ``model``; each
    residual block that ``state`` lacks starts as the identity (its last convolution zeroed),
    so the grown network computes what the smaller one did. Returns the number of new blocks."""
    own = model.state_dict()
    blocks = {name: m for name, m in model.named_modules() if isinstance(m, ResBlock)}
    missing = [k for k in own if k not in state]
    new = {k.rsplit(".body.", 1)[0] for k in missing}
    stray = [k for k in state if k not in own or state[k].shape != own[k].shape]
    stray += [k for k in missing if k.rsplit(".body.", 1)[0] not in blocks]
    if stray:
        raise StreamDeblurError(f"checkpoint does not fit the network ({len(stray)} tensors differ, e.g. {stray[0]})")
    model.load_state_dict(state, strict=False)
    for name in new:
        nn.init.zeros_(blocks[name].body[2].weight)
        nn.init.zeros_(blocks[name].body[2].bias)
    return len(new)


def build_fusion(spec: FusionSpec | None = None) -> FusionNet:
    """The fusion network with the default (CPU real-time) size."""
    return FusionNet(spec)
