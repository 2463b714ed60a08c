"""The OCR panel's numbers when the plate consumer runs in its own process.

``streamdeblur ocr --json-out FILE`` (``ocr.launch.spawn_consumer(..., json_out=FILE)``)
writes one JSON line per voted plate and, every ``report_interval``, one ``stats`` line per
camera holding ``OcrStats.snapshot()``. :class:`OcrEventsTail` follows that file and answers
like the consumer's own :class:`OcrStats`: the latest snapshot, with plate reads added as
they come, so the panel is live between reports. A camera with plate events also gets
``reads``: its last :data:`MAX_READS` plate events, oldest first, each ``{"ts", "stream",
"text", "confidence", "thumb_jpeg"}`` (``thumb_jpeg``: base64 JPEG or None), for the panel's
thumbnails; nothing else of an event is kept, and a thumbnail that is not plain base64 or
is larger than :data:`MAX_THUMB_CHARS` is dropped.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections import deque
from pathlib import Path

from streamdeblur.ocr.stats import MAX_TEXTS, STREAMS, OcrStats

SKIP = ("event", "ts", "camera")
MAX_READS = 8
"""Plate reads (with thumbnails) kept per camera for the panel."""
MAX_THUMB_CHARS = 32_768
"""Largest ``thumb_jpeg`` passed on; the consumer's are a few KB."""
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _read_of(event: dict) -> dict:
    """What the panel shows of one ``plate`` event (and nothing else of it)."""
    thumb = event.get("thumb_jpeg")
    if not (isinstance(thumb, str) and len(thumb) <= MAX_THUMB_CHARS and _BASE64.fullmatch(thumb)):
        thumb = None
    conf = event.get("confidence")
    return {
        "ts": event.get("ts") if isinstance(event.get("ts"), (int, float)) else None,
        "stream": event["stream"],
        "text": str(event.get("text", "")),
        "confidence": conf if isinstance(conf, (int, float)) and not isinstance(conf, bool) else None,
        "thumb_jpeg": thumb,
    }


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
        self._reads: dict[str, deque[dict]] = {}

    def _read(self) -> None:
        try:
            with self.path.open("rb") as f:
                inode = os.fstat(f.fileno()).st_ino
                if f.seek(0, 2) < self._offset or inode != self._inode:  # a new consumer's file
                    self._offset, self._partial, self._snaps, self._reads, self._inode = 0, b"", {}, {}, inode
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
            self._reads.setdefault(camera, deque(maxlen=MAX_READS)).append(_read_of(event))

    def cameras(self) -> list[str]:
        return sorted(self.snapshot())

    def snapshot(self) -> dict[str, dict]:
        with self._lock:
            self._read()
            snaps = copy.deepcopy(dict(sorted(self._snaps.items())))
            for camera, reads in self._reads.items():
                snaps[camera]["reads"] = [dict(r) for r in reads]  # flat dicts of immutable values
            return snaps
