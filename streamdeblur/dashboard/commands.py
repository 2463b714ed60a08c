"""CLI: ``streamdeblur dashboard ENDPOINT``: watch a running pipeline from another machine."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve the live dashboard and /metrics of a running pipeline's ZeroMQ output",
        description="Subscribe to a pipeline's ZeroMQ output and serve the live dashboard and Prometheus "
        "/metrics for it; status comes from the frame headers (fps, latency, seq gaps as drops). "
        "Ctrl-C stops it.",
    )
    p.add_argument("endpoint", help="the pipeline's output, e.g. tcp://10.0.0.5:5555 (or sub+connect:tcp://...)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8765, help="port to serve on (default: %(default)s)")
    p.add_argument("--token", help="require this token (?token= or 'Authorization: Bearer'); also read from $STREAMDEBLUR_DASHBOARD_TOKEN")
    p.add_argument("--view-fps", type=float, default=5.0, help="frames/s of each live view (default: %(default)s)")
    p.add_argument("--curve-server-key", metavar="FILE", help="CURVE: the publisher's public .key file")
    p.add_argument("--curve-client-key", metavar="FILE", help="CURVE: this client's .key_secret file")
    p.set_defaults(func=_dashboard)


def _dashboard(args: argparse.Namespace) -> int:
    import os
    import signal
    import threading

    from pydantic import ValidationError

    from streamdeblur.config import DashboardConfig
    from streamdeblur.dashboard.server import DashboardServer
    from streamdeblur.errors import StreamDeblurError
    from streamdeblur.transport.endpoint import parse_endpoint

    try:
        if parse_endpoint(args.endpoint, "sub", False).socket != "sub":
            raise ValueError(f"bad endpoint {args.endpoint!r}: the dashboard subscribes, give e.g. tcp://HOST:PORT")
        cfg = DashboardConfig(
            host=args.host, port=args.port, token=args.token or os.environ.get("STREAMDEBLUR_DASHBOARD_TOKEN"), view_fps=args.view_fps
        )
    except ValueError as exc:  # also pydantic's ValidationError
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        reason = f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg'].lower()}" if first else str(exc)
        raise StreamDeblurError(reason) from None
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = DashboardServer(cfg, endpoint=args.endpoint, curve=(args.curve_server_key, args.curve_client_key)).start()
    print(f"streamdeblur: dashboard of {args.endpoint} on {server.url}" + (" (token required)" if cfg.token else ""), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    print("streamdeblur: dashboard stopped", flush=True)
    return 0
