"""``python -m streamdeblur.ocr ...``: the OCR sub-commands on their own (used to start the
consumer as a separate process next to ``streamdeblur run``)."""

import argparse
import sys

from streamdeblur.errors import StreamDeblurError
from streamdeblur.ocr.commands import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streamdeblur.ocr")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StreamDeblurError as exc:
        print(f"streamdeblur: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
