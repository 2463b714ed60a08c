"""The live plate-OCR consumer: ``streamdeblur ocr tcp://127.0.0.1:5555``.

Two threads. The *receiver* drains the ZeroMQ socket as fast as frames come (so the
pipeline's queue to us never fills), pairs ``raw`` and ``deblurred`` frames of a camera by
seq and keeps only the newest complete pair per camera; a pair replaced before it was read
counts as ``dropped``. The *reader* OCRs the newest pair of each camera in turn, votes the
reads per camera and stream, updates :class:`~streamdeblur.ocr.stats.OcrStats` and emits
one JSON event per voted plate (with a small base64 JPEG of the plate, ``thumb_jpeg``). A
camera whose seq goes back (pipeline restarted) starts afresh; ZeroMQ reconnects by itself,
so the consumer may start before or after the pipeline.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from streamdeblur.config import Config, OcrConfig, OutputConfig
from streamdeblur.errors import StreamDeblurError
from streamdeblur.ocr.plates import PlateFormat, clean, plate_shaped, resolve_format
from streamdeblur.ocr.stats import OcrStats
from streamdeblur.ocr.thumbs import plate_thumbnail
from streamdeblur.ocr.voting import Observation, PlateVoter
from streamdeblur.transport import Header, Subscriber
from streamdeblur.transport.endpoint import parse_endpoint, peer_endpoint

RAW_TIMEOUT = 5.0
"""Seconds without a raw frame after which a camera's deblurred frames are read alone."""
PAIR_WINDOW = 64
"""Frames a deblurred frame may wait for its raw partner (and vice versa)."""

Emit = Callable[[dict], None]
STDERR = object()
"""Default summary stream: ``sys.stderr`` as it is when the summary is printed."""


@dataclass(slots=True)
class Job:
    """One camera's frame to OCR: the deblurred image and, when published, the raw one."""

    camera: str
    seq: int
    epoch: int
    images: dict[str, np.ndarray]
    latency_ms: float = 0.0


@dataclass(slots=True)
class _CameraState:
    last: dict[str, int] = field(default_factory=dict)
    pending: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    raw_seen: float = -1e18
    epoch: int = 0


class Pairer:
    """Matches raw and deblurred frames by (camera, seq); counts gaps and restarts."""

    def __init__(self, stats: OcrStats, raw_timeout: float = RAW_TIMEOUT, window: int = PAIR_WINDOW):
        self.stats = stats
        self.raw_timeout = raw_timeout
        self.window = window
        self._cams: dict[str, _CameraState] = {}

    def add(self, header: Header, image: np.ndarray, now: float | None = None) -> Job | None:
        """Take one received frame; returns a job when a frame is ready to read."""
        now = time.monotonic() if now is None else now
        cam = self._cams.setdefault(header.camera, _CameraState())
        stream, seq = header.stream, header.seq
        last = cam.last.get(stream)
        if last is not None and seq < last:  # the pipeline restarted: seq counts from 0 again
            cam.epoch += 1
            self.stats.count(header.camera, restarts=1, unpaired=len(cam.pending))
            cam.pending.clear()
            cam.last.clear()
        elif last is not None and seq == last:
            return None  # duplicate
        elif last is not None and stream == "deblurred" and seq > last + 1:
            self.stats.count(header.camera, missed=seq - last - 1)
        cam.last[stream] = seq
        if stream == "raw":
            cam.raw_seen = now
        paired = now - cam.raw_seen < self.raw_timeout
        self.stats.received(header.camera, stream, paired)
        stale = [s for s in cam.pending if s < seq - self.window or not paired]
        for s in stale:
            del cam.pending[s]
        if stale:
            self.stats.count(header.camera, unpaired=len(stale))
        if stream == "deblurred" and not paired:
            return Job(header.camera, seq, cam.epoch, {"deblurred": image}, header.latency_ms)
        slot = cam.pending.setdefault(seq, {})
        slot[stream] = image
        if "raw" in slot and "deblurred" in slot:
            del cam.pending[seq]
            return Job(header.camera, seq, cam.epoch, slot, header.latency_ms)
        return None


