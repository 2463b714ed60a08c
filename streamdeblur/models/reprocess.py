"""Offline re-processing of a recorded file through the engine (``streamdeblur reprocess``)."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from tqdm import tqdm

from streamdeblur.config import ModelConfig
from streamdeblur.models.base import Engine


def offline_config(cfg: ModelConfig) -> ModelConfig:
    """``cfg`` for re-processing recordings, where quality counts for more than speed:
    ``flow_refine: auto`` refines on CUDA too (on the CPU it does anyway). The shipped
    weights were trained on refined flows; without them the held-out clips lose 0.43 dB
    (docs/MODEL.md), for a few DIS calls per frame on the host's cores."""
    return cfg.model_copy(update={"flow_refine": "fast"}) if cfg.flow_refine == "auto" else cfg


def reprocess(
    src: str,
    out: str,
    cfg: ModelConfig,
    crf: int = 18,
    progress: bool = True,
    *,
    engine: Engine | None = None,
    on_frame: Callable[[int], None] | None = None,
    hwaccel: str | None = None,
) -> dict:
    """Restore every frame of ``src`` into ``out``: same frame count, size and timestamps;
    audio streams copied through unchanged. Undecodable packets are skipped and counted
    (``corrupt``); a truncated file is processed up to where it ends (:func:`short_input`).

    Returns counts and speed. The output appears under its name only when complete.
    The engine is built from :func:`offline_config` of ``cfg``; ``engine`` reuses a loaded
    one instead (several files in a row); ``on_frame(n)`` is called
    with the number of frames written so far. ``hwaccel``: decode on this hardware device
    (``cameras[].hwaccel``; the CPU where it is not there).
    """
    from streamdeblur.io.reader import ReadStats, probe, read_frames
    from streamdeblur.io.writer import VideoWriter, add_audio, check_output, has_audio
    from streamdeblur.models.base import build_engine

    final = check_output(out)
    info = probe(src)  # SourceError for a missing or non-video input, before loading the model
    audio = has_audio(src)
    # with audio, the video goes to a hidden file first, then both into the final name
    target = final.with_name(f".{final.stem}.video{final.suffix}") if audio else final
    engine = engine if engine is not None else build_engine(offline_config(cfg))
    stream = f"reprocess:{src}"
    stats = ReadStats()
    waiting: collections.deque = collections.deque()
    writer: VideoWriter | None = None
    n_in = n_out = 0
    bar = tqdm(total=info["frames_estimated"], unit="frame", desc="reprocess", disable=not progress, dynamic_ncols=True)
    t0 = time.perf_counter()

    def emit(images: list) -> None:
        nonlocal n_out
        for img in images:
            writer.write(img, waiting.popleft())
            n_out += 1
            bar.update(1)
            if on_frame is not None:
                on_frame(n_out)

    try:
        for frame in read_frames(src, "reprocess", stats=stats, hwaccel=hwaccel):
            if writer is None:
                writer = VideoWriter(target, frame.width, frame.height, fps=info["fps"] or 25, time_base=frame.time_base, crf=crf)
            waiting.append(frame.pts)
            n_in += 1
            emit(engine.push(stream, frame.image))
        emit(engine.flush(stream))
        writer.close()
        audio_packets = add_audio(target, src, final) if audio else 0
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        bar.close()
        if audio:
            target.unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    return {"frames_in": n_in, "frames_out": n_out, "frames_expected": info["frames"], "corrupt": stats.corrupt, "audio_packets": audio_packets,
            "seconds": seconds, "fps": n_out / max(seconds, 1e-9),
            "device": engine.device, "precision": engine.precision, "model": engine.name, "decoder": stats.decoder,
            "flow_refine": getattr(engine, "refine", "none")}


def short_input(result: dict) -> str | None:
    """What to tell the user when the input gave fewer frames than its header announces
    (a truncated or damaged recording), else None."""
    expected = result.get("frames_expected")
    if expected and result["frames_in"] < expected:
        return f"the input ended after {result['frames_in']} of the {expected} frames its header announces (truncated or damaged)"
    return None
