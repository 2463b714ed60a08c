"""``streamdeblur synth``: realistic blurred versions of sharp footage (same frames, same timing)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from streamdeblur.errors import SourceError
from streamdeblur.synth.clip import SynthParams, blur_frame, synth_clip
from streamdeblur.synth.trajectory import Path as MotionPath

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def synth_video(src: str, out: str, params: SynthParams, seed: int = 0, frames: int = 25, progress: bool = True) -> int:
    """Degrade ``src`` (a video, or an image made into a ``frames``-long clip) into ``out``
    (H.264 at ``params.crf``, the input's timestamps). Returns the number of frames written.

    Each video frame is its own mid-exposure image: the camera follows one smooth random path
    (drift + shake) for the whole video and each frame is blurred by the motion during its
    exposure, so blur changes smoothly from frame to frame as it does on a real camera.
    """
    from streamdeblur.io.reader import probe, read_frames
    from streamdeblur.io.writer import VideoWriter, check_output

    check_output(out)
    crf = params.crf if params.crf is not None else 18
    if Path(src).suffix.lower() in IMAGE_EXTS:
        img = cv2.imread(src, cv2.IMREAD_COLOR)
        if img is None:
            raise SourceError(f"{src}: cannot read image")
        clip = synth_clip(img, frames, seed=seed, params=SynthParams(**{**params.__dict__, "crf": None}))
        with VideoWriter(out, img.shape[1], img.shape[0], fps=params.fps, crf=crf) as w:
            for f in clip.blurred:
                w.write(f)
        return len(clip.blurred)
    info = probe(src)
    rng = np.random.default_rng(seed)
    w_, h_ = int(info["width"]), int(info["height"])
    p = params.scaled()
    path = MotionPath.random(rng, (w_ / 2, h_ / 2), 0.0, p.motion_px, p.shake_px, p.rotation_deg, p.zoom, p.velocity)
    fps = float(info["fps"] or 25)
    writer = VideoWriter(out, w_, h_, fps=fps, time_base=None, crf=crf)
    n = 0
    bar = tqdm(total=info["frames_estimated"], unit="frame", desc="synth", disable=not progress, dynamic_ncols=True)
    try:
        for frame in read_frames(src, "synth"):
            if n == 0 and frame.time_base is not None:
                writer.abort()
                writer = VideoWriter(out, w_, h_, fps=fps, time_base=frame.time_base, crf=crf)
            writer.write(blur_frame(frame.image, path, float(n), params, rng), frame.pts)
            n += 1
            bar.update(1)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
    return n