class LatestJobs:
    """Newest job per camera; putting a new one drops (and counts) the unread one."""

    def __init__(self, stats: OcrStats):
        self.stats = stats
        self._jobs: dict[str, tuple[float, Job]] = {}
        self._active = 0
        self._cond = threading.Condition()

    def put(self, job: Job) -> None:
        with self._cond:
            if job.camera in self._jobs:
                self.stats.count(job.camera, dropped=1)
            self._jobs[job.camera] = (time.monotonic(), job)
            self._cond.notify()

    def get(self, timeout: float) -> Job | None:
        """The job waiting longest (fair across cameras), or None after ``timeout``.
        Each job returned must be followed by :meth:`done`."""
        with self._cond:
            if not self._jobs and not self._cond.wait_for(lambda: bool(self._jobs), timeout):
                return None
            camera = min(self._jobs, key=lambda c: self._jobs[c][0])
            self._active += 1
            return self._jobs.pop(camera)[1]

    def done(self) -> None:
        with self._cond:
            self._active -= 1

    def idle(self) -> bool:
        """No job waiting and none being read."""
        with self._cond:
            return not self._jobs and self._active == 0


def plate_observations(boxes, fmt: PlateFormat | None, min_confidence: float, image: np.ndarray | None = None) -> list[Observation]:
    """The text boxes of one frame that can be plates, normalised and format-fixed; with
    the frame ``image``, each carries a thumbnail of its plate."""
    out = []
    for b in boxes:
        text = clean(b.text, fmt)
        if text is not None and b.confidence >= min_confidence and plate_shaped(text, b.width, b.height):
            thumb = plate_thumbnail(image, b.box) if image is not None else None
            out.append(Observation(text, b.confidence, b.box, thumb))
    return out


def consumer_endpoint(output: OutputConfig) -> str:
    """Where a consumer connects to reach a pipeline's output socket."""
    return peer_endpoint(parse_endpoint(output.endpoint, "pub", True))


