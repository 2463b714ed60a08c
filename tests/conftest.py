"""Shared fixtures: a real local Ray cluster, real H.264 clips made with PyAV, free ports."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import Interpolation

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
DEMO_CLIP = ROOT / "data" / "car-detection.mp4"
SHARED_DATA = ROOT.parent / "shared" / "data"

# Ray workers import test-only engines (tests/engines.py) by module name.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(TESTS), os.environ.get("PYTHONPATH", "")] if p)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Tests stop the processes they start with Ctrl-C (SIGINT). A shell that runs pytest in the
# background without job control (`make test &`, some CI runners) starts it with SIGINT
# ignored, which every child inherits through exec, and Python then never raises
# KeyboardInterrupt in them: give SIGINT a handler here, so children start with the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def synthetic_image(i: int, width: int, height: int) -> np.ndarray:
    """A frame whose content changes every index: moving gradient bars and a square."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.zeros((height, width, 3), np.uint8)
    img[..., 0] = ((x * 3 + i * 7) % 256).astype(np.uint8)
    img[..., 1] = ((y * 5 + i * 11) % 256).astype(np.uint8)
    img[..., 2] = ((x + y + i * 13) % 256).astype(np.uint8)
    s = (i * 4) % max(1, width - 24)
    img[10:30, s : s + 20] = 255
    return img


def write_clip(path: Path, frames: int = 30, width: int = 160, height: int = 96, fps: int = 25) -> Path:
    """Encode a real H.264 mp4 with PyAV."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(synthetic_image(i, width, height), format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_direct(path: Path) -> list[np.ndarray]:
    """Reference decode: plain PyAV, no streamdeblur code, with swscale's exact rounding and
    full chroma interpolation (what the reader promises; tests/test_pixels.py)."""
    exact = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24", interpolation=exact) for f in container.decode(video=0)]


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


@pytest.fixture(scope="session")
def ray_cluster():
    """One real local Ray cluster for the whole test session."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def endpoint() -> str:
    return f"tcp://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module: on a shared 2-core machine, 2 OpenMP threads can be
    10x slower."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
