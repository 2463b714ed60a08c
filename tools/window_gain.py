#!/usr/bin/env python
"""What the window adds, and how much alignment limits it: the model on ``streamdeblur
eval``'s held-out clips as a single frame (k=0) and with a k=2 window aligned by zero flow,
by the flow network and by the clips' true flows (the synthesis ground truth, which no
deployment has: the upper bound of alignment).

    python tools/window_gain.py --clips 16 [--weights FILE] [--json OUT]

PSNR over frames 2-4 and on the plate region of frame 3, as ``streamdeblur eval``; the
windows run through ``DeblurNet.forward`` (the training path), float32 on the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamdeblur.config import ModelConfig  # noqa: E402
from streamdeblur.errors import report  # noqa: E402
from streamdeblur.models.weights import load_model  # noqa: E402
from streamdeblur.train.data import clip_tensors  # noqa: E402
from streamdeblur.train.evaluate import MIDDLE, SCORED, EvalClip, clips_parser, make_clips, plate_region, psnr  # noqa: E402
from streamdeblur.train.loop import half_flows  # noqa: E402

VARIANTS = ("k=0", "k=2 zero flow", "k=2 flow network", "k=2 true flow")


def restore(model, clip: dict[str, torch.Tensor], centre: int, variant: str) -> np.ndarray:
    """The restored frame ``centre`` (HxWx3 uint8) for one variant; ``clip``: the tensors of
    ``clip_tensors``."""
    offsets = [] if variant == "k=0" else [-2, -1, 1, 2]
    pair_flows = half_flows(clip["flow"][None]) if variant == "k=2 true flow" else None
    out, _ = model(clip["blurred"][None], centre, offsets, zero_flow=variant in ("k=0", "k=2 zero flow"), pair_flows=pair_flows)
    return out[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()


def scores(model, clips: list[EvalClip]) -> dict[str, dict[str, float]]:
    """Mean PSNR (all frames scored) and plate PSNR per variant."""
    acc: dict[str, dict[str, list[float]]] = {v: {"psnr": [], "plate_psnr": []} for v in VARIANTS}
    for clip in tqdm(clips, desc="clips", unit="clip", dynamic_ncols=True):
        tensors = clip_tensors(clip.blurred, clip.sharp, clip.flow)
        for v in VARIANTS:
            for c in SCORED:
                out = restore(model, tensors, c, v)
                acc[v]["psnr"].append(psnr(out, clip.sharp[c]))
                plate = plate_region(out, clip) if c == MIDDLE else None
                if plate is not None:
                    acc[v]["plate_psnr"].append(psnr(*plate))
    return {v: {k: round(float(np.mean(x)), 3) for k, x in d.items() if x} for v, d in acc.items()}


def main() -> int:
    ap = clips_parser(__doc__)
    args = ap.parse_args()
    return report("window_gain", lambda: run(args))


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    cfg = ModelConfig()
    model, _ = load_model(cfg.name, args.weights, cfg.flow, cfg.flow_scale)
    model.flow.iters = cfg.flow_iters
    clips = make_clips(args.clips, 256)
    blurred = round(float(np.mean([psnr(c.blurred[i], c.sharp[i]) for c in clips for i in SCORED])), 3)
    with torch.inference_mode():
        result = {"blurred": blurred, "flow_iters": cfg.flow_iters, **scores(model, clips)}
    print(f"blurred input: {blurred:.3f} dB")
    for v in VARIANTS:
        row = result[v]
        print(f"{v:18s} {row['psnr']:.3f} dB ({row['psnr'] - result['k=0']['psnr']:+.3f} vs k=0)  plate {row.get('plate_psnr', float('nan')):.3f} dB")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
