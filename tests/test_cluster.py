"""The same pipeline on a real two-node Ray cluster (two `ray start` nodes on loopback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import free_port, write_clip

RAY = str(Path(sys.executable).parent / "ray")


def kill_cluster(temp_dir: Path) -> None:
    """Stop only this test's Ray processes (``ray stop`` would stop every cluster here)."""
    mark = str(temp_dir).encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if mark in (proc / "cmdline").read_bytes():
                    os.kill(int(proc.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass


@pytest.fixture
def two_nodes(tmp_path_factory: pytest.TempPathFactory):
    temp_dir = Path("/tmp") / f"sd-ray-{os.getpid()}-{free_port()}"
    port = free_port()
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    # token auth off for this throwaway loopback cluster (a real one keeps Ray's token auth)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    try:
        subprocess.run(
            [RAY, "start", "--head", f"--port={port}", f"--temp-dir={temp_dir}", "--include-dashboard=false",
             '--resources={"site_a": 1}', *common],
            check=True, capture_output=True, env=env, timeout=120,
        )
        subprocess.run(
            [RAY, "start", f"--address=127.0.0.1:{port}", '--resources={"site_b": 1}', *common],
            check=True, capture_output=True, env=env, timeout=120,
        )
        yield f"127.0.0.1:{port}", env
    finally:
        kill_cluster(temp_dir)


def test_actors_spread_over_two_nodes_and_every_frame_arrives(two_nodes: tuple[str, dict], tmp_path: Path):
    address, env = two_nodes
    a = write_clip(tmp_path / "a.mp4", frames=20)
    b = write_clip(tmp_path / "b.mp4", frames=25)
    cfg = tmp_path / "cluster.yaml"
    cfg.write_text(
        f"cameras:\n"
        f"  - {{id: north, url: {a}, realtime: false, resources: {{site_a: 1}}}}\n"
        f"  - {{id: south, url: {b}, realtime: false, resources: {{site_b: 1}}}}\n"
        f"model: {{name: 'engines:SlowEngine'}}\n"
        f"ray: {{deblur_actors: 2}}\n"
        f"output: {{endpoint: 'pub+bind:tcp://127.0.0.1:{free_port()}'}}\n"
        f"dashboard: {{enabled: false}}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "streamdeblur", "run", str(cfg), "--address", address, "--json"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    cams, placement = result["cameras"], result["placement"]
    assert cams["north"]["frames_out"] == 20 and cams["south"]["frames_out"] == 25
    assert cams["north"]["state"] == cams["south"]["state"] == "ended"
    assert placement["source:north"] != placement["source:south"]
    assert placement["deblur:0"] != placement["deblur:1"]  # one CPU per node: one deblur actor each
    assert "ray: actors on 2 nodes" in proc.stdout
