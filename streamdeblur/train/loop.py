"""The training loop: flow pre-training on synthetic pairs, single-frame fusion training, then
joint flow + fusion training on windows. Phases with no steps are skipped.

Resumable (``last.pt`` holds model, optimiser, phase and step), logs JSON lines of losses and
validation scores, shows a progress bar. Schedules are named in ``SCHEDULES``.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from streamdeblur.errors import StreamDeblurError
from streamdeblur.models.deblur import DeblurNet, cat_states, split_batch
from streamdeblur.models.fusion import FusionSpec, grow
from streamdeblur.models.warp import resize_flow
from streamdeblur.models.refine import DIS_PRESETS, FlowRefiner
from streamdeblur.train.cache import (
    CLIP_SIZE, CachedClips, MixedClips, PlateTextClips, add_flows, add_refined_flows, build_cache, refined_flows,
)
from streamdeblur.train.data import ClipDataset, fixed_clips, load_sources
from streamdeblur.train.losses import charbonnier, edge_loss, fft_l1, psnr, sequence_flow_loss


@dataclass
class Schedule:
    flow_steps: int = 600
    fusion_steps: int = 0
    """Single-frame phase: the restoration network alone (k=0, no flow), which is most of the
    gain over the blurred input and a fraction of a joint step's cost."""
    joint_steps: int = 2000
    batch: int = 8
    """Clips per joint step."""
    flow_batch: int = 2
    """Clips per flow step (each gives 4 consecutive pairs)."""
    flow_grad_every: int = 4
    """Joint phase: back-propagate into the flow network every n-th step (RAFT's backward
    pass dominates a CPU step); 1 = always, 0 = never (flow frozen)."""
    crop: int = 128
    val_crop: int | None = None
    """Validation clip size (default: ``crop``)."""
    cache: int = 0
    """Render this many 256x256 clips once into ``<out>/../cache-<n>`` and train on random
    crops of them (``train.cache``); 0 renders every clip on the fly."""
    plate_cache: int = 0
    """With ``cache``: also render this many plate clips (plate photos only, each centred on
    its plate scaled to ``plate_width`` px) into ``<out>/../cache-plates-<n>``; a training
    crop comes from them with probability ``plate_share``. With a non-zero ``--seed`` both
    folder names end in ``-seed<s>``."""
    plate_share: float = 0.5
    sharp_share: float = 0.0
    """With ``cache``: share of every cache's clips rendered without blur, noise and H.264
    only (``build_cache(sharp=...)``; the folder names end in ``-sharp<percent>``)."""
    plate_width: tuple[float, float] = (64.0, 192.0)
    plate_clips: float = 0.0
    """Without ``cache``: share of the clips rendered on the fly around a plate photo's plate
    scaled to ``plate_width`` px (the plate cache's recipe)."""
    flow_cache: int = 1000
    """With ``cache`` and a frozen flow (``flow_grad_every`` 0): the joint phase computes the
    flow network's flows for this many cached clips once and trains on those clips."""
    init: str | None = None
    """Start from this checkpoint's weights (a training ``last.pt`` or shipped weights)."""
    fusion_blocks: tuple[int, int] | None = None
    """Residual blocks of the restoration network at 1/4 and 1/8 (default ``FusionSpec``'s);
    blocks that ``init`` lacks start as the identity (``fusion.grow``)."""
    fine_blocks: int = 0
    """Residual blocks of the restoration network at 1/2 (``FusionSpec.fine_blocks``), grown
    the same way."""
    lr_flow: float = 4e-4
    lr: float = 5e-4
    flow_lr_joint: float = 1e-4
    fft_weight: float = 0.05
    edge_weight: float = 0.0
    """Weight of the Laplacian edge term (``losses.edge_loss``)."""
    text_weight: float = 0.0
    """Joint phase with a ``cache``: weight of the plate-text term (``train.textloss``),
    scored on a second batch of ``text_batch`` crops around the plates of a labelled plate
    cache of ``text_cache`` clips (same seed and plate widths), restored with the same window
    and aligned the same way (refined flows, true flows or the flow network run on them)."""
    text_cache: int = 1000
    text_batch: int = 4
    flow_weight: float = 0.05
    true_flow: bool = False
    """Joint phase and validation: align with the clips' true flows (the synthesis ground
    truth) instead of the flow network's, which is not trained: the fusion learns what
    well-aligned neighbours are worth (``tools/window_gain.py`` scores each flow)."""
    flow_refine: str | None = None
    """With ``cache`` and a frozen flow: a DIS preset (``model.flow_refine``); the joint
    phase and validation align each window with the flows the engine uses, the flow
    network's composed and refined by DIS (``cache.add_refined_flows``), not its raw ones."""
    refine_iters: int = 4
    """With ``flow_refine``: RAFT iterations of the flows DIS starts from, the engine's
    ``model.flow_iters`` when stages 8-10 were trained (4; the engine runs 3 since session 21:
    the refined flows score the same, docs/BENCHMARKS.md "CPU speed")."""
    workers: int = 1
    threads: int = 1
    device: str = "cpu"
    amp: bool = False
    val_every: int = 200
    val_clips: int = 24
    minutes: float | None = None
    """Wall-clock budget for both phases (split in proportion to their steps); None: no limit."""

    @property
    def cached_flows(self) -> bool:
        """The joint phase trains on flows computed once per cached clip (``flow_cache``) by
        the frozen flow network, not on the true flows or the network run every step."""
        return bool(self.cache) and self.flow_grad_every == 0 and self.flow_cache > 0 and not self.true_flow


