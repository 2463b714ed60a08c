"""Per-camera live numbers (Frigate-style names) and the one-line status."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from streamdeblur.logutil import mask_url
from streamdeblur.runtime.batch import SourceStats
from streamdeblur.runtime.publish import PublishReport


@dataclass
class CameraStatus:
    """Cumulative counters plus rolling rates for one camera."""

    camera: str
    state: str = "connecting"
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    """Frames dropped anywhere (source queue + publisher)."""
    skipped: int = 0
    corrupt: int = 0
    reconnects: int = 0
    lost: int = 0
    """Frames lost because a stage's process died (they are in ``dropped`` too)."""
    restarts: int = 0
    """Actor deaths seen on this camera's path: restarted workers and failed batches."""
    error: str | None = None
    decoder: str = "cpu"
    model: str = "none"
    camera_fps: float = 0.0
    output_fps: float = 0.0
    inference_s: float = 0.0
    last_seq: int | None = None
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=512))
    _publish_dropped: int = 0
    _worker: int = 0
    _src_pid: int = 0
    _src_last: tuple[int, ...] = (0, 0, 0, 0, 0)
    _src_base: tuple[int, ...] = (0, 0, 0, 0, 0)
    _rate_mark: tuple[float, int, int] | None = None

    def update(self, report: PublishReport) -> bool:
        """Take a batch's report; True when it shows that the deblur worker restarted."""
        restarted = bool(self._worker and report.worker and report.worker != self._worker)
        if report.worker:
            self._worker = report.worker
        if restarted:
            self.restarts += 1
        self.frames_out += report.published
        self._publish_dropped += report.dropped
        self.latencies_ms.extend(report.latencies_ms)
        self.model = report.model
        self.inference_s += report.inference_s
        if report.last_seq is not None:
            self.last_seq = report.last_seq
        if report.source is not None:
            self.take_source(report.source)
        if report.ended and self.state not in ("failed",):
            self.state = report.source.state if report.source else "ended"
        return restarted

    def take_source(self, src: SourceStats) -> None:
        """Take a source's cumulative counters, from a batch report or polled from the source
        directly (they may arrive out of order: the newest win)."""
        counts = (src.decoded, src.dropped, src.skipped, src.corrupt, src.reconnects)
        if src.pid != self._src_pid:  # a restarted source counts from zero again
            if self._src_pid:
                self._src_base = tuple(b + last for b, last in zip(self._src_base, self._src_last))
            self._src_pid = src.pid
        elif counts[0] < self._src_last[0]:
            return  # older than what we have
        self._src_last = counts
        decoded, dropped, skipped, corrupt, reconnects = (b + c for b, c in zip(self._src_base, counts))
        self.state = src.state
        self.frames_in = decoded
        self.dropped = dropped + self._publish_dropped + self.lost
        self.skipped = skipped
        self.corrupt = corrupt
        self.reconnects = reconnects
        self.error = src.error
        self.decoder = src.decoder

    def failed_batch(self, lost: int) -> None:
        """A batch of ``lost`` frames died with an actor."""
        self.restarts += 1
        self.lost += lost
        self.dropped += lost

    def tick(self, now: float | None = None) -> None:
        """Refresh the rolling frame rates (call once per status interval)."""
        now = time.monotonic() if now is None else now
        if self._rate_mark is not None:
            t, fin, fout = self._rate_mark
            dt = max(now - t, 1e-6)
            self.camera_fps = (self.frames_in - fin) / dt
            self.output_fps = (self.frames_out - fout) / dt
        self._rate_mark = (now, self.frames_in, self.frames_out)

    def latency_ms(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else None

    def line(self) -> str:
        p50, p95 = self.latency_ms(50), self.latency_ms(95)
        lat = f"latency p50 {p50:.0f} ms p95 {p95:.0f} ms" if p50 is not None else "latency -"
        text = (
            f"{self.camera:<12} {self.state:<12} in {self.camera_fps:5.1f} fps  out {self.output_fps:5.1f} fps  "
            f"{lat}  dropped {self.dropped}  frames {self.frames_out}"
        )
        if self.skipped:
            text += f"  skipped {self.skipped}"
        if self.corrupt:
            text += f"  corrupt {self.corrupt}"
        if self.decoder != "cpu":
            text += f"  decode {self.decoder}"
        if self.error:
            text += f"  error: {mask_url(self.error)}"
        return text

    def summary(self) -> dict[str, object]:
        return {
            "camera": self.camera,
            "state": self.state,
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "dropped": self.dropped,
            "skipped": self.skipped,
            "corrupt": self.corrupt,
            "reconnects": self.reconnects,
            "lost": self.lost,
            "restarts": self.restarts,
            "decoder": self.decoder,
            "latency_p50_ms": self.latency_ms(50),
            "latency_p95_ms": self.latency_ms(95),
            "error": self.error,
        }
