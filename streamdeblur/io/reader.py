"""PyAV readers: video files and RTSP streams, yielding :class:`~streamdeblur.frame.Frame`.

RTSP opens over TCP with open and read timeouts, so a dead camera raises
:class:`SourceError` instead of hanging. Files can loop and be paced at their timestamps
(``realtime``), which makes a file behave like a live camera. ``hwaccel`` decodes on a
hardware device (FFmpeg's hwaccel through PyAV, e.g. ``cuda`` for NVDEC) and falls back to
the CPU, with one warning, where the device cannot be opened.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.logging
from av.codec.hwaccel import HWAccel

from streamdeblur.errors import SourceError
from streamdeblur.frame import Frame
from streamdeblur.io.pixels import to_bgr
from streamdeblur.logutil import mask_url

# FFmpeg's own messages (one per damaged packet) would flood the status lines: problems are
# counted (ReadStats.corrupt) and reported by the pipeline instead.
av.logging.set_level(av.logging.FATAL)
log = logging.getLogger(__name__)


def open_container(
    url: str, open_timeout: float = 10.0, read_timeout: float = 10.0, hwaccel: str | None = None
) -> av.container.InputContainer:
    """Open a file or stream with PyAV, turning every failure into one clear line.

    ``hwaccel``: a device type of :func:`hardware_decoders` to decode on. Where its device
    cannot be opened, the container opens for CPU decoding instead, with one warning per
    process (later opens go straight to the CPU)."""
    shown = mask_url(url)
    is_stream = "://" in url
    if not is_stream and not Path(url).is_file():
        raise SourceError(f"{shown}: no such file")
    options: dict[str, str] = {}
    if url.startswith(("rtsp://", "rtsps://")):
        # TCP: no UDP packet loss on busy networks; 'timeout' is the socket I/O timeout (µs).
        options = {"rtsp_transport": "tcp", "timeout": str(int(read_timeout * 1e6))}
    timeout = (open_timeout, read_timeout)
    hw_error = None
    if hwaccel and hwaccel not in _BROKEN_DEVICES:
        try:
            return _checked(av.open(url, options=options, timeout=timeout, hwaccel=HWAccel(hwaccel)), shown)
        except _SOURCE_ERRORS as exc:  # the source itself: no second try
            raise _source_error(exc, shown) from None
        except (av.error.FFmpegError, OSError) as exc:
            hw_error = _reason(exc)  # the device, or a source error of another kind: the plain open tells
    try:
        container = _checked(av.open(url, options=options, timeout=timeout), shown)
    except (av.error.FFmpegError, OSError) as exc:
        raise _source_error(exc, shown) from None
    if hw_error is not None:
        _BROKEN_DEVICES[hwaccel] = hw_error
        log.warning("%s: hardware decoding (%s) unavailable: %s; decoding on the CPU", shown, hwaccel, hw_error)
    return container


_BROKEN_DEVICES: dict[str, str] = {}
"""Hardware device types that failed to open in this process, and why."""
_WARNED: set[tuple[str, str]] = set()
"""(device type, codec) pairs already warned about: the device could not take the codec."""
_SOURCE_ERRORS = (av.error.FileNotFoundError, av.error.InvalidDataError, av.error.ExitError, ConnectionError, TimeoutError)


def _decoder_in_use(stream: av.video.stream.VideoStream, hwaccel: str | None) -> str:
    """``cpu`` or ``hwaccel``: FFmpeg decodes on the CPU where the device cannot take the
    stream's codec or profile (warned once per device and codec)."""
    if not hwaccel or hwaccel in _BROKEN_DEVICES:
        return "cpu"
    if stream.codec_context.is_hwaccel:
        return hwaccel
    key = (hwaccel, stream.codec_context.name)
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning("hardware decoding (%s) cannot decode this %s stream; decoding on the CPU", *key)
    return "cpu"


def _source_error(exc: Exception, shown: str) -> SourceError:
    if isinstance(exc, FileNotFoundError):
        return SourceError(f"{shown}: no such file")
    if isinstance(exc, av.error.InvalidDataError):
        return SourceError(f"{shown}: not a video file (cannot find a known container format)")
    return SourceError(f"{shown}: cannot open: {_reason(exc)}")


def _checked(container: av.container.InputContainer, shown: str) -> av.container.InputContainer:
    if not container.streams.video:
        container.close()
        raise SourceError(f"{shown}: has no video stream")
    return container


def hardware_decoders() -> list[str]:
    """Hardware device types this FFmpeg build can decode on (``cameras[].hwaccel``)."""
    return list(av.codec.hwaccel.hwdevices_available())


def check_hwaccel(name: str) -> str:
    """``name`` if this FFmpeg knows that hardware device type, else a ValueError naming those it knows."""
    known = hardware_decoders()
    if name not in known:
        raise ValueError(f"{name!r} is not a hardware decoder of this FFmpeg (it has: {', '.join(known) or 'none'})")
    return name


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def probe(url: str) -> dict[str, object]:
    """Width, height, frame rate, frame count and duration of a video file.

    ``frames`` is the count the file's header gives (None where the container keeps none,
    e.g. Matroska); ``frames_estimated`` is that count or else duration x frame rate, for
    progress bars only."""
    with open_container(url) as container:
        vs = container.streams.video[0]
        fps = float(vs.average_rate) if vs.average_rate else None
        if vs.duration and vs.time_base:
            duration = float(vs.duration * vs.time_base)
        else:
            duration = container.duration / av.time_base if container.duration else None
        frames = vs.frames or None
        return {
            "width": vs.codec_context.width,
            "height": vs.codec_context.height,
            "fps": fps,
            "frames": frames,
            "frames_estimated": frames or (round(duration * fps) if duration and fps else None),
            "duration_s": duration,
            "codec": vs.codec_context.name,
        }


