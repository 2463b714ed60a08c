"""The streaming deblurring engine the runtime drives (see ``streamdeblur.models.base.Engine``).

Per stream (camera) it keeps the encoded frames of the current window and the flow between
consecutive frames, computed once when a frame arrives (the backward flow is its inverse and
further neighbours use composed flows; on the CPU each flow from a frame to a neighbour is then
refined at full resolution, ``streamdeblur.models.refine``). Two stages, each with its own
window (``model.fuse``):
the network restores a frame from its window of encoded frames (``features``: k neighbours,
else the frame alone), then the restored frames of a window are warped to the centre and
averaged (``frames``: k neighbours, else none; ``streamdeblur.models.temporal``). A frame's
output is ready ``delay`` pushes later (the two windows' future frames; 0 in causal mode);
``flush`` restores the rest with the last frame replicated. ``push_batch`` runs the encoders,
the flow and the restoration of several cameras together.
"""

from __future__ import annotations

import copy
import logging
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from streamdeblur.config import ModelConfig
from streamdeblur.errors import ConfigError
from streamdeblur.models.deblur import DeblurNet, FrameState, cat_states, split_state
from streamdeblur.models.refine import FlowRefiner, grey, refine_all, refine_preset
from streamdeblur.models.temporal import fuse_frames
from streamdeblur.models.warp import compose, invert, resize_flow
from streamdeblur.models.weights import load_model

MULTIPLE = 8
log = logging.getLogger(__name__)


