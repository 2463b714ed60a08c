#!/usr/bin/env python
"""Where the blurred input's error comes from, and how much of each part the model removes.

``streamdeblur eval``'s held-out clips are rendered again with parts of the degradation
switched off (same seeds, same paths and noise draws: ``sample_clip(adjust=...)``), and
each version is scored before and after the model (default settings):

    python tools/degradation_budget.py --clips 16 [--threads 2] [--weights FILE] [--json OUT]

"no motion blur" shortens the exposure to nothing (the frames still move: the window still
has to be aligned), "no lens blur" drops the Gaussian and defocus blur, "no noise" scales
the sensor noise to 1e-6 (so that the random stream, and every later clip, stays the same),
"no H.264" skips the codec round trip. "sharp camera" has no blur at all, only noise and
H.264 (``SynthParams.unblurred``: what a focused camera with a fast shutter gives; the model
should leave its detail alone), and "H.264 at CRF 38" compresses harder than the training
clips' 18-32. PSNR over frames 2-4, plate region on frame 3, as ``streamdeblur eval``.
docs/BENCHMARKS.md, "What limits the PSNR gain".
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamdeblur.config import ModelConfig  # noqa: E402
from streamdeblur.errors import report  # noqa: E402
from streamdeblur.models.engine import DeblurEngine  # noqa: E402
from streamdeblur.models.weights import load_model  # noqa: E402
from streamdeblur.synth import SynthParams  # noqa: E402
from streamdeblur.synth.clip import QUIET  # noqa: E402
from streamdeblur.train.evaluate import _run_engine, _score, clips_parser, make_clips  # noqa: E402


def _no_motion(p: SynthParams) -> SynthParams:
    return replace(p, exposure=QUIET)


def _no_lens(p: SynthParams) -> SynthParams:
    return replace(p, gaussian_sigma=0.0, defocus_radius=0.0)


def _no_noise(p: SynthParams) -> SynthParams:
    return replace(p, noise_sigma=QUIET, shot_noise=QUIET)


def _no_codec(p: SynthParams) -> SynthParams:
    return replace(p, crf=None)


def _crf38(p: SynthParams) -> SynthParams:
    return p if p.crf is None else replace(p, crf=38)


VERSIONS = {
    "full degradation (eval's clips)": (),
    "no motion blur": (_no_motion,),
    "no lens blur": (_no_lens,),
    "no H.264": (_no_codec,),
    "no noise": (_no_noise,),
    "sharp camera (noise + H.264 only)": (SynthParams.unblurred,),
    "blur only (no noise, no H.264)": (_no_noise, _no_codec),
    "H.264 at CRF 38": (_crf38,),
}


def _chain(fns):
    def adjust(p: SynthParams) -> SynthParams:
        for f in fns:
            p = f(p)
        return p

    return adjust if fns else None


def budget(cfg: ModelConfig, clips: int, size: int = 256) -> dict[str, dict[str, float]]:
    """Input and output PSNR (whole frame, plate region) for each version of the clips."""
    model, _ = load_model(cfg.name, cfg.weights, cfg.flow, cfg.flow_scale)
    engine = DeblurEngine(cfg, model=model)
    out: dict[str, dict[str, float]] = {}
    for name, fns in VERSIONS.items():
        rows: dict[str, list[float]] = {}
        for clip in tqdm(make_clips(clips, size, adjust=_chain(fns)), desc=name[:28], unit="clip", dynamic_ncols=True):
            for side, frames in (("input", clip.blurred), ("model", _run_engine(engine, clip.blurred)[0])):
                for k, v in _score(frames, clip).items():
                    if k in ("psnr", "plate_psnr"):
                        rows.setdefault(f"{side}_{k}", []).append(v)
        out[name] = {k: round(float(np.mean(v)), 3) for k, v in rows.items()}
    return out


def run(a: argparse.Namespace) -> int:
    torch.set_num_threads(a.threads)
    cfg = ModelConfig(weights=a.weights, threads=a.threads)
    r = budget(cfg, a.clips)
    print(f"{'version':34s} {'input dB':>9s} {'model dB':>9s} {'gain':>6s} {'plate in':>9s} {'plate out':>9s}")
    for name, m in r.items():
        print(f"{name:34s} {m['input_psnr']:9.3f} {m['model_psnr']:9.3f} {m['model_psnr'] - m['input_psnr']:+6.2f} "
              f"{m['input_plate_psnr']:9.3f} {m['model_plate_psnr']:9.3f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"clips_per_kind": a.clips, "threads": a.threads, "versions": r}, indent=1))
    return 0


def main() -> int:
    ap = clips_parser(__doc__)
    args = ap.parse_args()
    return report("degradation_budget", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