def read_frames(
    url: str,
    camera: str = "video",
    *,
    loop: bool = False,
    realtime: bool = False,
    fps_cap: float | None = None,
    resize: tuple[int, int] | None = None,
    open_timeout: float = 10.0,
    read_timeout: float = 10.0,
    start_seq: int = 0,
    stats: "ReadStats | None" = None,
    hwaccel: str | None = None,
) -> Iterator[Frame]:
    """Decode ``url`` frame by frame as BGR :class:`Frame` objects.

    ``seq`` keeps counting across loops. Undecodable packets are skipped and counted in
    ``stats.corrupt``; a stream that ends (or breaks) simply stops the iterator, except a
    stream that yields nothing at all, which raises :class:`SourceError`. ``hwaccel``: see
    :func:`open_container`; ``stats.decoder`` tells where frames were decoded.
    """
    stats = stats if stats is not None else ReadStats()
    seq = start_seq
    cap = FpsCap(fps_cap) if fps_cap else None
    while True:
        container = open_container(url, open_timeout, read_timeout, hwaccel)
        produced = 0
        t0_wall: float | None = None
        t0_media: float | None = None
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        try:
            for frame in _decode(container, vs, stats):
                media_t = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None
                if realtime and media_t is not None:
                    if t0_wall is None:
                        t0_wall, t0_media = time.monotonic(), media_t
                    wait = (media_t - t0_media) - (time.monotonic() - t0_wall)
                    if wait > 0:
                        time.sleep(wait)
                if not produced:
                    stats.decoder = _decoder_in_use(vs, hwaccel)
                produced += 1
                if cap is not None and not cap.keep(media_t):
                    stats.skipped += 1
                    continue
                # a resize happens inside the one YUV -> BGR conversion (swscale): half the time
                # of converting at full size and resizing the BGR copy (docs/BENCHMARKS.md)
                image = to_bgr(frame, resize)
                stats.decoded += 1
                yield Frame(
                    camera=camera,
                    seq=seq,
                    image=image,
                    pts=frame.pts,
                    time_base=Fraction(frame.time_base) if frame.time_base is not None else None,
                    capture_ts_ns=time.time_ns(),
                )
                seq += 1
        finally:
            _close(container, vs)
        if produced == 0:
            raise SourceError(f"{mask_url(url)}: no decodable video frames")
        if not loop:
            return
        stats.loops += 1
        if cap is not None:
            cap.new_pass()


class FpsCap:
    """Keeps at most ``fps`` frames a second: a frame is kept once the clock reaches the next
    due time, and due times advance by whole periods, so 25 fps capped at 10 keeps 10 a second
    (not the 8.3 that "at least 1/10 s since the last kept" gives).

    The clock is the stream's own timestamps, so a busy machine that decodes late drops no
    more than the cap asks, continued across the passes of a looped file; frames whose
    timestamps are missing or do not advance (some cameras send constant ones) are counted
    on ``wall`` instead, so such a stream is capped, not cut to its first frame.
    """

    def __init__(self, fps: float, wall: Callable[[], float] = time.monotonic) -> None:
        self.gap = 1.0 / fps
        self.due: float | None = None
        self._wall = wall
        self._now = 0.0
        self._offset = 0.0
        self._first: float | None = None
        self._last: float | None = None

    def new_pass(self) -> None:
        """A looped file starts again: its timestamps restart, the clock goes on."""
        self._offset, self._first, self._last = self._now + self.gap / 2, None, None

    def keep(self, media_t: float | None) -> bool:
        """Whether the frame with timestamp ``media_t`` (seconds, or None) is kept."""
        if media_t is not None and (self._last is None or media_t > self._last):
            self._first = media_t if self._first is None else self._first
            self._now = self._offset + media_t - self._first
        else:
            self._now = self._wall()
        self._last = media_t if media_t is not None else self._last
        due, t = self.due, self._now
        if due is not None and due - self.gap < t < due - 1e-6:
            return False
        # behind by a period or more, or the clock jumped: count again from ``t``
        on_time = due is not None and due - self.gap < t < due + self.gap
        self.due = due + self.gap if on_time else t + self.gap
        return True


def _close(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> None:
    """Close a container, draining a decoder left mid-stream first: closing FFmpeg's frame
    threads with frames still in flight can deadlock once torch and Ray are loaded in the
    process (PyAV issues 1849 / 1861; seen here as a hung test)."""
    try:
        for _ in stream.decode(None):
            pass
    except (av.error.FFmpegError, OSError, ValueError):
        pass
    container.close()


def first_frames(url: str, n: int, resize: tuple[int, int] | None = None) -> list:
    """The first ``n`` frames of a file as BGR arrays (scaled to ``resize``): benchmark input."""
    return [f.image for f in itertools.islice(read_frames(url, "sample", resize=resize), n)]


class ReadStats:
    """Counters a reader keeps while it decodes."""

    __slots__ = ("decoded", "skipped", "corrupt", "loops", "decoder")

    def __init__(self) -> None:
        self.decoder = "cpu"
        """Where the last opened stream decodes: ``cpu`` or the hardware device type."""
        self.decoded = 0
        self.skipped = 0
        self.corrupt = 0
        self.loops = 0


def _decode(container: av.container.InputContainer, stream: av.video.stream.VideoStream, stats: ReadStats) -> Iterator[av.VideoFrame]:
    """Demux and decode, skipping (and counting) packets the decoder rejects."""
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.error.InvalidDataError:
                stats.corrupt += 1
    except av.error.EOFError:
        return
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceError(f"{mask_url(container.name)}: stream broke: {_reason(exc)}") from None
