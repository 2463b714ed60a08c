#!/usr/bin/env python
"""Where a streamed frame's time goes: each part of the deblurring engine timed on real
frames of the bundled clip, after a warm-up (the model's own calls, wrapped with timers).

    python tools/engine_parts.py [--size 640 360] [--window 2] [--flow-iters 4] [--frames 32] [--precision bf16]
                                 [--rounds 1] [--one-core-too]

Parts: RAFT encoders, RAFT iterations (correlation + GRU updates + upsampling), fusion
encoder, fuse (warps + confidence head), U-Net, flow inversion and composition (the
backward and further neighbours' flows), DIS refinement (``flow_refine``) and the grey frames
it reads, frame fusion (``fuse: frames/both``), frame upload and download; ``other`` is the
rest of the engine. ``--rounds R``: R passes, medians per part; ``--one-core-too``: each round
also runs the engine with its single-threaded DIS calls one at a time
instead of at once on all cores (``streamdeblur.models.cores``), interleaved in one process.
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
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--one-core-too", action="store_true", help="also time one call at a time, interleaved")
    args = ap.parse_args()

    import statistics

    import streamdeblur.models.engine as engine_module
    import streamdeblur.models.refine as refine_module
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
    if engine._refiner is not None:  # a window's DIS calls, at once on all cores by default
        timed(engine_module, "refine_all", "DIS refinement")
    warm = 2 * args.window + 4
    frames = first_frames(str(DEMO_CLIP), warm + args.frames, tuple(args.size))
    variants = {"all cores": refine_module.on_cores, "one at a time": lambda fn, items: [fn(i) for i in items]}
    if not args.one_core_too:
        del variants["one at a time"]
    times: dict[str, dict[str, list[float]]] = {v: defaultdict(list) for v in variants}
    for r in range(args.rounds):
        for name, on_cores in variants.items():
            refine_module.on_cores = on_cores
            stream = f"{name} {r}"
            for img in frames[:warm]:
                engine.push(stream, img)
            spent.clear()
            t0 = time.perf_counter()
            n = sum(len(engine.push(stream, img)) for img in frames[warm:])
            total = time.perf_counter() - t0
            row = times[name]
            row["total"].append(1000 * total / n)
            for label, s in spent.items():
                row[label].append(1000 * s / n)
            row["other"].append(1000 * (total - sum(spent.values())) / n)
            engine.flush(stream)
    med = {v: {label: statistics.median(x) for label, x in row.items()} for v, row in times.items()}
    first = next(iter(med))
    print(f"{args.size[0]}x{args.size[1]} k={args.window}, {model.flow.iters} RAFT iterations, {engine.precision}, {args.threads} threads, "
          f"{args.frames} frames x {args.rounds} round(s), medians:")
    print(f"  {'ms per frame':26s}" + "".join(f" {v:>14s}" for v in med))
    for label in ["total"] + sorted((k for k in med[first] if k not in ("total", "other")), key=lambda k: -med[first][k]) + ["other"]:
        print(f"  {label:26s}" + "".join(f" {m.get(label, 0.0):14.1f}" for m in med.values()))
    print(f"  {'frames/s':26s}" + "".join(f" {1000 / m['total']:14.2f}" for m in med.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
