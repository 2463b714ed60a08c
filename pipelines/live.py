"""The live pipeline: cameras -> deblur -> ZeroMQ, with a status line per camera."""

from __future__ import annotations

import json
import signal
import sys
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
) -> int:
    """Run until every camera ends, ``duration`` passes, Ctrl-C or SIGTERM. Exit code 1 when
    every camera failed."""
    pipeline = Pipeline(cfg, address=address)
    previous = signal.getsignal(signal.SIGTERM)

    def show(statuses: list[CameraStatus]) -> None:
        for st in statuses:
            print(st.line(), file=out, flush=True)

    interrupted = False
    placement: dict[str, str] = {}
    dashboard = None
    try:
        if cfg.dashboard.enabled:  # before Ray starts: a taken port fails fast
            from streamdeblur.dashboard.server import for_pipeline

            dashboard = for_pipeline(pipeline)
        pipeline.start()
        # after ray.init, which installs a SIGTERM handler of its own
        signal.signal(signal.SIGTERM, lambda *_: pipeline.stop_event.set())
        info = pipeline.engine_info
        print(
            f"streamdeblur: {len(cfg.cameras)} camera(s), model {info['model']} on {info['device']} "
            f"({info['precision']}), publishing on {cfg.output.endpoint}",
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