SCHEDULES = {
    # what ships (see MODEL_CARD.md for what was actually run)
    "cpu-quick": Schedule(flow_steps=600, joint_steps=1500, crop=256, batch=4, flow_batch=2, threads=1, val_clips=16, minutes=62),
    # a couple of hours on 2 CPU cores
    "cpu": Schedule(flow_steps=1500, joint_steps=4000, crop=256, batch=4, flow_batch=2, threads=1, minutes=150),
    # continue cpu-quick on a rendered cache (2 cores): the restoration network on single
    # frames, then on windows with the flow network frozen and its flows cached
    "cpu-cached": Schedule(flow_steps=0, fusion_steps=12000, joint_steps=0, crop=160, val_crop=256, batch=12,
                           flow_grad_every=0, lr=1e-3, threads=2, workers=0, cache=3000, val_clips=16, minutes=48,
                           init="runs/cpu-quick/last.pt"),
    "cpu-cached-joint": Schedule(flow_steps=0, fusion_steps=0, joint_steps=4000, crop=160, val_crop=256, batch=12,
                                 flow_grad_every=0, lr=5e-4, threads=2, workers=0, cache=3000, flow_cache=1000,
                                 val_clips=16, minutes=25, init="runs/cpu-cached/last.pt"),
    # tried, not shipped (MODEL_CARD): continue cpu-cached with the flow network alone on the
    # cached clips' true flows (rendering no longer sets the pace: seven times cpu-quick's
    # flow steps), then the window phase on the new network's cached flows
    "cpu-cached-flow": Schedule(flow_steps=4200, fusion_steps=0, joint_steps=0, crop=256, flow_batch=2, threads=2,
                                workers=0, cache=3000, val_clips=16, val_every=500, minutes=80,
                                init="runs/cpu-cached/last.pt"),
    "cpu-cached-window": Schedule(flow_steps=0, fusion_steps=0, joint_steps=4000, crop=160, val_crop=256, batch=12,
                                  flow_grad_every=0, lr=5e-4, threads=2, workers=0, cache=3000, flow_cache=1000,
                                  val_clips=16, minutes=30, init="runs/cpu-cached-flow/last.pt"),
    # continue cpu-cached with the restoration network on single frames, half of the crops
    # from plate clips at surveillance-like plate widths, plus an edge term (what OCR needs)
    "cpu-plates": Schedule(flow_steps=0, fusion_steps=10000, joint_steps=0, crop=160, val_crop=256, batch=12,
                           flow_grad_every=0, lr=5e-4, edge_weight=0.05, threads=2, workers=0, cache=3000,
                           plate_cache=1500, plate_share=0.5, val_clips=16, val_every=1000, minutes=40,
                           init="runs/cpu-cached/last.pt"),
    # one H100/H200-class GPU with AMP
    "gpu": Schedule(flow_steps=20000, joint_steps=100000, batch=32, flow_batch=16, flow_grad_every=1, crop=256, workers=8, threads=4,
                    device="cuda", amp=True, val_every=2000, val_clips=128, fusion_blocks=(2, 6)),
}
# session 18, the first GPU lent: the shipped stage-9 weights on one H100 (two calls of ~9 min):
# the joint phase with the flow network trained too (every step), AMP, clips rendered on the
# fly by 12 worker processes, half of them around a plate at surveillance widths; the network
# of stage 9, so the CPU speed is unchanged
SCHEDULES["gpu-continue"] = replace(SCHEDULES["gpu"], flow_steps=0, joint_steps=40000, lr=1e-4, flow_lr_joint=2e-5,
                                    plate_clips=0.5, edge_weight=0.05, workers=12, val_every=500, val_clips=64,
                                    minutes=14.5, init="streamdeblur/weights/raft_fusion_small.pt")
