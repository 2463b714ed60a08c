"""Offline re-processing of a recorded file through the engine (``streamdeblur reprocess``)."""

from __future__ import annotations

import collections
import time

from tqdm import tqdm

from streamdeblur.config import ModelConfig


def reprocess(src: str, out: str, cfg: ModelConfig, crf: int = 18, progress: bool = True) -> dict:
    """Restore every frame of ``src`` into ``out``: same frame count, size and timestamps.

    Returns counts and speed. The output appears under its name only when complete.
    """
    from streamdeblur.io.reader import probe, read_frames
    from streamdeblur.io.writer import VideoWriter, check_output
    from streamdeblur.models.base import build_engine

    check_output(out)
    info = probe(src)  # SourceError for a missing or non-video input, before loading the model
    engine = build_engine(cfg)
    waiting: collections.deque = collections.deque()
    writer: VideoWriter | None = None
    n_in = n_out = 0
    bar = tqdm(total=info["frames"], unit="frame", desc="reprocess", disable=not progress, dynamic_ncols=True)
    t0 = time.perf_counter()
    try:
        for frame in read_frames(src, "reprocess"):
            if writer is None:
                writer = VideoWriter(out, frame.width, frame.height, fps=info["fps"] or 25, time_base=frame.time_base, crf=crf)
            waiting.append(frame.pts)
            n_in += 1
            for img in engine.push("reprocess", frame.image):
                writer.write(img, waiting.popleft())
                n_out += 1
                bar.update(1)
        for img in engine.flush("reprocess"):
            writer.write(img, waiting.popleft())
            n_out += 1
            bar.update(1)
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    return {"frames_in": n_in, "frames_out": n_out, "seconds": seconds, "fps": n_out / max(seconds, 1e-9),
            "device": engine.device, "precision": engine.precision, "model": engine.name}
