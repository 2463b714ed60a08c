"""Surviving the real world: a real RTSP server that dies and comes back, killed actors."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import ray

from conftest import DEMO_CLIP, ROOT, free_port, write_clip
from streamdeblur.config import parse_config
from streamdeblur.runtime.graph import Pipeline
from streamdeblur.transport import Subscriber

SYSTEM_PYTHON = "/usr/bin/python3"


def gst_rtsp_available() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode == 0


needs_rtsp = pytest.mark.skipif(
    not gst_rtsp_available(),
    reason="GStreamer RTSP server missing: apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad (make setup does)",
)


class RtspServer:
    """GStreamer's RTSP server in its own process, serving the bundled clip."""

    def __init__(self, port: int, clip: Path = DEMO_CLIP):
        self.port, self.clip = port, clip
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(ROOT / "tests" / "rtsp_server.py"), str(self.port), "cam", str(self.clip)],
            stdout=subprocess.PIPE, text=True, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class Running:
    """A pipeline pumping in a thread while the test watches its output."""

    def __init__(self, cfg, endpoint: str):
        self.pipe = Pipeline(cfg)
        self.pipe.start()
        self.sub = Subscriber(endpoint, recv_hwm=100_000)
        time.sleep(0.5)
        self.summary: dict = {}
        self.thread = threading.Thread(target=self._pump)
        self.thread.start()

    def _pump(self) -> None:
        try:
            self.summary = self.pipe.run()
        finally:
            self.pipe.close()

    def frames(self, seconds: float, camera: str | None = None) -> list:
        got, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            msg = self.sub.recv(timeout=0.2)
            if msg is not None and (camera is None or msg[0].camera == camera):
                got.append(msg[0])
        return got

    def wait_for(self, camera: str, n: int, timeout: float) -> list:
        got, end = [], time.monotonic() + timeout
        while len(got) < n and time.monotonic() < end:
            msg = self.sub.recv(timeout=0.5)
            if msg is not None and msg[0].camera == camera:
                got.append(msg[0])
        return got

    def stop(self) -> dict:
        self.pipe.stop_event.set()
        self.thread.join(60)
        self.sub.close()
        return self.summary


@needs_rtsp
def test_rtsp_server_killed_and_back(ray_cluster, clip: Path, endpoint: str):
    server = RtspServer(free_port())
    server.start()
    cfg = parse_config(
        {
            "cameras": [
                {"id": "rtsp", "url": server.url, "open_timeout": 3, "read_timeout": 3,
                 "reconnect_initial": 0.5, "reconnect_max": 1},
                {"id": "file", "url": str(clip), "loop": True, "realtime": True},
            ],
            "model": {"name": "none"},
            "output": {"endpoint": "pub+bind:" + endpoint},
        },
        "test",
    )
    run = Running(cfg, endpoint)
    try:
        before = run.wait_for("rtsp", 15, timeout=60)
        assert len(before) == 15, "no RTSP frames before the outage"
        server.kill()
        outage = run.frames(4.0)
        states = run.pipe.status["rtsp"].state
        # the other camera keeps flowing at its own rate during the outage
        assert sum(1 for h in outage if h.camera == "file") > 40
        assert states in ("reconnecting", "connecting"), states
        server.start()
        after = run.wait_for("rtsp", 10, timeout=60)
        assert len(after) == 10, "RTSP frames did not come back after the server restarted"
        assert after[0].seq > before[-1].seq  # numbering continues across the reconnect
    finally:
        summary = run.stop()
        server.kill()
    assert summary["rtsp"]["reconnects"] >= 1
    assert summary["file"]["frames_out"] > 100


def test_killed_deblur_actor_is_restarted(ray_cluster, tmp_path: Path, endpoint: str):
    clip = write_clip(tmp_path / "c.mp4", frames=80)
    cfg = parse_config(
        {
            "cameras": [{"id": "c", "url": str(clip), "realtime": False}],
            "model": {"name": "engines:SlowEngine"},
            "output": {"endpoint": "pub+bind:" + endpoint},
            "pipeline": {"batch_size": 2},
        },
        "test",
    )
    run = Running(cfg, endpoint)
    got = run.wait_for("c", 10, timeout=60)
    pid = ray.get(run.pipe._deblur[0].pid.remote())
    os.kill(pid, signal.SIGKILL)
    run.thread.join(120)
    while (msg := run.sub.recv(timeout=1.0)) is not None:
        got.append(msg[0])
    summary = run.stop()
    s = summary["c"]
    seqs = [h.seq for h in got]
    assert s["state"] == "ended" and s["restarts"] == 1
    # the batch the dead worker held is retried on the restarted one: nothing is lost
    assert seqs == list(range(80)) and s["frames_out"] == 80 and s["lost"] == 0


def test_killed_source_actor_resumes(ray_cluster, tmp_path: Path, endpoint: str):
    clip = write_clip(tmp_path / "s.mp4", frames=80)
    cfg = parse_config(
        {
            "cameras": [{"id": "s", "url": str(clip), "realtime": False}],
            "model": {"name": "engines:SlowEngine"},
            "output": {"endpoint": "pub+bind:" + endpoint},
            "pipeline": {"batch_size": 2, "queue_size": 2},
        },
        "test",
    )
    run = Running(cfg, endpoint)
    got = run.wait_for("s", 10, timeout=60)
    pid = ray.get(run.pipe._sources["s"].pid.remote())
    os.kill(pid, signal.SIGKILL)
    run.thread.join(120)
    while (msg := run.sub.recv(timeout=1.0)) is not None:
        got.append(msg[0])
    summary = run.stop()
    s = summary["s"]
    seqs = [h.seq for h in got]
    assert s["state"] == "ended" and s["restarts"] >= 1
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    assert seqs[-1] == 79
    # an offline source resumes after the last frame handed out: only its queue is lost
    assert len(seqs) >= 80 - 2 - 2


def test_restarted_source_waits_to_be_told_where_to_resume(ray_cluster, tmp_path: Path):
    """A source that Ray restarts must not decode from frame 0 on the first request that
    reaches it (an offline file would repeat every frame): it answers ``waiting`` until the
    driver's ``start(resume)``, then goes on from there."""
    from streamdeblur.config import CameraConfig
    from streamdeblur.runtime.graph import SOURCE_RESTART
    from streamdeblur.runtime.source import CameraSource

    clip = write_clip(tmp_path / "r.mp4", frames=30)
    cam = CameraConfig(id="r", url=str(clip), realtime=False)
    src = ray.remote(CameraSource).options(num_cpus=0, **SOURCE_RESTART).remote(cam, 4)
    ray.get(src.start.remote(0))
    _, info = ray.get(src.get.options(num_returns=2).remote(4, 10.0))
    assert info.first_seq == 0 and info.count >= 1 and not info.waiting
    os.kill(ray.get(src.pid.remote()), signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:  # calls fail while the actor restarts
        try:
            batch, info = ray.get(src.get.options(num_returns=2).remote(4, 0.5))
            break
        except ray.exceptions.RayActorError:
            assert time.monotonic() < deadline, "the source actor did not come back"
            time.sleep(0.2)
    assert info.waiting and info.count == 0 and batch.frames == []
    src.start.remote(4)
    _, info = ray.get(src.get.options(num_returns=2).remote(4, 10.0))
    assert info.first_seq == 4 and info.count >= 1 and not info.waiting
    ray.kill(src)
