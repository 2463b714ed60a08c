"""Start the OCR consumer as its own process next to a pipeline (``ocr.enabled: true``).

A separate process keeps EasyOCR's CPU work and the GIL away from the pipeline's driver;
the consumer drops frames when it falls behind, so it never slows the pipeline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def consumer_command(
    config: str | Path, json_out: str | None = None, threads: int | None = 1, duration: float | None = None, cameras: list[str] | None = None
) -> list[str]:
    """The command line of a consumer for the pipeline a cameras.yaml describes."""
    cmd = [sys.executable, "-m", "streamdeblur.ocr", "ocr", "--config", str(config)]
    cmd += ["--json-out", json_out or os.devnull]
    for cam in cameras or []:
        cmd += ["--camera", cam]
    if threads:
        cmd += ["--threads", str(threads)]
    if duration is not None:
        cmd += ["--duration", str(duration)]
    return cmd


def spawn_consumer(
    config: str | Path, json_out: str | None = None, threads: int | None = 1, duration: float | None = None, cameras: list[str] | None = None
) -> subprocess.Popen:
    """Start ``streamdeblur ocr --config CONFIG`` in the background. Its plate reads and
    periodic summaries go to this process's stderr; its JSON lines to ``json_out`` (a file,
    ``-`` for stdout; default: nowhere, so they do not mix with the pipeline's output)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(consumer_command(config, json_out, threads, duration, cameras), env=env)


def stop_consumer(proc: subprocess.Popen, timeout: float = 15.0) -> int:
    """Ask the consumer to stop (SIGTERM: it prints its final summary), kill it if it hangs.
    Not SIGINT: a pipeline started in the background by a shell without job control has
    SIGINT ignored, and so would the consumer it starts."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