# for the next GPU lent (not yet run): stage 10's plate-text term with the flow network trained
# too, on caches rendered once by the device's cores (gpu-continue was data-bound rendering on
# the fly: GPU busy 9%), stage 9's plate share and edge term
SCHEDULES["gpu-text"] = replace(SCHEDULES["gpu-continue"], cache=2000, plate_cache=2000, plate_share=0.9, edge_weight=0.1,
                                text_weight=2e-4, text_cache=1000, text_batch=8, workers=8)
# cpu-plates with a deeper restoration network (blocks (2, 6) instead of (1, 2)): the new
# blocks start as the identity, so training starts from the shipped function
SCHEDULES["cpu-deep"] = replace(SCHEDULES["cpu-plates"], minutes=55, init="runs/cpu-plates/last.pt", fusion_blocks=(2, 6))
# cpu-deep again at half the peak learning rate, 70% of the crops from plate clips
SCHEDULES["cpu-deep-plates"] = replace(SCHEDULES["cpu-deep"], minutes=40, init="runs/cpu-deep/last.pt", lr=2.5e-4, plate_share=0.7)
# cpu-deep-plates' network on windows aligned by the clips' true flows, so that the fusion
# learns to use well-aligned neighbours (stage 6: shipped with cpu-cached-flow's flow network;
# tools/window_gain.py measures what the window gains with each flow)
SCHEDULES["cpu-window-oracle"] = replace(SCHEDULES["cpu-deep-plates"], fusion_steps=0, joint_steps=4000, minutes=25, val_every=500,
                                         init="runs/cpu-deep-plates/last.pt", true_flow=True, flow_cache=0)

# cpu-cached-flow's flow network for another 45 min at a lower peak learning rate, on the
# seed-1 clips (its validation EPE had levelled off at ~1.60 px as the learning rate decayed)
SCHEDULES["cpu-flow-more"] = replace(SCHEDULES["cpu-cached-flow"], flow_steps=2400, minutes=45, lr_flow=1.5e-4,
                                     init="runs/cpu-cached-flow/last.pt")

# stage 6's fusion (trained on true flows) on the flow network's own flows, cached once
# (frozen flow): the confidence head learns where the real flow fails; init is stage 6's
# fusion with cpu-flow-more's flow network (``--export runs/oracle/last.pt --flow-from
# runs/flow-more/last.pt --to runs/stage7-init.pt``)
SCHEDULES["cpu-window-real"] = replace(SCHEDULES["cpu-window-oracle"], true_flow=False, flow_cache=1000, minutes=25,
                                       init="runs/stage7-init.pt")

# stage 7 (session 11): cpu-flow-more's recipe on the stage-6 file (deeper fusion (2, 6), the
# flow network of cpu-cached-flow) that stage 6's export writes to ``init``, 35 min
SCHEDULES["cpu-flow-shipped"] = replace(SCHEDULES["cpu-flow-more"], minutes=35, fusion_blocks=(2, 6),
                                        init="streamdeblur/weights/raft_fusion_small.pt")

# session 15: stage 7's windows on the flows the engine aligns with on the CPU (the flow
# network's, composed, refined by DIS: model.flow_refine fast), not the true flows; fresh
# caches of 1000 + 1000 plate clips (the refined flows are stored for all of them).
# runs/flow-shipped/last.pt holds the same weights as the stage-7 file it was exported to
SCHEDULES["cpu-window-refined"] = replace(SCHEDULES["cpu-window-oracle"], true_flow=False, flow_refine="fast", cache=1000,
                                          plate_cache=1000, flow_cache=1000, lr=2e-4, minutes=35,
                                          init="runs/flow-shipped/last.pt")

# a second cosine cycle of it at half its peak learning rate, on the same clips and flows
SCHEDULES["cpu-window-refined-more"] = replace(SCHEDULES["cpu-window-refined"], lr=1e-4, minutes=25,
                                               init="runs/window-refined/last.pt")

# stage 8 again, 90% of the crops from plate clips and twice the edge term: the windows on
# the refined flows are what raised the plate reads (issue 4); this leans them further on text
SCHEDULES["cpu-window-refined-plates"] = replace(SCHEDULES["cpu-window-refined-more"], plate_share=0.9, edge_weight=0.1,
                                                 minutes=30, init="runs/window-refined-more/last.pt")
