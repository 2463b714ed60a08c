"""Recognition-rate statistics of the live OCR consumer, per camera and stream.

This is the interface the dashboard and the metrics exporter read (thread-safe):

- ``OcrStats.snapshot() -> dict[camera, dict]``: JSON-ready numbers per camera::

      {"gate": {
          "received": {"deblurred": 250, "raw": 250},   # frames that arrived
          "processed": 40,        # frames (or raw+deblurred pairs) OCR'd
          "dropped": 208,         # skipped because OCR was busy (never slows the pipeline)
          "missed": 2,            # seq gaps: frames lost before reaching this consumer
                                  # (dropped by the pipeline's live sources, or by ZeroMQ)
          "unpaired": 0,          # frames whose raw/deblurred partner never came
          "restarts": 0,          # times the camera's seq went back (pipeline restart)
          "keep_up": 0.16,        # processed / (processed + dropped): share of arrived frames read
          "paired": true,         # raw frames are being published for this camera
          "streams": {"deblurred": {...}, "raw": {...}},   # see below
          "read_rate_gain": 0.125,    # read_rate deblurred - raw (None without raw)
          "plates_gain": 3,           # plate reads deblurred - raw (None without raw)
          "ocr_ms_per_frame": 812.0}}

  and per stream: ``frames`` (OCR'd), ``frames_read`` (with at least one plate-shaped
  read at or above ``min_confidence``), ``read_rate`` (frames_read / frames),
  ``mean_confidence`` (of those reads), ``plates`` (voted plate reads), ``plate_texts``
  (distinct voted texts, newest last, at most 50).
- ``OcrStats.metrics()``: ``(name, labels, value)`` samples in Prometheus naming, e.g.
  ``("streamdeblur_ocr_plates_total", {"camera": "gate", "stream": "raw"}, 3)``.
- ``OcrStats.summary()``: the human-readable lines the consumer prints periodically.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

STREAMS = ("deblurred", "raw")
MAX_TEXTS = 50


@dataclass(slots=True)
class StreamCounts:
    frames: int = 0
    frames_read: int = 0
    conf_sum: float = 0.0
    reads: int = 0
    plates: int = 0
    plate_texts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "frames": self.frames,
            "frames_read": self.frames_read,
            "read_rate": round(self.frames_read / self.frames, 4) if self.frames else None,
            "mean_confidence": round(self.conf_sum / self.reads, 4) if self.reads else None,
            "plates": self.plates,
            "plate_texts": list(self.plate_texts),
        }


@dataclass(slots=True)
class CameraCounts:
    received: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0))
    processed: int = 0
    dropped: int = 0
    missed: int = 0
    unpaired: int = 0
    restarts: int = 0
    paired: bool = False
    ocr_seconds: float = 0.0
    streams: dict[str, StreamCounts] = field(default_factory=lambda: {s: StreamCounts() for s in STREAMS})

    def as_dict(self) -> dict:
        seen = self.processed + self.dropped
        deb, raw = self.streams["deblurred"], self.streams["raw"]
        d = deb.as_dict(), raw.as_dict()
        has_raw = raw.frames > 0
        return {
            "received": dict(self.received),
            "processed": self.processed,
            "dropped": self.dropped,
            "missed": self.missed,
            "unpaired": self.unpaired,
            "restarts": self.restarts,
            "keep_up": round(self.processed / seen, 4) if seen else None,
            "paired": self.paired,
            "streams": {"deblurred": d[0], "raw": d[1]},
            "read_rate_gain": round(d[0]["read_rate"] - d[1]["read_rate"], 4) if has_raw and deb.frames else None,
            "plates_gain": deb.plates - raw.plates if has_raw else None,
            "ocr_ms_per_frame": round(1000 * self.ocr_seconds / self.processed, 1) if self.processed else None,
        }


class OcrStats:
    """Counters updated by the consumer's threads, read by reporters and the dashboard."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cams: dict[str, CameraCounts] = {}

    def _cam(self, camera: str) -> CameraCounts:
        cam = self._cams.get(camera)
        if cam is None:
            cam = self._cams[camera] = CameraCounts()
        return cam

    # --- updates (consumer side) -------------------------------------------------------
    def count(self, camera: str, **deltas: int) -> None:
        """Add to ``dropped``, ``missed``, ``unpaired``, ``restarts`` or ``processed``."""
        with self._lock:
            cam = self._cam(camera)
            for key, n in deltas.items():
                setattr(cam, key, getattr(cam, key) + n)

    def received(self, camera: str, stream: str, paired: bool) -> None:
        with self._lock:
            cam = self._cam(camera)
            cam.received[stream] = cam.received.get(stream, 0) + 1
            cam.paired = paired

    def frame(self, camera: str, stream: str, confidences: list[float]) -> None:
        """One OCR'd frame and the confidences of its accepted plate reads."""
        with self._lock:
            s = self._cam(camera).streams[stream]
            s.frames += 1
            if confidences:
                s.frames_read += 1
                s.reads += len(confidences)
                s.conf_sum += sum(confidences)

    def ocr_time(self, camera: str, seconds: float) -> None:
        with self._lock:
            self._cam(camera).ocr_seconds += seconds

    def plate(self, camera: str, stream: str, text: str) -> None:
        """One voted plate read."""
        with self._lock:
            s = self._cam(camera).streams[stream]
            s.plates += 1
            if text in s.plate_texts:
                s.plate_texts.remove(text)
            s.plate_texts.append(text)
            del s.plate_texts[:-MAX_TEXTS]

    # --- reads (dashboard, metrics, reports) ------------------------------------------
    def cameras(self) -> list[str]:
        with self._lock:
            return sorted(self._cams)

    def snapshot(self) -> dict[str, dict]:
        """Every camera's numbers as plain JSON-ready dicts (see the module docstring)."""
        with self._lock:
            return {name: cam.as_dict() for name, cam in sorted(self._cams.items())}

    def metrics(self) -> Iterator[tuple[str, dict[str, str], float]]:
        """Prometheus-style samples: counters end in ``_total``, the rest are gauges."""
        for camera, snap in self.snapshot().items():
            cam = {"camera": camera}
            for stream, n in snap["received"].items():
                yield "streamdeblur_ocr_received_frames_total", {**cam, "stream": stream}, n
            for key in ("processed", "dropped", "missed", "unpaired", "restarts"):
                yield f"streamdeblur_ocr_{key}_frames_total" if key != "restarts" else "streamdeblur_ocr_restarts_total", cam, snap[key]
            for stream, s in snap["streams"].items():
                labels = {**cam, "stream": stream}
                yield "streamdeblur_ocr_frames_total", labels, s["frames"]
                yield "streamdeblur_ocr_frames_read_total", labels, s["frames_read"]
                yield "streamdeblur_ocr_plates_total", labels, s["plates"]
                if s["mean_confidence"] is not None:
                    yield "streamdeblur_ocr_mean_confidence", labels, s["mean_confidence"]
            if snap["read_rate_gain"] is not None:
                yield "streamdeblur_ocr_read_rate_gain", cam, snap["read_rate_gain"]

    def summary(self) -> str:
        """One human-readable line per camera."""
        lines = []
        for camera, s in self.snapshot().items():
            deb, raw = s["streams"]["deblurred"], s["streams"]["raw"]
            parts = [f"[ocr] {camera}: {s['processed']} frames OCR'd, {s['dropped']} dropped, {s['missed']} missed"]
            latest = f" (latest {', '.join(deb['plate_texts'][-3:])})" if deb["plate_texts"] else ""
            parts.append(f"deblurred {deb['plates']} plates{latest}, read rate {_pct(deb['read_rate'])}, conf {_num(deb['mean_confidence'])}")
            if s["read_rate_gain"] is not None:
                parts.append(f"raw {raw['plates']} plates, read rate {_pct(raw['read_rate'])}, conf {_num(raw['mean_confidence'])}")
                parts.append(f"gain {s['read_rate_gain'] * 100:+.1f} pts, {s['plates_gain']:+d} plates")
            lines.append("; ".join(parts))
        return "\n".join(lines) if lines else "[ocr] no frames yet"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"
