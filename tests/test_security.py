"""Credentials in camera URLs never leave the process: status lines, API, metrics, page."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

from conftest import free_port
from streamdeblur.config import parse_config
from streamdeblur.dashboard.server import for_pipeline
from streamdeblur.runtime.graph import Pipeline

SECRET = "hunter2secret"


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode("utf-8", "replace")


def test_rtsp_credentials_are_masked_everywhere(ray_cluster, clip: Path):
    cfg = parse_config(
        {
            "cameras": [
                {"id": "lot", "url": str(clip), "loop": True},
                {"id": "gate", "url": f"rtsp://admin:{SECRET}@127.0.0.1:9/stream", "open_timeout": 1,
                 "read_timeout": 1, "reconnect_initial": 0.3, "reconnect_max": 0.5},
            ],
            "model": {"name": "none"},
            "output": {"endpoint": f"pub+bind:tcp://127.0.0.1:{free_port()}"},
            "dashboard": {"port": free_port()},
            "pipeline": {"status_interval": 1},
        },
        "test",
    )
    pipeline = Pipeline(cfg)
    dashboard = for_pipeline(pipeline)
    pipeline.start()
    lines: list[str] = []
    pump = threading.Thread(
        target=pipeline.run,
        kwargs={"duration": 6, "on_report": dashboard.on_report,
                "on_status": lambda sts: lines.extend(st.line() for st in sts)},
    )
    pump.start()
    try:
        time.sleep(4)
        pages = {path: fetch(dashboard.url + path) for path in ("", "api/status", "api/history", "metrics")}
    finally:
        pump.join(30)
        pipeline.close()
        dashboard.stop()
    gate = pipeline.status["gate"]
    assert gate.state in ("connecting", "reconnecting") and gate.reconnects >= 1
    assert "rtsp://***@127.0.0.1:9/stream" in (gate.error or "")
    assert any(line.startswith("gate") and "rtsp://***@" in line for line in lines)
    for text in [*lines, *pages.values(), str(pipeline.status["gate"].summary())]:
        assert SECRET not in text and "admin:" not in text
    assert "rtsp://***@" in pages["api/status"]
