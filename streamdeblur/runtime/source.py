"""The camera source: decodes one camera in a background thread into a bounded queue.

Live cameras (RTSP, or files paced in ``realtime``) keep the newest frames: when the
queue is full the oldest frame is dropped and counted, so a slow pipeline never makes
latency or memory grow. Offline files never drop: the decoder waits for room instead.
Run as a Ray actor by the pipeline graph; usable as a plain object in-process.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import replace

from streamdeblur.config import CameraConfig
from streamdeblur.errors import StreamDeblurError
from streamdeblur.frame import Frame
from streamdeblur.io.reader import ReadStats, read_frames
from streamdeblur.runtime.batch import Batch, SourceStats


class CameraSource:
    """Reads one camera; ``get`` hands out its frames in order."""

    def __init__(self, camera: CameraConfig, queue_size: int = 8):
        self.camera = camera
        self.queue_size = queue_size
        self._queue: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._read = ReadStats()
        self._stats = SourceStats(camera=camera.id)
        self._thread = threading.Thread(target=self._run, name=f"source-{camera.id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        cam = self.camera
        try:
            frames = read_frames(
                cam.url,
                cam.id,
                loop=cam.loop,
                realtime=cam.realtime,
                fps_cap=cam.fps,
                resize=cam.resize,
                open_timeout=cam.open_timeout,
                read_timeout=cam.read_timeout,
                stats=self._read,
            )
            for frame in frames:
                if self._stop.is_set():
                    break
                self._put(frame)
            final_state, error = "ended", None
        except StreamDeblurError as exc:
            final_state, error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a camera must never take the pipeline down
            final_state, error = "failed", f"{cam.id}: {type(exc).__name__}: {exc}"
        with self._cond:
            self._stats.state = final_state
            self._stats.error = error
            self._cond.notify_all()

    def _put(self, frame: Frame) -> None:
        with self._cond:
            self._stats.state = "streaming"
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

    def get(self, max_frames: int, timeout: float = 1.0) -> Batch:
        """Up to ``max_frames`` frames, waiting at most ``timeout`` s for the first one.

        The batch is marked ``ended`` once the stream is over and the queue is empty.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._queue and not self.finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            frames = [self._queue.popleft() for _ in range(min(max_frames, len(self._queue)))]
            self._cond.notify_all()
            ended = self.finished and not self._queue
            return Batch(camera=self.camera.id, frames=frames, ended=ended, source=self.stats())

    def stats(self) -> SourceStats:
        """A snapshot of the counters."""
        return replace(self._stats, decoded=self._read.decoded, skipped=self._read.skipped, corrupt=self._read.corrupt)

    def stop(self) -> None:
        """Stop decoding (the thread ends at its next frame)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
