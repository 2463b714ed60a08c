#!/usr/bin/env python
"""Where a streamed frame's time goes: each part of the deblurring engine timed on real
frames of the bundled clip, after a warm-up (the model's own calls, wrapped with timers).

    python tools/engine_parts.py [--size 640 360] [--window 2] [--flow-iters 4] [--frames 32] [--precision bf16]

Parts: RAFT encoders, RAFT iterations (correlation + GRU updates + upsampling), fusion
encoder, fuse (warps + confidence head), U-Net, flow inversion and composition (the
backward and further neighbours' flows), DIS refinement (``flow_refine``) and the grey frames
it reads, frame fusion (``fuse: frames/both``), frame upload and download; ``other`` is the
rest of the engine.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs=2, default=(640, 360), metavar=("W", "H"))
    ap.add_argument("--window", type=int, default=2)
    ap.add_argument("--flow-iters", type=int, help="RAFT iterations (default: the config's)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    args = ap.parse_args()

    import streamdeblur.models.engine as engine_module
    from pipelines.bench import DEMO_CLIP, default_model
    from streamdeblur.config import ModelConfig
    from streamdeblur.io.reader import first_frames
    from streamdeblur.models import build_engine

    over = {"flow_iters": args.flow_iters} if args.flow_iters else {}
    engine = build_engine(ModelConfig(name=default_model(), window=args.window, threads=args.threads, precision=args.precision, **over))
    spent: dict[str, float] = defaultdict(float)

    def timed(owner: object, attr: str, label: str) -> None:
        fn = getattr(owner, attr)

        @functools.wraps(fn)
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[label] += time.perf_counter() - t

        setattr(owner, attr, wrapper)

    model = engine.model
    for owner, attr, label in ((model.flow, "encode", "RAFT encoders"), (model.flow, "flow", "RAFT iterations"),
                               (model.fusion, "encode", "fusion encoder"), (model.fusion, "fuse", "fuse (warp + confidence)"),
                               (model.fusion, "restore", "U-Net"), (engine_module, "invert", "flow inversion"),
                               (engine_module, "compose", "flow composition"), (engine, "_to_tensor", "frame upload"),
                               (engine_module, "fuse_frames", "frame fusion"), (engine_module, "grey", "grey frames for DIS"),
                               (engine, "_to_host", "download")):
        timed(owner, attr, label)
    if engine._refiner is not None:
        timed(type(engine._refiner), "__call__", "DIS refinement")
    warm = 2 * args.window + 4
    frames = first_frames(str(DEMO_CLIP), warm + args.frames, tuple(args.size))
    for img in frames[:warm]:
        engine.push("warm-up", img)
    spent.clear()
    t0 = time.perf_counter()
    n = sum(len(engine.push("warm-up", img)) for img in frames[warm:])
    total = time.perf_counter() - t0
    print(f"{args.size[0]}x{args.size[1]} k={args.window}, {model.flow.iters} RAFT iterations, {engine.precision}, {args.threads} threads: "
          f"{n / total:.2f} frames/s, {1000 * total / n:.1f} ms/frame")
    for label, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {label:26s} {1000 * s / n:6.1f} ms")
    print(f"  {'other':26s} {1000 * (total - sum(spent.values())) / n:6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
