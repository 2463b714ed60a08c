"""Benchmark: passthrough pipeline (Ray + ZeroMQ) against a bare PyAV decode loop.

    python tools/bench_pipeline.py [--repeats 3] [--json]

Both decode the bundled clip to BGR arrays. The pipeline runs offline (no drops) with
``model: none``; a subscriber in this process receives every frame over loopback ZeroMQ.
Reports frames/s of each (median of repeats), their ratio, and the pipeline's per-frame
overhead (its time per frame minus the bare decode's).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines import bench  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--port", type=int, default=5599)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = bench.passthrough(args.repeats, args.port, log=lambda s: None if args.json else print(s))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"video {result['video']}: {result['frames']} frames, median of {args.repeats} runs")
        print(f"  bare PyAV decode      {result['bare_decode_fps']:8.1f} frames/s")
        print(f"  Ray + ZeroMQ pipeline {result['pipeline_fps']:8.1f} frames/s  (ratio {result['ratio']:.2f})")
        print(f"  overhead              {result['overhead_ms_per_frame']:8.2f} ms/frame, frames lost {result['frames_lost']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
