#!/usr/bin/env python
"""What the YUV <-> BGR conversions do to a picture: swscale's defaults (PyAV's plain
``to_ndarray`` / ``from_ndarray``) against ``streamdeblur.io.pixels``' exact ones.

    python tools/colour_conversions.py [--frames 8] [--sizes 640x360 1920x1080]

For frames of the bundled clip scaled to each size: per-channel mean error (B, G, R levels)
and RMSE of an encode to yuv420p and of a decode back to BGR, each measured against the other
step done exactly, and the milliseconds per frame of each (median of the frames).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.bench import DEMO_CLIP  # noqa: E402
from streamdeblur.io import pixels  # noqa: E402
from streamdeblur.io.reader import first_frames  # noqa: E402


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t0) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--sizes", nargs="+", default=["640x360", "1920x1080"])
    ap.add_argument("--clip", default=str(DEMO_CLIP))
    args = ap.parse_args()
    originals = first_frames(args.clip, args.frames)
    print(f"{len(originals)} frames of {args.clip}")
    print(f"{'size':>10} {'step':>7} {'conversion':>10} {'mean error B/G/R':>22} {'rmse':>6} {'ms':>6}")
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        images = [cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA) for img in originals]
        rows: dict[tuple[str, str], list] = {}
        for img in images:
            plain = av.VideoFrame.from_ndarray(img, format="bgr24")
            exact_yuv = pixels.from_bgr(img)
            steps = {
                ("encode", "default"): lambda: plain.reformat(format="yuv420p"),
                ("encode", "exact"): lambda: pixels.from_bgr(img),
                ("decode", "default"): lambda: exact_yuv.to_ndarray(format="bgr24"),
                ("decode", "exact"): lambda: pixels.to_bgr(exact_yuv),
            }
            for (step, kind), fn in steps.items():
                out, ms = _timed(fn)
                back = pixels.to_bgr(out) if step == "encode" else out
                err = back.astype(np.float64) - img
                rows.setdefault((step, kind), []).append((err.mean(axis=(0, 1)), float(np.sqrt((err**2).mean())), ms))
        for (step, kind), vals in rows.items():
            bias = np.mean([v[0] for v in vals], axis=0)
            rmse = statistics.fmean(v[1] for v in vals)
            ms = statistics.median(v[2] for v in vals)
            print(f"{size:>10} {step:>7} {kind:>10} {' / '.join(f'{b:+.2f}' for b in bias):>22} {rmse:6.2f} {ms:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