# tried instead of -plates-more (not shipped, MODEL_CARD "Stage 9"): 95% plate crops, edge term 0.2
SCHEDULES["cpu-window-refined-text"] = replace(SCHEDULES["cpu-window-refined-plates"], plate_share=0.95, edge_weight=0.2,
                                               minutes=28, init="runs/window-refined-plates/last.pt")
# stage 9 (session 16): -plates, then this second cycle of it at half its peak learning rate
SCHEDULES["cpu-window-refined-plates-more"] = replace(SCHEDULES["cpu-window-refined-plates"], lr=5e-5, minutes=25,
                                                      init="runs/window-refined-plates/last.pt")
# session 17, tried, not shipped (validation 30.083 vs 30.084; MODEL_CARD "Stage 9"): a third
# cycle of it at a quarter of its peak learning rate
SCHEDULES["cpu-window-refined-plates-fine"] = replace(SCHEDULES["cpu-window-refined-plates"], lr=2.5e-5, minutes=25,
                                                      init="runs/window-refined-plates-more/last.pt")
# session 17, tried, not shipped (validation 30.109, held-out no gain; MODEL_CARD "Stage 9"):
# stage 9's second cycle again on fresh clips (run with --seed 4: new caches of 1000 + 1000
# plate clips and their refined flows) instead of the seed-3 clips seen for 4 cycles
SCHEDULES["cpu-window-refined-plates-fresh"] = replace(SCHEDULES["cpu-window-refined-plates-more"],
                                                       init="runs/window-refined-plates-more/last.pt")
# stage 10 (session 19): stage 9's second cycle again with the plate-text term (train.textloss:
# the plate reader's recognizer reads the restored plate as it reads the sharp one) on a
# second batch of 4 plate crops a step, on the seed-3 caches (run with --seed 3), 30 min
SCHEDULES["cpu-window-refined-plates-ocr"] = replace(SCHEDULES["cpu-window-refined-plates-more"], text_weight=2e-4, minutes=30,
                                                     init="runs/window-refined-plates-more/last.pt")

# sessions 23-24, tried and not shipped (MODEL_CARD): stage 10's recipe continued from the
# shipped stage-10 file, with 10% of every cache's clips sharp (no blur; noise and H.264
# kept): stage 10 sharpens plates that were already sharp (plate region 31.03 -> 30.20 dB,
# tools/degradation_budget.py "sharp camera"); this wins back a third of it, costs the blurred
# plates' reads
SCHEDULES["cpu-window-sharp"] = replace(SCHEDULES["cpu-window-refined-plates-ocr"], sharp_share=0.1,
                                        init="streamdeblur/weights/raft_fusion_small.pt")

# session 25: stage 10's recipe from the shipped file on a larger restoration network: two
# residual blocks at 1/2 resolution (where the output's detail comes from) and two more at
# 1/8, all starting as the identity; twice stage 10's learning rate for the new blocks
SCHEDULES["cpu-window-grown"] = replace(SCHEDULES["cpu-window-refined-plates-ocr"], fusion_blocks=(2, 8), fine_blocks=2,
                                        lr=1e-4, minutes=45, init="streamdeblur/weights/raft_fusion_small.pt")

# session 26, stage 11: stage 10's recipe from the shipped file on clips re-rendered with
# exact colour conversions (cache version 2, streamdeblur.io.pixels): stage 10 had learned to
# undo the old conversions' darkening, and brightened correctly converted frames instead
SCHEDULES["cpu-window-colour"] = replace(SCHEDULES["cpu-window-refined-plates-ocr"], lr=1e-4, minutes=40,
                                         init="streamdeblur/weights/raft_fusion_small.pt")

# stage 12, first half: then its flow network on the same clips' true flows (the seed-3 cache
# of 1000 clips, run with --seed 3). On exactly converted frames OpenCV's DIS flow improved 9%
# (held-out EPE 1.741 -> 1.578 px) and RAFT's barely (1.650 -> 1.642); 30 min gave 1.616
SCHEDULES["cpu-flow-colour"] = replace(SCHEDULES["cpu-flow-shipped"], cache=1000, minutes=30,
                                       init="runs/window-colour/last.pt")

# stage 12 (session 27): a second cosine cycle of it at two thirds of its peak learning rate,
# 60 min, on fresh clips (run with --seed 4: a new cache of 1000 clips and their true flows):
# held-out EPE 1.468 px, below DIS's 1.578
SCHEDULES["cpu-flow-colour-more"] = replace(SCHEDULES["cpu-flow-colour"], flow_steps=4000, minutes=60, lr_flow=1e-4,
                                            init="runs/flow-colour/last.pt")

