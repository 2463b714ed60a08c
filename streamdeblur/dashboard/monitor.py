"""Per-camera numbers for the page: sampled once a second from the pipeline's status (in
the pipeline process) or from the published headers (attached dashboard), with rolling
rates, latency percentiles and a few minutes of history for the plots."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from streamdeblur.dashboard.feed import FrameFeed, HeaderStats
from streamdeblur.dashboard.metrics import OcrProvider, PipelineMetrics
from streamdeblur.logutil import mask_url

RATE_WINDOW = 5  # samples the fps are averaged over
StatusProvider = Callable[[], list[Any]]  # -> list[streamdeblur.runtime.status.CameraStatus]


@dataclass(slots=True)
class Counters:
    """One camera's cumulative numbers, whatever their source."""

    camera: str
    state: str
    frames_in: int
    frames_out: int
    dropped: int
    reconnects: int | None
    model: str
    error: str | None
    latencies_ms: list[float]
    decoder: str | None = None
    """Where the camera's frames are decoded (``cpu``, ``cuda``...); unknown from headers."""


def from_status(st: Any) -> Counters:
    """From a ``CameraStatus`` (read from another thread: copy the deque in one step)."""
    return Counters(
        st.camera, st.state, st.frames_in, st.frames_out, st.dropped, st.reconnects, st.model, st.error, list(st.latencies_ms),
        st.decoder,
    )


def from_headers(hs: HeaderStats, now: float) -> Counters:
    """From what the published headers tell: the seq span counts frames in, gaps drops."""
    span = hs.last_seq - hs.first_seq + 1 if hs.received else 0
    return Counters(hs.camera, hs.state(now), max(span, hs.received), hs.received, hs.gaps, None, hs.model, None, list(hs.latencies_ms))


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


class Monitor:
    """Turns counters into tiles and history; ``sample()`` once a second, on one thread."""

    def __init__(
        self,
        metrics: PipelineMetrics,
        *,
        feed: FrameFeed | None = None,
        status_provider: StatusProvider | None = None,
        engine_info: Callable[[], dict[str, str]] | None = None,
        ocr: OcrProvider | None = None,
        history_s: int = 300,
    ):
        self.metrics = metrics
        self.feed = feed
        self.status_provider = status_provider
        self.engine_info = engine_info
        self.ocr = ocr
        self.history_len = history_s
        self.version = 0
        self._marks: dict[str, deque[tuple[float, int, int, int]]] = {}
        self._history: dict[str, deque[dict[str, float | None]]] = {}
        self._tiles: list[dict[str, Any]] = []

    @property
    def mode(self) -> str:
        return "pipeline" if self.status_provider is not None else "attached"

    def engine(self) -> dict[str, str]:
        info = dict(self.engine_info()) if self.engine_info else {}
        return {"model": info.get("model", "-"), "device": info.get("device", "-"), "precision": info.get("precision", "-")}

    def _counters(self, now: float) -> list[Counters]:
        if self.status_provider is not None:
            return [from_status(st) for st in self.status_provider()]
        if self.feed is not None:
            return [from_headers(hs, now) for hs in sorted(self.feed.header_stats(), key=lambda h: h.camera)]
        return []

    def sample(self, now: float | None = None) -> None:
        """Take one sample of every camera: rates, percentiles, gauges, history."""
        now = time.monotonic() if now is None else now
        wall = time.time()
        engine = self.engine()
        if self.engine_info is not None:
            self.metrics.set_engine(**engine)
        tiles = []
        for c in self._counters(now):
            marks = self._marks.setdefault(c.camera, deque(maxlen=RATE_WINDOW + 1))
            prev = marks[-1] if marks else None
            marks.append((now, c.frames_in, c.frames_out, c.dropped))
            t0, in0, out0, _ = marks[0]
            dt = now - t0
            in_fps = (c.frames_in - in0) / dt if dt > 0 else 0.0
            out_fps = (c.frames_out - out0) / dt if dt > 0 else 0.0
            drops = max(c.dropped - prev[3], 0) / max(now - prev[0], 1e-6) if prev else 0.0
            recent = c.latencies_ms[-128:]
            p50, p95 = _pct(recent, 50), _pct(recent, 95)
            self.metrics.set_camera(c.camera, in_fps, out_fps, c.state == "streaming")
            point = {"t": round(wall, 3), "in_fps": round(in_fps, 2), "out_fps": round(out_fps, 2), "p50": p50, "p95": p95, "drops": round(drops, 2)}
            self._history.setdefault(c.camera, deque(maxlen=self.history_len)).append(point)
            tile = asdict(c)
            del tile["latencies_ms"]
            tile.update(
                error=mask_url(c.error) if c.error else None,
                in_fps=point["in_fps"],
                out_fps=point["out_fps"],
                latency_p50_ms=p50,
                latency_p95_ms=p95,
                device=engine["device"],
                precision=engine["precision"],
                streams=sorted(self.feed.streams(c.camera)) if self.feed else [],
                point=point,
            )
            tiles.append(tile)
        self._tiles = tiles
        self.version += 1

    def cameras(self) -> list[str]:
        return [t["camera"] for t in self._tiles]

    def snapshot(self) -> dict[str, Any]:
        """What ``/api/status`` returns and the page shows."""
        return {
            "mode": self.mode,
            "time": time.time(),
            "engine": self.engine(),
            "video": self.feed is not None and self.feed.error is None,
            "video_error": self.feed.error if self.feed is not None else None,
            "cameras": self._tiles,
            "ocr": self.ocr.snapshot() if self.ocr is not None else None,
        }

    def history(self) -> dict[str, list[dict[str, float | None]]]:
        return {cam: list(points) for cam, points in self._history.items()}
