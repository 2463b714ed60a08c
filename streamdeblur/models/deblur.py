"""The whole video deblurring network: RAFT flow between consecutive frames + fusion.

Training and the streaming engine share these steps: ``encode`` each frame once,
``pair_flow`` once per consecutive pair (forward flow, computed once; the backward flow is
its inverse), ``chain`` composes consecutive flows for further neighbours, ``restore``
fuses a window and returns the centre frame.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from streamdeblur.models.flow import FlowFeatures, build_flow
from streamdeblur.models.fusion import FusionSpec, build_fusion
from streamdeblur.models.warp import compose, invert, resize_flow


@dataclass
class FrameState:
    """A frame encoded once for every window it takes part in."""

    img: torch.Tensor
    """Bx3xHxW in [0, 1], sides multiples of 8."""
    feat: tuple[torch.Tensor, torch.Tensor]
    """Fusion features, and the features with the half-resolution image appended (warped together)."""
    flow_feat: FlowFeatures | None


def cat_states(states: list[FrameState]) -> FrameState:
    """Batch frame states of the same size."""
    if len(states) == 1:
        return states[0]
    ff = None
    if states[0].flow_feat is not None:
        fs = [s.flow_feat for s in states]
        ff = FlowFeatures(torch.cat([f.fmap for f in fs]), torch.cat([f.hidden for f in fs]), torch.cat([f.context for f in fs]), fs[0].size)
    return FrameState(
        torch.cat([s.img for s in states]),
        (torch.cat([s.feat[0] for s in states]), torch.cat([s.feat[1] for s in states])),
        ff,
    )


def split_state(state: FrameState) -> list[FrameState]:
    """Undo ``cat_states``: one state per batch element."""
    out = []
    for i in range(state.img.shape[0]):
        ff = state.flow_feat
        ffi = None if ff is None else FlowFeatures(ff.fmap[i : i + 1], ff.hidden[i : i + 1], ff.context[i : i + 1], ff.size)
        out.append(FrameState(state.img[i : i + 1], (state.feat[0][i : i + 1], state.feat[1][i : i + 1]), ffi))
    return out


class DeblurNet(nn.Module):
    """Flow + fusion; ``flow_scale`` is the flow's resolution relative to the frame."""

    def __init__(self, flow_arch: str = "raft_small", flow_iters: int = 6, fusion: FusionSpec | None = None, flow_scale: float = 0.5) -> None:
        super().__init__()
        self.flow = build_flow(flow_arch, flow_iters)
        self.fusion = build_fusion(fusion)
        self.flow_scale = flow_scale
        self.flow_max_pixels: int | None = None
        """Cap on the flow input's area (``ModelConfig.flow_max_pixels``; None: no cap)."""

    def config(self) -> dict:
        """Architecture description stored in checkpoints."""
        return {"flow_arch": self.flow.arch, "flow_iters": self.flow.iters, "fusion": asdict(self.fusion.spec)}

    def encode(self, img: torch.Tensor, with_flow: bool = True, flow_grad: bool = True) -> FrameState:
        """``img``: Bx3xHxW in [0, 1] with sides multiples of 8. ``flow_grad=False``: no
        gradients through the flow encoders (cheaper training steps)."""
        ff = None
        if with_flow:
            with torch.set_grad_enabled(flow_grad and torch.is_grad_enabled()):
                h, w = img.shape[-2:]
                size = self.flow_size(h, w)
                small = F.interpolate(img.float(), size=size, mode="bilinear", antialias=True, align_corners=False) if size != (h, w) else img
                ff = self.flow.encode(small.to(img.dtype))
        return FrameState(img, self.fusion.encode(img), ff)

    def flow_size(self, h: int, w: int) -> tuple[int, int]:
        """The flow network's input size for an HxW frame: ``flow_scale`` of it, lower where
        that would exceed ``flow_max_pixels``."""
        scale = self.flow_scale
        if self.flow_max_pixels and h * w * scale**2 > self.flow_max_pixels:
            scale = math.sqrt(self.flow_max_pixels / (h * w))
        return max(8, round(h * scale)), max(8, round(w * scale))

    def pair_flow(self, a: FrameState, b: FrameState, all_iters: bool = False) -> torch.Tensor | list[torch.Tensor]:
        """Flow a->b at the fusion's half resolution (float32, half-resolution pixels)."""
        half = a.feat[0].shape[-2:]
        out = self.flow.flow(a.flow_feat, b.flow_feat, all_iters=all_iters)
        if all_iters:
            return [resize_flow(f, half) for f in out]
        return resize_flow(out, half)

    @staticmethod
    def chain(forward: list[torch.Tensor], centre: int, offsets: list[int]) -> list[torch.Tensor]:
        """Flows centre -> centre+o for each offset, from consecutive forward flows
        (``forward[i]``: i -> i+1); backward steps use the inverse of the forward flow."""
        out = []
        cache: dict[int, torch.Tensor] = {}
        for o in offsets:
            if o in cache:
                out.append(cache[o])
                continue
            step = 1 if o > 0 else -1
            flow = None
            for j in range(centre, centre + o, step):
                f = forward[j] if step > 0 else invert(forward[j - 1])
                flow = f if flow is None else compose(flow, f)
                cache.setdefault(j + step - centre, flow)
            out.append(flow)
        return out

    def restore(self, centre: FrameState, neighbours: list[FrameState], flows: list[torch.Tensor], tile: tuple[int, int] | None = None) -> torch.Tensor:
        """The restored centre frame (Bx3xHxW, not clamped). ``tile``: (size, overlap) in pixels."""
        x, _ = self.fusion.fuse(centre.feat, [n.feat for n in neighbours], [f.to(centre.feat[0].dtype) for f in flows])
        if tile is None or max(centre.img.shape[-2:]) <= tile[0]:
            res = self.fusion.restore(x)
        else:
            from streamdeblur.models.tiling import tiled

            res = tiled(self.fusion.restore, x, tile[0] // 2, tile[1] // 2, scale=2, multiple=4)
        return centre.img + res.to(centre.img.dtype)

    def forward(self, clip: torch.Tensor, centre: int, offsets: list[int], zero_flow: bool = False, flow_grad: bool = True,
                pair_flows: torch.Tensor | None = None, window_flows: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Training / evaluation on a whole clip (BxTx3xHxW in [0, 1]).

        Returns the restored centre frame and, per consecutive pair, the list of RAFT
        iterations' flows (half resolution) for a flow loss. ``pair_flows``
        (Bx(T-1)x2xH/2xW/2): consecutive flows computed earlier (a frozen flow network's),
        used instead of running it. ``window_flows``: the flows centre -> centre+offset
        themselves (Bx2xH/2xW/2 each, e.g. refined ones), used instead of composing any.
        """
        b, t = clip.shape[:2]
        used = sorted({centre, *[centre + o for o in offsets]})
        lo, hi = used[0], used[-1]
        run_flow = not zero_flow and pair_flows is None and window_flows is None
        states = split_batch(self.encode(clip[:, lo : hi + 1].flatten(0, 1), with_flow=run_flow, flow_grad=flow_grad), b, hi - lo + 1)
        pair_iters: list[list[torch.Tensor]] = []
        if window_flows is not None and not zero_flow:
            forward = None
        elif pair_flows is not None and not zero_flow:
            forward = [pair_flows[:, j] for j in range(lo, hi)]
        elif zero_flow:
            half = states[0].feat[0].shape[-2:]
            forward = [clip.new_zeros(b, 2, *half) for _ in range(hi - lo)]
        elif hi > lo:
            a = cat_states(states[:-1])
            nxt = cat_states(states[1:])
            with torch.set_grad_enabled(flow_grad and torch.is_grad_enabled()):
                iters = self.pair_flow(a, nxt, all_iters=True)
            pair_iters = [list(f.split(b)) for f in iters]  # per iteration, per pair
            pair_iters = [[it[p] for it in pair_iters] for p in range(hi - lo)]
            forward = [p[-1] for p in pair_iters]
        else:
            forward = []
        flows = window_flows if forward is None else self.chain(forward, centre - lo, offsets)
        out = self.restore(states[centre - lo], [states[centre - lo + o] for o in offsets], flows)
        return out, pair_iters


def split_batch(state: FrameState, b: int, t: int) -> list[FrameState]:
    """A state of B*T frames (frame-major inside each clip) -> T states of B frames."""
    def pick(x: torch.Tensor, i: int) -> torch.Tensor:
        return x.view(b, t, *x.shape[1:])[:, i]

    out = []
    for i in range(t):
        ff = state.flow_feat
        ffi = None if ff is None else FlowFeatures(pick(ff.fmap, i), pick(ff.hidden, i), pick(ff.context, i), ff.size)
        out.append(FrameState(pick(state.img, i), (pick(state.feat[0], i), pick(state.feat[1], i)), ffi))
    return out


def build_model(flow_arch: str = "raft_small", flow_iters: int = 6, fusion: dict | None = None, flow_scale: float = 0.5) -> DeblurNet:
    """A DeblurNet from a checkpoint's ``config()`` values."""
    return DeblurNet(flow_arch, flow_iters, FusionSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in (fusion or {}).items()}), flow_scale)
