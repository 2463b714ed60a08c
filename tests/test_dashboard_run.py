"""``streamdeblur run`` serves the dashboard next to the pipeline and lets go of it on
Ctrl-C; a taken dashboard port stops it with one line before Ray starts."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import DEMO_CLIP, free_port
from test_dashboard import TOKEN, listening, scrape, wait_for

CLI = [sys.executable, "-m", "streamdeblur"]


def write_config(path: Path, zport: int, hport: int) -> Path:
    path.write_text(
        f"cameras:\n  - id: lot\n    url: {DEMO_CLIP}\n    loop: true\n    resize: [320, 180]\n"
        f"output:\n  endpoint: pub+bind:tcp://127.0.0.1:{zport}\n"
        f"dashboard:\n  port: {hport}\n  token: {TOKEN}\n"
        "ray:\n  num_cpus: 1\n"
        "model:\n  name: none\n"
    )
    return path


def test_run_serves_dashboard_and_releases_it_on_ctrl_c(tmp_path: Path):
    zport, hport = free_port(), free_port()
    cfg = write_config(tmp_path / "cams.yaml", zport, hport)
    proc = subprocess.Popen([*CLI, "run", str(cfg), "--duration", "60"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{hport}/"
        key = ("streamdeblur_frames_total", (("camera", "lot"), ("stream", "deblurred")))
        first = wait_for(lambda: listening(hport) and scrape(url).get(key), 40, "frames on the run's /metrics")
        time.sleep(1.0)
        assert scrape(url)[key] > first
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0]
        assert proc.returncode == 0, out
        assert f"  dashboard: {url} (metrics: {url}metrics)" in out
        assert not listening(hport)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_taken_dashboard_port_is_one_line(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        hport = taken.getsockname()[1]
        cfg = write_config(tmp_path / "cams.yaml", free_port(), hport)
        t0 = time.monotonic()
        proc = subprocess.run([*CLI, "run", str(cfg)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"streamdeblur: error: dashboard: cannot listen on 127.0.0.1:{hport}: address already in use "
        "(set dashboard.port, or dashboard.enabled: false)"
    ]
    assert time.monotonic() - t0 < 15, "Ray should not have started"
