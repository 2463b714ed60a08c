"""The CUDA path: FP16 engine output matches FP32 (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamdeblur.config import ModelConfig

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none available on this machine)"),
]


def _frames(n: int = 5) -> list[np.ndarray]:
    from streamdeblur.synth import synth_clip

    rng = np.random.default_rng(0)
    import cv2

    img = cv2.GaussianBlur(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8), (0, 0), 2.0)
    return synth_clip(img, n, seed=1).blurred


def _run(cfg: ModelConfig, frames: list[np.ndarray]) -> list[np.ndarray]:
    from streamdeblur.models.engine import DeblurEngine

    eng = DeblurEngine(cfg)
    out = [o for f in frames for o in eng.push("c", f)] + eng.flush("c")
    return out


def test_auto_picks_cuda_fp16_and_matches_fp32() -> None:
    from streamdeblur.models.engine import DeblurEngine

    eng = DeblurEngine(ModelConfig(name="raft-fusion-small"))
    assert eng.device.startswith("cuda") and eng.precision == "fp16"
    frames = _frames()
    half = _run(ModelConfig(name="raft-fusion-small", device="cuda", precision="fp16"), frames)
    full = _run(ModelConfig(name="raft-fusion-small", device="cuda", precision="fp32"), frames)
    assert len(half) == len(full) == len(frames)
    diff = np.abs(half[2].astype(int) - full[2])
    assert diff.mean() < 1.0 and np.percentile(diff, 99.9) <= 8


def test_flow_refinement_on_cuda_matches_the_cpu() -> None:
    """``flow_refine`` is off on CUDA by default (DIS runs on the CPU); asked for, it works
    on CUDA tensors and gives what the CPU gives."""
    from streamdeblur.models.engine import DeblurEngine

    assert DeblurEngine(ModelConfig(name="raft-fusion-small", device="cuda")).refine == "none"
    frames = _frames()
    gpu = _run(ModelConfig(name="raft-fusion-small", device="cuda", precision="fp32", flow_refine="fast"), frames)
    cpu = _run(ModelConfig(name="raft-fusion-small", device="cpu", flow_refine="fast"), frames)
    assert len(gpu) == len(cpu) == len(frames)
    assert np.abs(gpu[2].astype(int) - cpu[2]).mean() < 1.0


def test_reprocess_refines_the_flow_on_cuda_too(tmp_path) -> None:
    """Offline, ``flow_refine: auto`` means ``fast`` on CUDA as well (the weights were trained
    on refined flows); the live default stays ``none``."""
    from streamdeblur.io.writer import VideoWriter
    from streamdeblur.models.reprocess import reprocess

    src = tmp_path / "in.mp4"
    with VideoWriter(src, 640, 360, fps=25) as w:
        for f in _frames():
            w.write(f)
    r = reprocess(str(src), str(tmp_path / "out.mp4"), ModelConfig(name="raft-fusion-small", device="cuda"), progress=False)
    assert (r["frames_out"], r["device"][:4], r["flow_refine"]) == (5, "cuda", "fast")


def test_cuda_tiling_and_batching() -> None:
    from streamdeblur.models.engine import DeblurEngine

    frames = _frames(3)
    eng = DeblurEngine(ModelConfig(name="raft-fusion-small", device="cuda", window=1, tile_size=256, tile_overlap=32))
    out = eng.push_batch([("a", f) for f in frames] + [("b", f) for f in frames])
    out += [("a", o) for o in eng.flush("a")] + [("b", o) for o in eng.flush("b")]
    assert sorted(s for s, _ in out) == ["a"] * 3 + ["b"] * 3
    assert all(o.shape == (360, 640, 3) and o.dtype == np.uint8 for _, o in out)


def _close(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        diff = np.abs(x.astype(int) - y)
        assert diff.mean() < 0.5 and diff.max() <= 8


def test_pinned_and_pageable_copies_agree() -> None:
    """The page-locked, asynchronous copies (the default on CUDA) change no pixel's meaning."""
    frames = _frames()
    pinned = _run(ModelConfig(name="raft-fusion-small", device="cuda", precision="fp32"), frames)
    pageable = _run(ModelConfig(name="raft-fusion-small", device="cuda", precision="fp32", pinned_memory=False), frames)
    _close(pinned, pageable)


@pytest.mark.parametrize("mode", [True, "reduce-overhead"])
def test_compiled_restoration_matches_eager(mode: object) -> None:
    """``compile: true`` and ``compile: reduce-overhead`` (CUDA graphs, whose outputs are
    reused between replays) restore the same frames as eager mode."""
    frames = _frames(6)
    eager = _run(ModelConfig(name="raft-fusion-small", device="cuda", precision="fp16"), frames)
    compiled = _run(ModelConfig(name="raft-fusion-small", device="cuda", precision="fp16", compile=mode), frames)
    _close(eager, compiled)
