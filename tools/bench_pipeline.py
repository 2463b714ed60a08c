"""Benchmark: passthrough pipeline (Ray + ZeroMQ) against a bare PyAV decode loop.

    python tools/bench_pipeline.py [--video data/car-detection.mp4] [--repeats 3] [--json]

Both decode the same file to BGR arrays. The pipeline runs offline (no drops) with
``model: none``; a subscriber in this process receives every frame over loopback ZeroMQ.
Reports frames/s of each (median of repeats), their ratio, and the pipeline's per-frame
overhead (its time per frame minus the bare decode's).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamdeblur.config import parse_config  # noqa: E402
from streamdeblur.runtime import cluster  # noqa: E402
from streamdeblur.runtime.graph import Pipeline  # noqa: E402
from streamdeblur.transport import Subscriber  # noqa: E402


def bare_decode(video: str) -> tuple[int, float]:
    """Frames and seconds for a single-process decode to BGR arrays."""
    t0 = time.perf_counter()
    n = 0
    with av.open(video) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frame.to_ndarray(format="bgr24")
            n += 1
    return n, time.perf_counter() - t0


def pipeline_pass(video: str, port: int, batch_size: int) -> tuple[int, float]:
    """Frames received by a subscriber and seconds from the first pump to the last frame."""
    endpoint = f"tcp://127.0.0.1:{port}"
    cfg = parse_config(
        {
            "cameras": [{"id": "bench", "url": video, "realtime": False}],
            "output": {"endpoint": "pub+bind:" + endpoint, "send_hwm": 10_000},
            "pipeline": {"batch_size": batch_size, "queue_size": 4 * batch_size},
        },
        "bench",
    )
    pipe = Pipeline(cfg)
    pipe.start()
    sub = Subscriber(endpoint, recv_hwm=100_000)
    time.sleep(0.5)
    received = 0
    last = 0.0
    done = threading.Event()

    def receive() -> None:
        nonlocal received, last
        while True:
            msg = sub.recv(timeout=1.0)
            if msg is None:
                if done.is_set():
                    return
                continue
            received += 1
            last = time.perf_counter()

    rx = threading.Thread(target=receive)
    rx.start()
    t0 = time.perf_counter()
    try:
        pipe.run()
    finally:
        done.set()
        rx.join()
        pipe.close()
        sub.close()
    return received, last - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT / "data" / "car-detection.mp4"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--port", type=int, default=5599)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    bare = [bare_decode(args.video) for _ in range(args.repeats)]
    frames = bare[0][0]
    bare_fps = statistics.median(n / s for n, s in bare)
    started = cluster.connect(parse_config({"cameras": [{"id": "x", "url": args.video}]}).ray)
    try:
        pipeline_pass(args.video, args.port, args.batch_size)  # warm-up: worker processes, imports
        runs = [pipeline_pass(args.video, args.port, args.batch_size) for _ in range(args.repeats)]
    finally:
        cluster.disconnect(started)
    lost = [frames - n for n, _ in runs]
    pipe_fps = statistics.median(n / s for n, s in runs)
    result = {
        "video": Path(args.video).name,
        "frames": frames,
        "bare_decode_fps": round(bare_fps, 1),
        "pipeline_fps": round(pipe_fps, 1),
        "ratio": round(pipe_fps / bare_fps, 3),
        "overhead_ms_per_frame": round(1000 / pipe_fps - 1000 / bare_fps, 2),
        "frames_lost": max(lost),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"video {result['video']}: {frames} frames, median of {args.repeats} runs")
        print(f"  bare PyAV decode     {result['bare_decode_fps']:8.1f} frames/s")
        print(f"  Ray + ZeroMQ pipeline {result['pipeline_fps']:7.1f} frames/s  (ratio {result['ratio']:.2f})")
        print(f"  overhead             {result['overhead_ms_per_frame']:8.2f} ms/frame, frames lost {result['frames_lost']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