PHASES = ("flow", "fusion", "joint")

MODES = [  # (probability, k, causal): one network for every window
    (0.10, 0, False),
    (0.15, 1, False),
    (0.55, 2, False),
    (0.20, 2, True),
]


def window(k: int, causal: bool, n_frames: int) -> tuple[int, list[int]]:
    """Centre index and neighbour offsets in a clip of ``n_frames``."""
    if causal:
        return n_frames - 1, [-o for o in range(1, k + 1)]
    c = (n_frames - 1) // 2
    return c, [o for o in range(-k, k + 1) if o != 0]


def window_pairs(n_frames: int = 5) -> list[tuple[int, int]]:
    """Every (centre, offset) of the windows of ``MODES``: the flows a refined cache holds."""
    pairs = {(c, o) for _, k, causal in MODES for c, offsets in [window(k, causal, n_frames)] for o in offsets}
    return sorted(pairs)


def _lr(step: int, progress: float, peak: float, warmup: int = 30) -> float:
    """Linear warm-up, then cosine decay over ``progress`` (0-1: steps or time budget used)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def half_flows(flow: torch.Tensor) -> torch.Tensor:
    """Full-resolution consecutive flows (BxTx2xHxW) at the fusion's half resolution, as
    ``DeblurNet.forward`` takes them in ``pair_flows``."""
    b, t, _, h, w = flow.shape
    return resize_flow(flow.flatten(0, 1), (h // 2, w // 2)).view(b, t, 2, h // 2, w // 2)


class Trainer:
    def __init__(self, sched: Schedule, out: Path, seed: int = 0) -> None:
        self.s, self.out, self.seed = sched, out, seed
        if sched.flow_refine is not None and sched.flow_refine not in DIS_PRESETS:
            raise StreamDeblurError(f"flow_refine {sched.flow_refine!r}: choose from {', '.join(DIS_PRESETS)}")
        if sched.flow_refine and not sched.cached_flows:
            # otherwise training would align with other flows than validation and the engine
            raise StreamDeblurError("flow_refine needs a cache, a frozen flow (flow_grad_every 0), flow_cache > 0 and no true_flow")
        if sched.text_weight and not (sched.cache and sched.text_cache > 0 and sched.text_batch > 0):
            raise StreamDeblurError("text_weight needs a cache (its plate clips are a labelled cache) and text_cache, text_batch > 0")
        if sched.text_weight and sched.cached_flows and not sched.flow_refine:
            raise StreamDeblurError("text_weight with a frozen flow needs flow_refine (its plate clips have no cached network flows)")
        resume = (out / "last.pt").is_file()
        if not resume and sched.init and not Path(sched.init).is_file():
            raise StreamDeblurError(f"init checkpoint {sched.init} not found (train the schedule it continues first)")
        out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
        self.device = torch.device(sched.device)
        spec = FusionSpec(blocks=tuple(sched.fusion_blocks or FusionSpec.blocks), fine_blocks=sched.fine_blocks)
        self.model = DeblurNet(fusion=spec, flow_scale=0.5).to(self.device)
        self.phase, self.step = "flow", 0
        self.opt = self._optimiser()
        self.scaler = torch.amp.GradScaler(enabled=sched.amp and self.device.type == "cuda")
        self._refiner = None
        self.pairs = window_pairs()
        """The (centre, offset) pairs whose flows a refined cache holds, in its order."""
        if sched.flow_refine:  # the engine's flows: DIS's refinement of RAFT's
            self._refiner = FlowRefiner(sched.flow_refine)
            self.model.flow.iters = sched.refine_iters
        self._text_loss = self._text_it = None
        if sched.text_weight:
            from streamdeblur.train.textloss import PlateTextLoss

            self._text_loss = PlateTextLoss().to(self.device)
        self.log_path = out / "log.jsonl"
        self.elapsed = 0.0
        if resume:
            self._load(out / "last.pt")
        elif sched.init:
            ck = torch.load(sched.init, map_location=self.device, weights_only=False)
            added = grow(self.model, ck["model"] if "model" in ck else ck["state_dict"])
            print(f"initialised from {sched.init}" + (f" ({added} new residual blocks start as the identity)" if added else ""))

    def _optimiser(self) -> torch.optim.Optimizer:
        if self.phase == "flow":
            groups = [{"params": self.model.flow.parameters(), "lr": self.s.lr_flow, "peak": self.s.lr_flow}]
        elif self.phase == "fusion":
            groups = [{"params": self.model.fusion.parameters(), "lr": self.s.lr, "peak": self.s.lr}]
        else:
            groups = [
                {"params": self.model.flow.parameters(), "lr": self.s.flow_lr_joint, "peak": self.s.flow_lr_joint},
                {"params": self.model.fusion.parameters(), "lr": self.s.lr, "peak": self.s.lr},
            ]
        return torch.optim.AdamW(groups, weight_decay=1e-4)

    def _load(self, path: Path) -> None:
        ck = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(ck["model"])
        self.phase, self.step, self.elapsed = ck["phase"], ck["step"], ck.get("elapsed", 0.0)
        self.opt = self._optimiser()
        self.opt.load_state_dict(ck["opt"])
        print(f"resumed {path}: phase {self.phase}, step {self.step}")

    def save(self) -> None:
        ck = {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "phase": self.phase, "step": self.step,
              "elapsed": self.elapsed, "config": self.model.config(), "schedule": asdict(self.s)}
        tmp = self.out / "last.pt.tmp"
        torch.save(ck, tmp)
        tmp.replace(self.out / "last.pt")

    def log(self, **row) -> None:
        with self.log_path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")

    def _batch(self, it) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in next(it).items()}

    def _flow_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        blurred, flow = b["blurred"], b["flow"]
        n, t = blurred.shape[:2]
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.scaler.is_enabled()):
            states = self.model.encode(blurred.flatten(0, 1))
            per = split_batch(states, n, t)
            preds = self.model.pair_flow(cat_states(per[:-1]), cat_states(per[1:]), all_iters=True)
        target = flow.transpose(0, 1).flatten(0, 1)  # pair-major, like cat_states
        loss, epe = sequence_flow_loss(preds, target)
        return {"loss": loss, "epe": epe}

    def _joint_step(self, b: dict[str, torch.Tensor], rng: random.Random, single: bool = False) -> dict[str, float]:
        """One window per step (``MODES``); ``single``: the centre frame alone, no flow."""
        blurred, sharp, flow = b["blurred"], b["sharp"], b["flow"]
        r, acc = rng.random(), 0.0
        for p, k, causal in MODES:
            acc += p
            if r <= acc:
                break
        if single:
            k, causal = 0, False
        centre, offsets = window(k, causal, blurred.shape[1])
        every = self.s.flow_grad_every
        pair_flows = self.given_flows(flow, b.get("pair_flows"))
        win = None
        if "window_flows" in b:
            win = [b["window_flows"][:, self.pairs.index((centre, o))] for o in offsets]
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.scaler.is_enabled()):
            out, pair_iters = self.model(blurred, centre, offsets, zero_flow=single, flow_grad=every > 0 and self.step % every == 0,
                                         pair_flows=pair_flows, window_flows=win)
        target = sharp[:, centre]
        rec = charbonnier(out.float(), target)
        loss = rec + self.s.fft_weight * fft_l1(out, target)
        if self.s.edge_weight:
            loss = loss + self.s.edge_weight * edge_loss(out, target)
        row = {"rec": rec, "psnr": psnr(out.detach().float(), target)}
        if self._text_it is not None and not single:
            t = self._batch(self._text_it)
            twin = [t["window_flows"][:, self.pairs.index((centre, o))] for o in offsets] if "window_flows" in t else None
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.scaler.is_enabled()):
                tout, _ = self.model(t["blurred"], centre, offsets, flow_grad=False, pair_flows=self.given_flows(t["flow"]), window_flows=twin)
            row["text"] = self._text_loss(tout.float(), t["sharp"][:, centre], t["box"])
            loss = loss + self.s.text_weight * row["text"]
        lo = min([centre, *[centre + o for o in offsets]])
        if pair_iters and pair_iters[0][0].requires_grad:
            fl = [sequence_flow_loss(iters, flow[:, lo + i]) for i, iters in enumerate(pair_iters)]
            floss = sum(f[0] for f in fl) / len(fl)
            loss = loss + self.s.flow_weight * floss
            row["epe"] = sum(f[1] for f in fl) / len(fl)
        elif pair_iters:
            row["epe"] = sum(sequence_flow_loss(iters[-1:], flow[:, lo + i])[1] for i, iters in enumerate(pair_iters)) / len(pair_iters)
        row["loss"] = loss
        return row

    def given_flows(self, flow: torch.Tensor, cached: torch.Tensor | None = None) -> torch.Tensor | None:
        """The consecutive flows the fusion aligns with instead of running the flow network:
        the clips' true flows with ``true_flow``, else the cached ones (None: run it)."""
        return half_flows(flow) if self.s.true_flow else cached

    @torch.no_grad()
    def validate(self, clips: list[dict]) -> dict[str, float]:
        self.model.eval()
        ps, pb, epes = [], [], []
        for i in range(0, len(clips), 8):
            chunk = clips[i : i + 8]
            blurred = torch.stack([c["blurred"] for c in chunk]).to(self.device)
            sharp = torch.stack([c["sharp"] for c in chunk]).to(self.device)
            flow = torch.stack([c["flow"] for c in chunk]).to(self.device)
            centre, offsets = window(2, False, blurred.shape[1])
            win = None
            if self._refiner is not None:
                win = list(refined_flows(self.model, self._refiner, blurred, [(centre, o) for o in offsets]).unbind(1))
            out, pair_iters = self.model(blurred, centre, offsets, pair_flows=self.given_flows(flow), window_flows=win)
            ps.append(psnr(out.float(), sharp[:, centre]).item())
            pb.append(psnr(blurred[:, centre], sharp[:, centre]).item())
            if pair_iters:
                epes.append(np.mean([sequence_flow_loss(it, flow[:, j])[1].item() for j, it in enumerate(pair_iters)]))
        self.model.train()
        row = {"val_psnr": float(np.mean(ps)), "val_psnr_blurred": float(np.mean(pb))}
        return {**row, "val_epe": float(np.mean(epes))} if epes else row

    def _dataset(self, phase: str) -> torch.utils.data.IterableDataset:
        seed = self.seed * 1000 + self.step + PHASES.index(phase) * 7919
        if not self.s.cache:
            return ClipDataset(self.s.crop, 5, seed=seed, plate_clips=self.s.plate_clips, plate_width=self.s.plate_width)
        workers = max(2, self.s.workers)
        # one folder per seed and sharp share: another never overwrites a cache
        suffix = (f"-seed{self.seed}" if self.seed else "") + (f"-sharp{round(self.s.sharp_share * 100)}" if self.s.sharp_share else "")

        def cache(prefix: str, count: int, **kw) -> Path:
            return build_cache(self.out.parent / f"{prefix}{count}{suffix}", count, seed=self.seed, workers=workers,
                               sharp=self.s.sharp_share, **kw)

        roots = [(cache("cache-", self.s.cache), 1.0 - (self.s.plate_share if self.s.plate_cache else 0.0))]
        if self.s.plate_cache:
            roots.append((cache("cache-plates-", self.s.plate_cache, plate_width=self.s.plate_width), self.s.plate_share))
        frozen = phase == "joint" and self.s.cached_flows
        refined = frozen and bool(self.s.flow_refine)
        if frozen:
            tag = str(sum(float(p.detach().double().sum()) for p in self.model.flow.parameters()))  # which flow weights
            for root, _ in roots:
                if refined:
                    add_refined_flows(root, self.model, self.s.flow_cache, self.pairs, self.s.flow_refine, tag=tag)
                else:
                    add_flows(root, self.model, self.s.flow_cache, tag=tag)
        if phase == "joint" and self.s.text_weight:
            text_root = cache("cache-platetext-", self.s.text_cache, plate_width=self.s.plate_width, labels=True)
            if refined:
                add_refined_flows(text_root, self.model, self.s.text_cache, self.pairs, self.s.flow_refine, tag=tag)
            self._text_it = iter(torch.utils.data.DataLoader(PlateTextClips(text_root, self.s.crop, seed=seed, with_refined=refined),
                                                             batch_size=self.s.text_batch))
        parts = [(CachedClips(root, self.s.crop, seed=seed + n, with_pred=frozen and not refined, with_refined=refined), w)
                 for n, (root, w) in enumerate(roots)]
        return parts[0][0] if len(parts) == 1 else MixedClips(parts, seed=seed)

    def run(self) -> None:
        s = self.s
        torch.set_num_threads(s.threads)
        val = fixed_clips(load_sources(held_out=False), s.val_clips, s.val_crop or s.crop, 5, seed=1234)
        rng = random.Random(self.seed + self.step)
        plan = [(p, n) for p, n in zip(PHASES, (s.flow_steps, s.fusion_steps, s.joint_steps)) if n > 0]
        total = sum(n for _, n in plan)
        budget = None if s.minutes is None else s.minutes * 60
        offset = 0
        for phase, steps in plan:
            offset += steps
            if PHASES.index(self.phase) > PHASES.index(phase):
                continue
            if self.phase != phase:
                self.phase, self.step = phase, 0
                self.opt = self._optimiser()
            phase_budget = None if budget is None else budget * offset / total
            phase_start = None if budget is None else budget * (offset - steps) / total
            if self.step >= steps or (phase_budget is not None and self.elapsed >= phase_budget):
                print(f"{phase}: already finished at step {self.step}/{steps} ({self.out / 'last.pt'})")
                continue  # a resumed finished run: no extra step, nothing rebuilt
            loader = torch.utils.data.DataLoader(
                self._dataset(phase),
                batch_size=s.flow_batch if phase == "flow" else s.batch, num_workers=s.workers,
                persistent_workers=False, pin_memory=self.device.type == "cuda",
            )
            it = iter(loader)
            bar = tqdm(total=steps, initial=self.step, desc=phase, unit="step", dynamic_ncols=True)
            try:
                self._steps(phase, steps, phase_budget, phase_start, it, rng, val, bar)
            except KeyboardInterrupt:  # keep the steps done: a re-run resumes from here
                bar.close()
                self.save()
                raise
            bar.close()
            self.save()
            later = [p for p, _ in plan if PHASES.index(p) > PHASES.index(phase)]
            if later:
                self.phase, self.step = later[0], 0
                self.opt = self._optimiser()
                self.save()

    def _steps(self, phase: str, steps: int, phase_budget: float | None, phase_start: float | None, it, rng: random.Random,
               val: list[dict], bar: tqdm) -> None:
        """One phase's steps until ``steps`` or its time budget (validating and saving every
        ``val_every`` steps)."""
        s = self.s
        t_last = time.time()
        while self.step < steps:
            progress = self.step / steps
            if phase_budget is not None:
                progress = max(progress, (self.elapsed - phase_start) / (phase_budget - phase_start))
            for g in self.opt.param_groups:
                g["lr"] = _lr(self.step, progress, g["peak"])
            b = self._batch(it)
            row = self._flow_step(b) if phase == "flow" else self._joint_step(b, rng, single=phase == "fusion")
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(row["loss"]).backward()
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.scaler.step(self.opt)
            self.scaler.update()
            self.step += 1
            now = time.time()
            self.elapsed += now - t_last
            t_last = now
            vals = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in row.items()}
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in vals.items()})
            if self.step % 10 == 0:
                self.log(phase=phase, step=self.step, elapsed=round(self.elapsed, 1), lr=self.opt.param_groups[-1]["lr"], **vals)
            out_of_time = phase_budget is not None and self.elapsed >= phase_budget
            if self.step % s.val_every == 0 or self.step == steps or out_of_time:
                v = self.validate(val)
                self.log(phase=phase, step=self.step, elapsed=round(self.elapsed, 1), **v)
                bar.write(f"{phase} step {self.step}: " + ", ".join(f"{k} {x:.3f}" for k, x in v.items()))
                self.save()
            if out_of_time:
                bar.write(f"{phase}: time budget reached at step {self.step}/{steps}")
                self.log(phase=phase, step=self.step, stopped="time budget", elapsed=round(self.elapsed, 1))
                break


