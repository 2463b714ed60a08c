"""``streamdeblur ...``: the command line. Each stage registers its own sub-commands."""

from __future__ import annotations

import argparse
import importlib
import sys

from streamdeblur import __version__
from streamdeblur.errors import report

# Modules with ``register(subparsers)``; each keeps heavy imports inside its handlers.
COMMAND_MODULES = [
    "streamdeblur.runtime.commands",
    "streamdeblur.models.commands",
    "streamdeblur.ocr.commands",
    "streamdeblur.dashboard.commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamdeblur",
        description="Real-time video surveillance stream processor: read cameras (RTSP, files), "
        "deblur them with RAFT-aligned multi-frame fusion, publish clean frames over ZeroMQ.",
        epilog="Run 'streamdeblur COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"streamdeblur {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return report("streamdeblur", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
