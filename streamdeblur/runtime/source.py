"""The camera source: decodes one camera in a background thread into a bounded queue.

Live cameras (RTSP, or files paced in ``realtime``) keep the newest frames: when the
queue is full the oldest frame is dropped and counted, and a request takes the newest
frames (dropping older ones), so a slow pipeline never makes latency or memory grow.
Offline files never drop: the decoder waits for room instead.

RTSP cameras that fail to open, stall (no data for ``read_timeout``) or end are reopened
with exponential back-off and jitter, forever or up to ``max_reconnects`` attempts in a
row; the state moves connecting -> streaming -> reconnecting -> streaming ... or failed.

Run as a Ray actor by the pipeline graph (which restarts it if its process dies and calls
``start(next_seq)`` so numbering continues); usable as a plain object in-process.
"""

from __future__ import annotations

import random
import threading
import time
import warnings
from collections import deque
from dataclasses import replace

from streamdeblur.config import CameraConfig
from streamdeblur.errors import StreamDeblurError
from streamdeblur.frame import Frame
from streamdeblur.io.reader import ReadStats, read_frames
from streamdeblur.logutil import mask_url
from streamdeblur.runtime.introspect import Introspect
from streamdeblur.runtime.batch import Batch, BatchInfo, SourceStats


def was_restarted() -> bool:
    """True inside a Ray actor that Ray has restarted after its process died."""
    import ray

    if not ray.is_initialized():
        return False
    try:
        with warnings.catch_warnings():  # Ray 2.60's property reads its own deprecated actor_id
            warnings.simplefilter("ignore", DeprecationWarning)
            return bool(ray.get_runtime_context().was_current_actor_reconstructed)
    except (AssertionError, RuntimeError):  # not in an actor (a plain object in the driver)
        return False


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Seconds before reconnect attempt ``attempt`` (1-based): doubling, capped, +-25% jitter."""
    base = min(maximum, initial * 2 ** (attempt - 1))
    return base * rng.uniform(0.75, 1.25)


class CameraSource(Introspect):
    """Reads one camera; ``get`` hands out its frames in order."""

    def __init__(self, camera: CameraConfig, queue_size: int = 8):
        self.camera = camera
        self.queue_size = queue_size
        self._queue: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._read = ReadStats()
        self._stats = SourceStats(camera=camera.id, pid=self.pid())
        self._next_seq = 0
        self._thread: threading.Thread | None = None
        self._rng = random.Random()
        self._restarted = was_restarted()

    def start(self, next_seq: int = 0) -> None:
        """Begin decoding, numbering frames from ``next_seq``. An offline file skips the
        frames before it (a restarted source resumes where the last one stopped). Does
        nothing when already started."""
        with self._cond:
            if self._thread is not None:
                return
            self._next_seq = next_seq
            self._thread = threading.Thread(target=self._run, name=f"source-{self.camera.id}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        cam = self.camera
        attempt = 0
        skip_until = self._next_seq if not cam.is_live else 0
        while not self._stop.is_set():
            error: str | None = None
            try:
                for frame in read_frames(
                    cam.url,
                    cam.id,
                    loop=cam.loop,
                    realtime=cam.realtime,
                    fps_cap=cam.fps,
                    resize=cam.resize,
                    open_timeout=cam.open_timeout,
                    read_timeout=cam.read_timeout,
                    start_seq=0 if skip_until else self._next_seq,
                    stats=self._read,
                    hwaccel=cam.hwaccel,
                ):
                    if self._stop.is_set():
                        break
                    if frame.seq < skip_until:
                        continue
                    skip_until = 0
                    attempt = 0
                    self._next_seq = frame.seq + 1
                    self._put(frame)
            except StreamDeblurError as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - a camera must never take the pipeline down
                error = f"{mask_url(cam.url)}: {type(exc).__name__}: {exc}"
            if self._stop.is_set():
                break
            if not cam.is_rtsp:
                self._finish("failed" if error else "ended", error)
                return
            attempt += 1
            if cam.max_reconnects is not None and attempt > cam.max_reconnects:
                why = error or "stream ended"
                self._finish("failed", f"gave up after {cam.max_reconnects} reconnect attempts: {why}")
                return
            delay = backoff_delay(attempt, cam.reconnect_initial, cam.reconnect_max, self._rng)
            with self._cond:
                self._stats.state = "reconnecting" if self._stats.state != "connecting" else "connecting"
                self._stats.error = f"{error or 'stream ended'}; retrying in {delay:.1f} s"
                self._stats.reconnects += 1
            self._stop.wait(delay)
        self._finish("ended", None)

    def _finish(self, state: str, error: str | None) -> None:
        with self._cond:
            self._stats.state = state
            self._stats.error = error
            self._cond.notify_all()

    def _put(self, frame: Frame) -> None:
        with self._cond:
            self._stats.state = "streaming"
            self._stats.error = None
            if self.camera.is_live:
                if len(self._queue) >= self.queue_size:
                    self._queue.popleft()
                    self._stats.dropped += 1
            else:
                while len(self._queue) >= self.queue_size and not self._stop.is_set():
                    self._cond.wait(0.5)
            self._queue.append(frame)
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        return self._stats.state in ("ended", "failed")

    def get(self, max_frames: int, timeout: float = 1.0) -> tuple[Batch, BatchInfo]:
        """Up to ``max_frames`` frames, waiting at most ``timeout`` s for the first one,
        and a :class:`BatchInfo` (a second, tiny return value the driver fetches alone).

        The batch is marked ``ended`` once the stream is over and the queue is empty. A source
        that Ray restarted starts only when told where to resume (``start``): until then its
        batches are empty and marked ``waiting`` (decoding from 0 would repeat frames).
        """
        if not self._restarted:
            self.start(self._next_seq)
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._queue and not self.finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if self.camera.is_live and len(self._queue) > max_frames:
                # behind: a live camera serves its newest frames; the older ones are dropped
                for _ in range(len(self._queue) - max_frames):
                    self._queue.popleft()
                    self._stats.dropped += 1
            frames = [self._queue.popleft() for _ in range(min(max_frames, len(self._queue)))]
            self._cond.notify_all()
            ended = self.finished and not self._queue
            stats = self.stats()
            first = frames[0].seq if frames else self._next_seq
            info = BatchInfo(first_seq=first, count=len(frames), ended=ended, source=stats, waiting=self._thread is None)
            return Batch(camera=self.camera.id, frames=frames, ended=ended, source=stats), info

    def stats(self) -> SourceStats:
        """A snapshot of the counters."""
        read = self._read
        return replace(self._stats, decoded=read.decoded, skipped=read.skipped, corrupt=read.corrupt, decoder=read.decoder)

    def stop(self) -> None:
        """Stop decoding (the thread ends at its next frame)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