def schedule(name: str, **overrides) -> Schedule:
    """A named schedule with some fields replaced; ``StreamDeblurError`` names a bad value."""
    if name not in SCHEDULES:
        raise StreamDeblurError(f"unknown schedule {name!r} (choose from {', '.join(SCHEDULES)})")
    s = replace(SCHEDULES[name], **{k: v for k, v in overrides.items() if v is not None})
    for field in ("batch", "flow_batch", "threads", "val_clips", "val_every"):
        if getattr(s, field) < 1:
            raise StreamDeblurError(f"{field} must be at least 1, not {getattr(s, field)}")
    for field in ("flow_steps", "fusion_steps", "joint_steps", "workers", "cache"):
        if getattr(s, field) < 0:
            raise StreamDeblurError(f"{field} must not be negative, not {getattr(s, field)}")
    for field in ("crop", "val_crop"):
        v = getattr(s, field)
        if v is not None and (v < 32 or v % 8):
            raise StreamDeblurError(f"{field} {v}: must be a multiple of 8, at least 32")
    if s.cache and s.crop > CLIP_SIZE:
        raise StreamDeblurError(f"crop {s.crop}: larger than the cached clips ({CLIP_SIZE})")
    if not 0.0 <= s.plate_share <= 1.0 or s.plate_cache < 0:
        raise StreamDeblurError(f"plate_share must be in [0, 1] and plate_cache not negative, not {s.plate_share} / {s.plate_cache}")
    if not 0.0 <= s.sharp_share < 1.0:
        raise StreamDeblurError(f"sharp_share must be in [0, 1), not {s.sharp_share}")
    if s.minutes is not None and s.minutes <= 0:
        raise StreamDeblurError(f"minutes must be positive, not {s.minutes}")
    return s