class OcrConsumer:
    """Reads plates from a pipeline's output; see the module docstring.

    ``formats`` maps camera ids to plate regexes (others use ``cfg.plate_format``);
    ``cameras`` limits the subscription; ``emit`` receives every JSON event (voted plate
    reads and periodic per-camera stats). ``reader`` defaults to the shared EasyOCR reader.
    """

    def __init__(
        self,
        endpoint: str,
        cfg: OcrConfig | None = None,
        *,
        formats: dict[str, str | None] | None = None,
        cameras: list[str] | None = None,
        reader=None,
        emit: Emit | None = None,
        recv_hwm: int = 8,
        device: str = "auto",
    ):
        self.cfg = cfg or OcrConfig()
        self.stats = OcrStats()
        self.emit = emit or (lambda event: None)
        try:  # cheap checks first: a typo must not wait for EasyOCR to load
            parse_endpoint(endpoint, "sub", False)
            self._formats = {cam: resolve_format(f) for cam, f in (formats or {}).items()}
            self._default_format = resolve_format(self.cfg.plate_format)
        except ValueError as exc:
            raise StreamDeblurError(str(exc)) from None
        if reader is None:
            from streamdeblur.ocr.reader import PlateReader

            reader = PlateReader(self.cfg.model_dir, device)
        self.reader = reader
        topics = [f"{c}/" for c in cameras] if cameras else None
        self._sub = Subscriber(endpoint, topics=topics, recv_hwm=recv_hwm)
        self._pairer = Pairer(self.stats)
        self._jobs = LatestJobs(self.stats)
        self._voters: dict[tuple[str, str], PlateVoter] = {}
        self._epochs: dict[str, int] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []

    @classmethod
    def from_config(cls, config: Config, endpoint: str | None = None, **kwargs) -> "OcrConsumer":
        """A consumer for a whole cameras.yaml: its cameras, formats and output endpoint."""
        formats = {cam.id: cam.plate_format or config.ocr.plate_format for cam in config.cameras}
        return cls(endpoint or consumer_endpoint(config.output), config.ocr, formats=formats, **kwargs)

    # --- lifecycle ------------------------------------------------------------------
    def start(self) -> "OcrConsumer":
        for target, name in ((self._receive, "ocr-receiver"), (self._read_loop, "ocr-reader")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        """Stop both threads, emit the reads still owed by open tracks, close the socket."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)
        self._threads.clear()
        for (camera, stream), voter in self._voters.items():
            for read in voter.flush():
                self._emit_read(camera, stream, read)
        self._voters.clear()
        self._sub.close()

    def idle(self) -> bool:
        """Nothing waiting and nothing being read (tests, graceful ends)."""
        return self._jobs.idle()

    def run(self, duration: float | None = None, summary_out: TextIO | None | object = STDERR) -> None:
        """Start, report every ``report_interval`` s until ``duration`` or Ctrl-C, stop."""
        self.start()
        end = None if duration is None else time.monotonic() + duration
        next_report = time.monotonic() + self.cfg.report_interval
        try:
            while not self._stop.is_set() and (end is None or time.monotonic() < end):
                time.sleep(min(0.2, max(0.0, (end or 1e18) - time.monotonic())))
                if time.monotonic() >= next_report:
                    self.report(summary_out)
                    next_report += self.cfg.report_interval
        finally:
            self.stop()
            self.report(summary_out)

    def report(self, summary_out: TextIO | None | object = STDERR) -> None:
        """Emit one ``stats`` event per camera and print the human-readable summary
        (to ``summary_out``: stderr by default, None: not at all)."""
        now = time.time()
        for camera, snap in self.stats.snapshot().items():
            self.emit({"event": "stats", "ts": round(now, 3), "camera": camera, **snap})
        if summary_out is not None:
            print(self.stats.summary(), file=sys.stderr if summary_out is STDERR else summary_out, flush=True)

    # --- threads --------------------------------------------------------------------
    def _receive(self) -> None:
        while not self._stop.is_set():
            msg = self._sub.recv(timeout=0.2)
            if msg is None:
                continue
            try:
                job = self._pairer.add(*msg)
            except Exception as exc:  # a malformed frame must not stop the receiver
                self.errors.append(f"{msg[0].camera} seq {msg[0].seq}: {exc}")
                continue
            if job is not None:
                self._jobs.put(job)

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            job = self._jobs.get(timeout=0.2)
            if job is None:
                continue
            try:
                self._process(job)
            except Exception as exc:  # one bad frame must not kill the consumer
                self.errors.append(f"{job.camera} seq {job.seq}: {exc}")
                self.emit({"event": "error", "camera": job.camera, "seq": job.seq, "error": str(exc)})
            finally:
                self._jobs.done()

    def _process(self, job: Job) -> None:
        if self._epochs.get(job.camera, job.epoch) != job.epoch:
            for key, voter in self._voters.items():
                if key[0] == job.camera:
                    voter.reset()
        self._epochs[job.camera] = job.epoch
        fmt = self._formats.get(job.camera, self._default_format)
        t0 = time.perf_counter()
        for stream, image in job.images.items():
            obs = plate_observations(self.reader.read_frame(image), fmt, self.cfg.min_confidence, image)
            self.stats.frame(job.camera, stream, [o.confidence for o in obs])
            voter = self._voters.get((job.camera, stream))
            if voter is None:
                voter = self._voters[(job.camera, stream)] = PlateVoter(self.cfg.vote_frames, fmt=fmt)
            for read in voter.update(job.seq, obs):
                self._emit_read(job.camera, stream, read)
        self.stats.ocr_time(job.camera, time.perf_counter() - t0)
        self.stats.count(job.camera, processed=1)

    def _emit_read(self, camera: str, stream: str, read) -> None:
        self.stats.plate(camera, stream, read.text)
        self.emit({
            "event": "plate", "ts": round(time.time(), 3), "camera": camera, "stream": stream,
            "text": read.text, "confidence": read.confidence, "votes": read.votes, "frames": read.frames,
            "seq_first": read.seq_first, "seq_last": read.seq_last, "thumb_jpeg": read.thumb,
        })


def json_lines(out: TextIO) -> Emit:
    """An ``emit`` that writes each event as one JSON line (thread-safe)."""
    lock = threading.Lock()

    def emit(event: dict) -> None:
        with lock:
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
            out.flush()

    return emit
