"""One exception type for user-facing problems: the CLI prints its message as one line."""

import sys
from collections.abc import Callable


class StreamDeblurError(Exception):
    """A problem the user can fix (bad config, missing file, unreachable stream...)."""


class ConfigError(StreamDeblurError):
    """The cameras.yaml file is missing, unreadable or invalid."""


class SourceError(StreamDeblurError):
    """A camera URL or video file cannot be opened or decoded."""


def report(prog: str, fn: Callable[[], int | None], interrupted: str = "interrupted") -> int:
    """Run ``fn`` and return its exit status; a ``StreamDeblurError`` becomes one line
    ``PROG: error: ...`` on stderr (status 2), Ctrl-C one line ``PROG: interrupted`` (130)."""
    try:
        return int(fn() or 0)
    except StreamDeblurError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
