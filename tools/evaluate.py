#!/usr/bin/env python
"""Evaluate the deblurring model on held-out synthesized clips (same as ``streamdeblur eval``).

    python tools/evaluate.py --clips 24 --speed --json runs/eval.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamdeblur.models.commands import register  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    register(sub)
    args = ap.parse_args(["eval", *sys.argv[1:]])
    from streamdeblur.errors import report

    return report("evaluate", lambda: args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
