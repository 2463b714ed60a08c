"""The live pipeline: cameras -> deblur -> ZeroMQ, with a status line per camera."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import TextIO

from streamdeblur.config import Config
from streamdeblur.logutil import mask_url
from streamdeblur.runtime.graph import Pipeline
from streamdeblur.runtime.status import CameraStatus


def run(
    cfg: Config,
    *,
    duration: float | None = None,
    address: str | None = None,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    config_path: str | None = None,
    ocr: bool = False,
) -> int:
    """Run until every camera ends, ``duration`` passes, Ctrl-C or SIGTERM. Exit code 1 when
    every camera failed. With ``ocr`` (or ``ocr.enabled``) the plate-OCR consumer runs next
    to the pipeline in its own process (it reads ``config_path``); the dashboard shows its
    reads."""
    pipeline = Pipeline(cfg, address=address)
    previous = signal.getsignal(signal.SIGTERM)

    def show(statuses: list[CameraStatus]) -> None:
        for st in statuses:
            print(st.line(), file=out, flush=True)

    interrupted = False
    placement: dict[str, str] = {}
    dashboard = None
    consumer = None
    ocr_events = None
    try:
        if (ocr or cfg.ocr.enabled) and config_path is not None:
            import tempfile

            from streamdeblur.dashboard.ocrfeed import OcrEventsTail
            from streamdeblur.ocr.launch import spawn_consumer

            ocr_events = Path(tempfile.mkdtemp(prefix="streamdeblur-ocr-")) / "ocr.jsonl"
            consumer = spawn_consumer(config_path, json_out=str(ocr_events))
            print(f"  ocr: plate consumer started (pid {consumer.pid})", file=out, flush=True)
        if cfg.dashboard.enabled:  # before Ray starts: a taken port fails fast
            from streamdeblur.dashboard.server import for_pipeline

            dashboard = for_pipeline(pipeline, ocr_stats=OcrEventsTail(ocr_events) if ocr_events else None)
        pipeline.start()
        # after ray.init, which installs a SIGTERM handler of its own
        signal.signal(signal.SIGTERM, lambda *_: pipeline.stop_event.set())
        info = pipeline.engine_info
        print(
            f"streamdeblur: {len(cfg.cameras)} camera(s), model {info['model']} on {info['device']} "
            f"({info['precision']}{', ' + info['threads'] + ' threads' if 'threads' in info else ''}), "
            f"publishing on {cfg.output.endpoint}",
            file=out,
            flush=True,
        )
        placement = pipeline.placement()
        nodes = sorted(set(placement.values()))
        if len(nodes) > 1:
            print(f"  ray: actors on {len(nodes)} nodes", file=out, flush=True)
        for cam in cfg.cameras:
            mode = "live" if cam.is_live else "offline"
            print(f"  {cam.id}: {mask_url(cam.url)} ({mode}{', loop' if cam.loop else ''})", file=out, flush=True)
        if dashboard is not None:
            print(f"  dashboard: {dashboard.url} (metrics: {dashboard.url}metrics)", file=out, flush=True)
        try:
            summary = pipeline.run(duration, on_status=show, on_report=dashboard.on_report if dashboard else None)
        except KeyboardInterrupt:
            interrupted = True
            summary = {cam: st.summary() for cam, st in pipeline.status.items()}
    finally:
        if consumer is not None:
            from streamdeblur.ocr.launch import stop_consumer

            stop_consumer(consumer)
        pipeline.close()
        if dashboard is not None:
            dashboard.stop()
        signal.signal(signal.SIGTERM, previous)
    if as_json:
        print(json.dumps({"interrupted": interrupted, "cameras": summary, "placement": placement}), file=out, flush=True)
    else:
        print("streamdeblur: stopped" + (" (interrupted)" if interrupted else ""), file=out, flush=True)
        show(list(pipeline.status.values()))
    failed = [s for s in summary.values() if s["state"] == "failed"]
    for s in failed:
        print(f"streamdeblur: camera {s['camera']} failed: {mask_url(str(s['error']))}", file=sys.stderr, flush=True)
    return 1 if failed and len(failed) == len(summary) else 0
