"""The OCR panel's numbers when the plate consumer runs in its own process.

``streamdeblur ocr --json-out FILE`` (``ocr.launch.spawn_consumer(..., json_out=FILE)``)
writes one JSON line per voted plate and, every ``report_interval``, one ``stats`` line per
camera holding ``OcrStats.snapshot()``. :class:`OcrEventsTail` follows that file and answers
like the consumer's own :class:`OcrStats`: the latest snapshot, with plate reads added as
they come, so the panel is live between reports.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from streamdeblur.ocr.stats import MAX_TEXTS, STREAMS, OcrStats

SKIP = ("event", "ts", "camera")


def _empty() -> dict:
    """A camera's snapshot before its first ``stats`` line: the consumer's own zeros."""
    stats = OcrStats()
    stats.count("_", processed=0)
    return stats.snapshot()["_"]


class OcrEventsTail(OcrStats):
    """An :class:`OcrStats` whose numbers come from a consumer's JSON-lines file."""

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        self._offset = 0
        self._inode: int | None = None
        self._partial = b""
        self._snaps: dict[str, dict] = {}

    def _read(self) -> None:
        try:
            with self.path.open("rb") as f:
                inode = os.fstat(f.fileno()).st_ino
                if f.seek(0, 2) < self._offset or inode != self._inode:  # a new consumer's file
                    self._offset, self._partial, self._snaps, self._inode = 0, b"", {}, inode
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and isinstance(event.get("camera"), str):
                self._apply(event)

    def _apply(self, event: dict) -> None:
        camera = event["camera"]
        if event.get("event") == "stats":
            self._snaps[camera] = {k: v for k, v in event.items() if k not in SKIP}
        elif event.get("event") == "plate" and event.get("stream") in STREAMS:
            s = self._snaps.setdefault(camera, _empty())["streams"][event["stream"]]
            texts = [t for t in s["plate_texts"] if t != event["text"]] + [event["text"]]
            s["plate_texts"] = texts[-MAX_TEXTS:]
            s["plates"] += 1

    def cameras(self) -> list[str]:
        return sorted(self.snapshot())

    def snapshot(self) -> dict[str, dict]:
        with self._lock:
            self._read()
            return copy.deepcopy(dict(sorted(self._snaps.items())))
