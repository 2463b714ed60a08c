"""CLI: ``run`` (the live pipeline) and ``subscribe`` (print what a pipeline publishes)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run the live pipeline described by a cameras.yaml",
        description="Read every camera of CONFIG, deblur the frames and publish them on ZeroMQ. "
        "Prints one status line per camera every few seconds; Ctrl-C stops cleanly.",
    )
    p.add_argument("config", help="cameras.yaml (see configs/)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop by itself after this long")
    p.add_argument("--address", metavar="ADDR", help="join a Ray cluster ('auto' or ray://HOST:PORT) instead of starting one")
    p.add_argument("--json", action="store_true", help="print the final summary as one JSON object")
    p.add_argument("--ocr", action="store_true", help="also run the plate-OCR consumer (as ocr.enabled: true)")
    p.set_defaults(func=_run)

    s = sub.add_parser(
        "subscribe",
        help="print (and optionally save) the frames a pipeline publishes",
        description="Connect to a pipeline's ZeroMQ output and print one line per frame: "
        "camera, stream, seq, size and end-to-end latency.",
    )
    s.add_argument("endpoint", help="e.g. tcp://127.0.0.1:5555 (or sub+connect:tcp://...)")
    s.add_argument("--topic", action="append", metavar="CAM/STREAM", help="topic prefix to receive (repeatable); default: all")
    s.add_argument("--count", type=int, metavar="N", help="exit after N frames")
    s.add_argument("--timeout", type=float, metavar="SECONDS", help="exit with an error if no frame arrives for this long")
    s.add_argument("--save", metavar="DIR", help="write each frame as DIR/<camera>_<stream>_<seq>.png")
    s.add_argument("--curve-server-key", metavar="FILE", help="CURVE: the publisher's public .key file")
    s.add_argument("--curve-client-key", metavar="FILE", help="CURVE: this client's .key_secret file")
    s.set_defaults(func=_subscribe)

    b = sub.add_parser(
        "bench",
        help="measure model-only speed, pipeline throughput, latency and camera scaling",
        description="Model-only frames/s and latency at 640x360, 1280x720 and 1920x1080 for k=1 and "
        "k=2 per device and precision; the full pipeline's throughput as a ratio of the model's; "
        "end-to-end latency minus the window delay; throughput with 1, 2 and 4 cameras. "
        "'bench model' measures the model alone (no Ray, no pipeline); "
        "'bench pipeline' measures the passthrough pipeline against a bare PyAV decode.",
    )
    b.add_argument("what", nargs="?", choices=["all", "model", "pipeline"], default="all")
    b.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    b.add_argument("--quick", action="store_true", help="640x360 only, fewer frames")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=_bench)

    k = sub.add_parser(
        "keys",
        help="make ZeroMQ CURVE key pairs for encrypted, authenticated output",
        description="Write NAME.key (public) and NAME.key_secret (key pair) into DIR. Give the "
        "publisher's .key_secret to output.curve_secret_key, its .key to subscribers; put client "
        ".key files in the folder named by output.curve_authorized_keys to admit only them.",
    )
    k.add_argument("dir", help="folder to write the certificates to")
    k.add_argument("--name", default="server", help="certificate name (default: server)")
    k.set_defaults(func=_keys)


def _run(args: argparse.Namespace) -> int:
    from pipelines import live
    from streamdeblur.config import load_config

    cfg = load_config(args.config)
    return live.run(
        cfg, duration=args.duration, address=args.address, as_json=args.json, config_path=args.config, ocr=args.ocr
    )


def _subscribe(args: argparse.Namespace) -> int:
    from pathlib import Path

    import cv2

    from streamdeblur.errors import StreamDeblurError
    from streamdeblur.transport import Subscriber

    save = Path(args.save) if args.save else None
    if save is not None:
        try:
            save.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StreamDeblurError(f"--save {save}: cannot create folder: {exc.strerror}") from None
    n = 0
    with Subscriber(
        args.endpoint, topics=args.topic, curve_server_key=args.curve_server_key, curve_client_key=args.curve_client_key
    ) as sub:
        while args.count is None or n < args.count:
            msg = sub.recv(timeout=args.timeout)
            if msg is None:
                raise StreamDeblurError(f"no frame from {args.endpoint} for {args.timeout:g} s ({n} received)")
            header, image = msg
            n += 1
            print(
                f"{header.camera}/{header.stream} seq={header.seq} {header.width}x{header.height} "
                f"{header.encoding} model={header.model} latency={header.end_to_end_ms:.1f} ms",
                flush=True,
            )
            if save is not None:
                path = save / f"{header.camera}_{header.stream}_{header.seq:06d}.png"
                if not cv2.imwrite(str(path), image):
                    raise StreamDeblurError(f"cannot write {path}")
    return 0


def _keys(args: argparse.Namespace) -> int:
    from streamdeblur.transport.security import make_keys

    public, secret = make_keys(args.dir, args.name)
    print(f"public key (give to the other side): {public}\nsecret key pair (keep private): {secret}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    import json

    from pipelines import bench

    log = (lambda s: None) if args.json else (lambda s: print(s, flush=True))
    if args.what == "model":
        print(json.dumps(bench.model_rows(device=args.device, quick=args.quick, log=log)[0], indent=None if args.json else 2))
        return 0
    from streamdeblur.config import RayConfig
    from streamdeblur.runtime import cluster

    with _stdout_to_stderr() if args.json else nullcontext():
        started = cluster.connect(RayConfig())
        try:
            if args.what == "pipeline":
                result = bench.passthrough(log=log)
            else:
                result = bench.full(device=args.device, quick=args.quick, log=log)
        finally:
            cluster.disconnect(started)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 1 (Ray's worker and raylet lines
    included) to stderr meanwhile, so that stdout carries only the one JSON object."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
