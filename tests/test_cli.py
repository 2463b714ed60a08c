"""The command line as a user runs it: real processes, real Ray, real sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from conftest import free_port

CLI = [sys.executable, "-m", "streamdeblur"]


def test_help_for_every_command():
    out = subprocess.run([*CLI, "--help"], capture_output=True, text=True, check=True).stdout
    listed = out.split("positional arguments:")[1].split("options:")[0]
    commands = [line.split()[0] for line in listed.splitlines()[2:] if line.startswith("    ") and not line.startswith("      ")]
    assert {"run", "subscribe", "bench", "keys", "reprocess", "synth", "eval", "ocr", "eval-ocr", "dashboard"} <= set(commands)
    for command in commands:
        text = subprocess.run([*CLI, command, "--help"], capture_output=True, text=True, check=True).stdout
        assert text.startswith(f"usage: streamdeblur {command}") and "options:" in text


def start_pipeline(tmp_path: Path, clip: Path, port: int, duration: float = 60) -> subprocess.Popen:
    cfg = tmp_path / "cams.yaml"
    cfg.write_text(
        f"cameras:\n  - id: lot\n    url: {clip}\n    loop: true\n"
        f"output:\n  endpoint: pub+bind:tcp://127.0.0.1:{port}\n  publish_raw: true\n"
        "pipeline:\n  status_interval: 1\n"
        "dashboard:\n  enabled: false\n"
        "model:\n  name: none\n"
    )
    return subprocess.Popen(
        [*CLI, "run", str(cfg), "--duration", str(duration)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_run_subscribe_save_and_ctrl_c(tmp_path: Path, clip: Path):
    port = free_port()
    proc = start_pipeline(tmp_path, clip, port)
    try:
        sub = subprocess.run(
            [*CLI, "subscribe", f"tcp://127.0.0.1:{port}", "--topic", "lot/deblurred", "--count", "5",
             "--save", str(tmp_path / "png"), "--timeout", "60"],
            capture_output=True, text=True, timeout=120,
        )
        assert sub.returncode == 0, sub.stderr
        lines = sub.stdout.strip().splitlines()
        assert len(lines) == 5 and all(line.startswith("lot/deblurred seq=") for line in lines)
        assert all("160x96 bgr24" in line and "latency=" in line for line in lines)
        pngs = sorted((tmp_path / "png").glob("lot_deblurred_*.png"))
        assert len(pngs) == 5 and cv2.imread(str(pngs[0])).shape == (96, 160, 3)
        time.sleep(2.5)  # at least one status line
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert time.monotonic() - t0 < 15
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped (interrupted)" in out
    status = [line for line in out.splitlines() if line.startswith("lot ")]
    assert status and "streaming" in status[0] and " fps" in status[0] and "dropped 0" in status[0]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += children - found
            found |= children
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_ctrl_c_leaves_no_orphan_processes(tmp_path: Path, clip: Path):
    proc = start_pipeline(tmp_path, clip, free_port())
    assert "publishing on" in proc.stdout.readline()
    time.sleep(1)
    children = descendants(proc.pid)
    assert len(children) >= 3  # Ray's GCS, raylet, workers...
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(p) for p in children):
        time.sleep(0.5)
    assert not [p for p in children if alive(p)]


def test_run_duration_and_sigterm(tmp_path: Path, clip: Path):
    port = free_port()
    proc = start_pipeline(tmp_path, clip, port, duration=4)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "publishing on pub+bind:tcp://127.0.0.1" in out and "streamdeblur: stopped\n" in out
    proc = start_pipeline(tmp_path, clip, port)
    banner = proc.stdout.readline()  # printed once the actors are up
    assert "publishing on" in banner
    time.sleep(1)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert time.monotonic() - t0 < 15 and "streamdeblur: stopped" in out


def test_port_in_use_is_one_line(tmp_path: Path, clip: Path):
    import zmq

    port = free_port()
    blocker = zmq.Context.instance().socket(zmq.PUB)
    blocker.bind(f"tcp://127.0.0.1:{port}")
    try:
        proc = start_pipeline(tmp_path, clip, port, duration=5)
        out, err = proc.communicate(timeout=120)
    finally:
        blocker.close(0)
    assert proc.returncode == 2
    errors = [line for line in err.splitlines() if line.startswith("streamdeblur: error:")]
    assert errors == [f"streamdeblur: error: output endpoint pub+bind:tcp://127.0.0.1:{port}: address already in use"]
    assert "Traceback" not in err


def test_subscribe_timeout_is_one_line():
    proc = subprocess.run(
        [*CLI, "subscribe", f"tcp://127.0.0.1:{free_port()}", "--count", "1", "--timeout", "0.5"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("streamdeblur: error: no frame from tcp://127.0.0.1:")


def test_bench_model_measures_the_model_alone():
    """``bench model`` (what a GPU machine without Ray runs): the model-only rows, no cluster."""
    proc = subprocess.run([*CLI, "bench", "model", "--quick", "--device", "cpu", "--json"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    rows = {(r["resolution"], r["k"]): r for r in result["model_speed"]}
    assert set(rows) == {("640x360", 1), ("640x360", 2)} and all(r["fps"] > 0 and r["device"] == "cpu" for r in rows.values())
    assert "pipeline_fps" not in result and "Ray" not in proc.stderr


def test_bench_json_prints_only_one_json_object():
    """``bench --json`` is for scripts: stdout holds the one object, whatever Ray's workers
    and raylet print meanwhile (those lines go to stderr)."""
    proc = subprocess.run([*CLI, "bench", "pipeline", "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["frames_lost"] == 0 and result["ratio"] > 0
