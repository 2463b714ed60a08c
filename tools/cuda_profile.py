#!/usr/bin/env python
"""Where a streamed CUDA frame's time goes (run on a GPU): torch.profiler over 20 frames at
1280x720, k=2, default settings, for fp32 and fp16. Prints frames/s, the GPU's busy time and
the kernels launched per frame, then the costliest operators on the host and on the GPU.

    python tools/cuda_profile.py [--size 1280 720] [--frames 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs=2, default=(1280, 720))
    ap.add_argument("--frames", type=int, default=20)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("cuda_profile: error: needs a CUDA device", file=sys.stderr)
        return 2
    from torch.profiler import ProfilerActivity, profile

    from pipelines.bench import DEMO_CLIP
    from streamdeblur.config import ModelConfig
    from streamdeblur.io.reader import first_frames
    from streamdeblur.models.engine import DeblurEngine

    imgs = first_frames(str(DEMO_CLIP), 8, tuple(args.size))
    for prec in ("fp32", "fp16"):
        eng = DeblurEngine(ModelConfig(device="cuda", precision=prec))
        for i in range(10):
            eng.push("warm", imgs[i % len(imgs)])
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            t = time.perf_counter()
            for i in range(args.frames):
                eng.push("warm", imgs[i % len(imgs)])
            torch.cuda.synchronize()
            dt = time.perf_counter() - t
        ev = prof.key_averages()
        busy = sum(e.self_device_time_total for e in ev) / 1e3 / args.frames
        kernels = sum(e.count for e in ev if e.device_type.name == "CUDA") / args.frames
        print(f"{prec}: {args.frames / dt:.1f} frames/s under the profiler; GPU busy {busy:.1f} ms/frame; "
              f"{kernels:.0f} kernels/frame")
        print(ev.table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=50))
        print(ev.table(sort_by="self_device_time_total", row_limit=8, max_name_column_width=50))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
