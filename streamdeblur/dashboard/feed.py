"""The dashboard's view of the video: a ZeroMQ subscriber thread on the pipeline's output.

It keeps, per camera and stream, the newest frame as a JPEG (re-encoded at most
``view_fps`` times a second, scaled to ``max_width``) and, per camera, what the headers
tell: frames received, seq gaps (frames dropped upstream), end-to-end latency, model.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from streamdeblur.errors import StreamDeblurError
from streamdeblur.transport import Subscriber
from streamdeblur.transport.endpoint import parse_endpoint, peer_endpoint

STALE_S = 5.0
IDLE_S = 10.0
"""A feed that is not ``always_on`` unsubscribes when no view was asked for this long."""


@dataclass(slots=True)
class ViewFrame:
    """The newest JPEG of one camera stream."""

    jpeg: bytes
    seq: int
    width: int
    height: int
    ts: float


@dataclass
class HeaderStats:
    """One camera as seen from its published headers."""

    camera: str
    first_seq: int | None = None
    last_seq: int | None = None
    received: int = 0
    gaps: int = 0
    restarts: int = 0
    model: str = "-"
    last_ts: float = 0.0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=256))

    def take(self, seq: int, latency_ms: float | None, model: str, now: float) -> int:
        """Count one deblurred frame; returns the seq gap before it (0 when in order)."""
        gap = 0
        if self.last_seq is not None and seq > self.last_seq:
            gap = seq - self.last_seq - 1
        elif self.last_seq is not None:
            self.restarts += 1  # seq went back: the pipeline restarted
        if self.first_seq is None:
            self.first_seq = seq
        self.last_seq = seq
        self.received += 1
        self.gaps += gap
        self.model = model
        self.last_ts = now
        if latency_ms is not None:
            self.latencies_ms.append(latency_ms)
        return gap

    def state(self, now: float) -> str:
        if not self.received:
            return "connecting"
        return "streaming" if now - self.last_ts < STALE_S else "stalled"


def viewer_endpoint(output: str) -> str | None:
    """Where a subscriber can watch a pipeline whose output is ``output``; None when the
    socket cannot be watched without taking frames from its consumers (push, connect)."""
    try:
        ep = parse_endpoint(output, "sub", False)
    except ValueError:
        return None
    if ep.socket != "pub" or not ep.bind or ep.address.startswith("inproc://"):
        return None
    return peer_endpoint(ep)


class FrameFeed:
    """Subscribes to ``endpoint`` in a background thread; ``on_header`` sees every frame.

    Unless ``always_on`` (an attached dashboard, whose numbers come from the headers), it
    subscribes only while someone watches, so an unwatched dashboard costs the pipeline
    nothing.
    """

    def __init__(
        self,
        endpoint: str,
        view_fps: float = 5.0,
        jpeg_quality: int = 75,
        max_width: int = 960,
        on_header=None,
        always_on: bool = True,
        curve: tuple[str | None, str | None] = (None, None),
    ):
        self.endpoint = endpoint
        self.always_on = always_on
        self.curve = curve
        """CURVE (server public key file, client secret file), as for ``Subscriber``."""
        self.view_period = 1.0 / view_fps
        self.jpeg_quality = jpeg_quality
        self.max_width = max_width
        self.on_header = on_header
        self.cameras: dict[str, HeaderStats] = {}
        self._views: dict[tuple[str, str], ViewFrame] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wanted_at = -IDLE_S
        self.error: str | None = None
        self._sub: Subscriber | None = self._subscribe() if always_on else None
        self._thread = threading.Thread(target=self._loop, name="dashboard-feed", daemon=True)

    def _subscribe(self) -> Subscriber:
        return Subscriber(self.endpoint, recv_hwm=16, curve_server_key=self.curve[0], curve_client_key=self.curve[1])

    def start(self) -> "FrameFeed":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    def view(self, camera: str, stream: str) -> ViewFrame | None:
        """The newest frame of a view (asking keeps the feed subscribed)."""
        self._wanted_at = time.monotonic()
        with self._lock:
            return self._views.get((camera, stream))

    def streams(self, camera: str) -> list[str]:
        with self._lock:
            return [s for (c, s) in self._views if c == camera]

    def header_stats(self) -> list[HeaderStats]:
        with self._lock:
            return list(self.cameras.values())

    def _loop(self) -> None:
        while not self._stop.is_set():
            watched = self.always_on or time.monotonic() - self._wanted_at < IDLE_S
            if watched and self._sub is None:
                try:
                    self._sub = self._subscribe()
                except StreamDeblurError as exc:  # e.g. an unreadable CURVE key: no video, say why
                    self.error = str(exc)
                    return
            elif not watched and self._sub is not None:
                self._sub.close()
                self._sub = None
            if self._sub is None:
                self._stop.wait(0.2)
                continue
            msg = self._sub.recv(timeout=0.2)
            if msg is None:
                continue
            header, image = msg
            now = time.monotonic()
            latency = header.end_to_end_ms if header.capture_ts_ns else None
            with self._lock:
                gap = 0
                if header.stream == "deblurred":
                    cam = self.cameras.get(header.camera) or self.cameras.setdefault(header.camera, HeaderStats(header.camera))
                    gap = cam.take(header.seq, latency, header.model, now)
                key = (header.camera, header.stream)
                old = self._views.get(key)
                due = old is None or now - old.ts >= self.view_period
            if self.on_header is not None:
                self.on_header(header.camera, header.stream, None if latency is None else latency / 1000.0, gap)
            if due:
                view = self._encode(image, header.seq, now)
                if view is not None:
                    with self._lock:
                        self._views[key] = view

    def _encode(self, image: np.ndarray, seq: int, now: float) -> ViewFrame | None:
        h, w = image.shape[:2]
        if w > self.max_width:
            image = cv2.resize(image, (self.max_width, round(h * self.max_width / w)), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            return None
        return ViewFrame(buf.tobytes(), seq, w, h, now)