def pick_device(device: str) -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("model.device: cuda requested but no CUDA device is available")
    return torch.device(device)


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 arithmetic is native here: a CUDA device that has it, or a CPU with
    AVX512-BF16 or AMX (oneDNN's own test); elsewhere bf16 is emulated, slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a private test: absent from some builds
        return False


def pick_precision(precision: str, device: torch.device) -> str:
    """``auto``: fp16 on CUDA, fp32 on CPU. fp16 needs CUDA; bf16 without native support
    runs, after a warning that it is slower."""
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("model.precision: fp16 needs a CUDA device (use fp32 or bf16 on CPU)")
    if precision == "bf16" and not native_bf16(device):
        log.warning("model.precision: bf16 is emulated on this %s (no native bf16): slower than fp32", device.type)
    return precision


@dataclass
class _Stream:
    shape: tuple[int, int] | None = None
    states: dict[int, FrameState] = field(default_factory=dict)
    forward: dict[int, torch.Tensor] = field(default_factory=dict)
    """i -> flow i -> i+1 (half resolution)."""
    composed: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    """(c, j) -> flow c -> j for non-consecutive or backward pairs, computed once when first
    needed (both windows ask for the same ones)."""
    grey: dict[int, np.ndarray] = field(default_factory=dict)
    """i -> frame i in grey on the host, for the flow refinement (``flow_refine``)."""
    refined: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    """(c, j) -> refined flow c -> j at full resolution; both windows of frame c use it."""
    restored: dict[int, torch.Tensor] = field(default_factory=dict)
    """i -> the network's restoration of frame i (1x3xHxW, padded), kept for the frame window."""
    pushed: int = 0
    restored_upto: int = 0
    """Frames the network has restored."""
    emitted: int = 0


class DeblurEngine:
    """RAFT-aligned multi-frame deblurring of BGR uint8 frames, per stream."""

    def __init__(self, cfg: ModelConfig, model: DeblurNet | None = None) -> None:
        self.cfg = cfg
        self.name = cfg.name
        dev = pick_device(cfg.device)
        self.device = str(dev)
        self.precision = pick_precision(cfg.precision, dev)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        shared = model is not None
        if model is None:
            model, self.meta = load_model(cfg.name, cfg.weights, cfg.flow, cfg.flow_scale)
        else:
            self.meta = {}
        model = self._weights_for(model, shared)
        model.flow_scale = cfg.flow_scale
        model.flow_max_pixels = cfg.flow_max_pixels
        model.flow.iters = cfg.flow_iters
        self.model = model.to(dev).eval()
        self._dev = dev
        # channels_last on every device: oneDNN's CPU convolutions are faster in NHWC too
        # (interleaved A/B at 640x360, k=2, 2 threads: 3.76 vs 3.50 frames/s, outputs within 1/255)
        self.model.to(memory_format=torch.channels_last)
        if cfg.compile:
            mode = None if cfg.compile is True else cfg.compile
            self.model.fusion.restore = torch.compile(self.model.fusion.restore, dynamic=True, mode=mode)
        self._pinned = cfg.pinned_memory and dev.type == "cuda"
        self.k = cfg.window
        self.causal = cfg.causal
        self.k_features = cfg.window if cfg.fuse in ("features", "both") else 0
        """The network's window (neighbours on each side)."""
        self.k_frames = cfg.window if cfg.fuse in ("frames", "both") else 0
        """The restored frames' window."""
        self.refine = refine_preset(cfg.flow_refine, dev) if self.k else "none"
        """DIS preset refining the windows' flows, or ``none``."""
        self._refiner = FlowRefiner(self.refine) if self.refine != "none" else None
        self.delay = cfg.delay
        self.zero_flow = False
        """Evaluation ablation: align nothing (multi-frame without flow)."""
        self._streams: dict[str, _Stream] = {}

    # -- public API ---------------------------------------------------------------------------

    def push(self, stream: str, image: np.ndarray) -> list[np.ndarray]:
        """Add one frame; returns the restored frames now ready (``delay`` frames behind)."""
        return [img for _, img in self.push_batch([(stream, image)])]

    def push_batch(self, items: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        """Add frames of several streams (a stream may repeat: its frames keep their order)."""
        out: list[tuple[str, np.ndarray]] = []
        pending = list(items)
        while pending:
            seen: set[str] = set()
            round_, rest = [], []
            for s, img in pending:
                (rest if s in seen else round_).append((s, img))
                seen.add(s)
            out += self._round(round_)
            pending = rest
        return out

    def flush(self, stream: str) -> list[np.ndarray]:
        """Restore the frames still waiting for future neighbours and forget the stream."""
        st = self._streams.pop(stream, None)
        if st is None:
            return []
        return [img for _, img in self._advance([(stream, st)], flush=True)]

    # -- internals ----------------------------------------------------------------------------

    def _weights_for(self, model: DeblurNet, shared: bool) -> DeblurNet:
        """``model`` with its weights in autocast's dtype (fp16, bf16): the values autocast
        would cast them to on every call, cast once (on the CPU at bf16, 512 -> 305 copies a
        frame, the same output bytes; on CUDA each is a kernel launch). A ``shared`` model
        (passed in by the caller) is copied first, so that engines sharing it at other
        precisions keep theirs."""
        low = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
        if low is None:
            return model
        return (copy.deepcopy(model) if shared else model).to(low)

    def _ctx(self):
        if self.precision == "fp16":
            return torch.autocast(self._dev.type, dtype=torch.float16)
        if self.precision == "bf16":
            return torch.autocast(self._dev.type, dtype=torch.bfloat16)
        return nullcontext()

    def _to_tensor(self, images: list[np.ndarray]) -> torch.Tensor:
        h, w = images[0].shape[:2]
        if self._pinned:  # stacked straight into page-locked memory: the upload runs asynchronously
            host = torch.empty((len(images), h, w, 3), dtype=torch.uint8, pin_memory=True)
            np.stack(images, out=host.numpy())
        else:
            host = torch.from_numpy(np.stack(images))
        x = host.to(self._dev, non_blocking=self._pinned).permute(0, 3, 1, 2).float().div_(255.0)
        ph, pw = -(-h // MULTIPLE) * MULTIPLE, -(-w // MULTIPLE) * MULTIPLE
        if (ph, pw) != (h, w):
            x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
        return x.contiguous(memory_format=torch.channels_last)

    def _round(self, items: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        """One frame per stream at most."""
        out: list[tuple[str, np.ndarray]] = []
        for s, img in items:
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError(f"stream {s!r}: expected an HxWx3 uint8 BGR image, got {img.dtype} {img.shape}")
            st = self._streams.get(s)
            if st is not None and st.shape != img.shape[:2]:
                out += [(s, o) for o in self.flush(s)]  # resolution changed: start over
        groups: dict[tuple[int, int], list[tuple[str, np.ndarray]]] = {}
        for s, img in items:
            groups.setdefault(img.shape[:2], []).append((s, img))
        ready: list[tuple[str, _Stream, int]] = []
        with torch.inference_mode(), self._ctx():
            for shape, group in groups.items():
                batch = split_state(self.model.encode(self._to_tensor([img for _, img in group]), with_flow=self.k > 0 and not self.zero_flow))
                pairs = []
                for (s, _), state in zip(group, batch):
                    st = self._streams.setdefault(s, _Stream(shape=shape))
                    idx = st.pushed
                    st.states[idx] = state
                    if self._refiner is not None:
                        st.grey[idx] = grey(state.img)
                    st.pushed += 1
                    if idx > 0 and self.k > 0:
                        pairs.append((st, idx))
                if pairs and not self.zero_flow:
                    flows = self.model.pair_flow(cat_states([st.states[i - 1] for st, i in pairs]), cat_states([st.states[i] for st, i in pairs]))
                    for (st, i), f in zip(pairs, flows.split(1)):
                        st.forward[i - 1] = f
        out += self._advance([(s, self._streams[s]) for s, _ in items])
        return out

    def _advance(self, streams: list[tuple[str, _Stream]], flush: bool = False) -> list[tuple[str, np.ndarray]]:
        """Run both stages as far as the pushed frames allow (to the end with ``flush``)."""
        final = self.causal or flush  # no future frames to wait for
        first = [(s, st, c) for s, st in streams for c in range(st.restored_upto, st.pushed - (0 if final else self.k_features))]
        self._restore(first)
        ready = []
        for s, st in streams:
            while st.emitted < st.pushed - (0 if final else self.delay):
                ready.append((s, st, st.emitted))
                st.emitted += 1
        return self._fuse(ready)

    def _flow(self, st: _Stream, c: int, j: int, half: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
        """Flow from frame c to frame j: the consecutive forward flow, its inverse backwards,
        and for further frames the flow to j's neighbour composed with one more step."""
        if j == c or self.zero_flow:
            return like.new_zeros(1, 2, *half, dtype=torch.float32)
        if j == c + 1:
            return st.forward[c]
        if (c, j) not in st.composed:
            step = 1 if j > c else -1
            if j == c - 1:
                st.composed[c, j] = invert(st.forward[j])
            else:
                st.composed[c, j] = compose(self._flow(st, c, j - step, half, like), self._flow(st, j - step, j, half, like))
        return st.composed[c, j]

    def _offsets(self, k: int) -> list[int]:
        if self.causal:
            return [-o for o in range(1, k + 1)]
        return [o for o in range(-k, k + 1) if o != 0]

    def _window(self, st: _Stream, c: int, k: int, last: int, like: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """(neighbour index, flow c -> neighbour) of frame c's window of k, the frames past
        ``last`` replaced by the last one (the edge frames are replicated)."""
        half = like.shape[-2] // 2, like.shape[-1] // 2
        out = []
        for o in self._offsets(k):
            j = min(max(c + o, 0), last)
            out.append((j, self._flow(st, c, j, half, like)))
        if self._refiner is None or self.zero_flow:
            return out
        flows = dict(out)  # edge frames replicated: a neighbour may come twice
        todo = [j for j in flows if j != c and (c, j) not in st.refined]
        for j, refined in zip(todo, refine_all(self._refiner, [(st.grey[c], st.grey[j], flows[j]) for j in todo])):
            st.refined[c, j] = refined
        return [(j, st.refined[c, j] if j != c else flow) for j, flow in out]

    def _restore(self, ready: list[tuple[str, _Stream, int]]) -> None:
        """The network's restoration of the given frames (batched by size) into ``restored``."""
        groups: dict[tuple[int, int], list[tuple[_Stream, int]]] = {}
        for _, st, c in ready:
            groups.setdefault(st.shape, []).append((st, c))
        tile = (self.cfg.tile_size, self.cfg.tile_overlap)
        n = len(self._offsets(self.k_features))
        with torch.inference_mode(), self._ctx():
            for members in groups.values():
                centres, neigh, flows = [], [[] for _ in range(n)], [[] for _ in range(n)]
                for st, c in members:
                    centres.append(st.states[c])
                    half = st.states[c].feat[0].shape[-2:]
                    for m, (j, flow) in enumerate(self._window(st, c, self.k_features, st.pushed - 1, st.states[c].img)):
                        neigh[m].append(st.states[j])
                        flows[m].append(resize_flow(flow, half))
                restored = self.model.restore(
                    cat_states(centres), [cat_states(ns) for ns in neigh], [torch.cat(fs) for fs in flows], tile=tile
                )
                # out of place: with compile: reduce-overhead the output lives in a CUDA graph's pool
                restored = restored.clamp(0, 1)
                for (st, c), img in zip(members, restored.split(1)):
                    st.restored[c] = img
                    st.restored_upto = c + 1

    def _fuse(self, ready: list[tuple[str, _Stream, int]]) -> list[tuple[str, np.ndarray]]:
        """The outputs of the given frames, in the given order: each restored frame fused
        with its restored window (``fuse: frames/both``), as BGR uint8 images."""
        if not ready:
            return []
        outs = []
        with torch.inference_mode():
            for _, st, c in ready:
                window = self._window(st, c, self.k_frames, st.restored_upto - 1, st.restored[c])
                fused = fuse_frames(st.restored[c], [st.restored[j] for j, _ in window], [f for _, f in window], self.cfg.fuse_tolerance)
                outs.append(fused.mul(255).round_().to(torch.uint8).permute(0, 2, 3, 1))  # out of place: may be the stored frame
            images = self._to_host(torch.cat(outs)) if len({o.shape for o in outs}) == 1 else [self._to_host(o)[0] for o in outs]
        results = []
        for (s, st, _), img in zip(ready, images):
            h, w = st.shape
            results.append((s, np.ascontiguousarray(img[:h, :w])))
        for _, st, _ in ready:
            self._forget(st)
        return results

    def _to_host(self, x: torch.Tensor) -> np.ndarray:
        """Copy a device tensor to a numpy array (through page-locked memory on CUDA)."""
        if not self._pinned:
            return x.cpu().numpy()
        host = torch.empty(x.shape, dtype=x.dtype, pin_memory=True)
        host.copy_(x, non_blocking=True)
        torch.cuda.current_stream(self._dev).synchronize()
        return host.numpy()

    def _forget(self, st: _Stream) -> None:
        """Drop what no future window needs (each window reaches its k frames back; the
        last frame stays for the next pair's flow)."""
        states_from = min(st.restored_upto - self.k_features, st.pushed - 1)
        restored_from = st.emitted - self.k_frames
        flows_from = min(states_from, restored_from)
        for table, keep_from in ((st.states, states_from), (st.restored, restored_from), (st.forward, flows_from), (st.grey, flows_from)):
            for i in [i for i in table if i < keep_from]:
                del table[i]
        for key in [key for key in st.composed if min(key) < flows_from]:
            del st.composed[key]
        for key in [key for key in st.refined if key[0] < st.emitted]:  # frame c's windows are done
            del st.refined[key]
