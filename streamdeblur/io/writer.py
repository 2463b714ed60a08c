"""PyAV writers: H.264 video files that keep the input's timestamps.

The file is written under a temporary name next to the target and renamed when ``close``
succeeds, so a crash or Ctrl-C never leaves a truncated file under the real name.
"""

from __future__ import annotations

import heapq
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from streamdeblur.errors import StreamDeblurError
from streamdeblur.io.pixels import from_bgr, tag_stream

FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


class OutputError(StreamDeblurError):
    """An output file cannot be created or written."""


def check_output(path: str | os.PathLike) -> Path:
    """Validate an output path before any work is done: known container, writable folder."""
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise OutputError(f"{p}: unsupported output type {p.suffix or '(none)'} (use {', '.join(sorted(FORMATS))})")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{p}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{p}: folder {folder} is not writable")
    if p.is_dir():
        raise OutputError(f"{p}: is a folder")
    return p


class VideoWriter:
    """Write BGR uint8 frames to an H.264 file at exactly ``width`` x ``height``.

    yuv420p, the format every player takes; an odd width or height cannot be 4:2:0, so such
    frames are written yuv444p (High 4:4:4) rather than padded or cropped to another size.

    ``write(image, pts)`` with ``pts`` in ``time_base`` units keeps the source's timing
    (variable frame rate included); without ``pts`` frames are spaced at ``fps``.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, *, fps: float | Fraction = 25, time_base: Fraction | None = None,
                 crf: int = 18, preset: str = "veryfast", codec: str = "libx264") -> None:
        self.path = check_output(path)
        self.tmp = self.path.with_name(f".{self.path.name}.part")
        self.width, self.height = width, height
        rate = Fraction(fps).limit_denominator(100000) if fps else Fraction(25)
        self.time_base = time_base or (1 / rate)
        try:
            self._c = av.open(str(self.tmp), mode="w", format=FORMATS[self.path.suffix.lower()])
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"{self.path}: cannot create: {exc}") from None
        self._s = self._c.add_stream(codec, rate=rate)
        self._s.width, self._s.height = width, height
        self._s.pix_fmt = "yuv444p" if width % 2 or height % 2 else "yuv420p"
        self._s.time_base = self.time_base
        tag_stream(self._s.codec_context)
        self._s.codec_context.time_base = self.time_base
        self._s.options = {"crf": str(crf), "preset": preset}
        self._n = 0
        self._closed = False

    def write(self, image: np.ndarray, pts: int | None = None) -> None:
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame size {image.shape[1]}x{image.shape[0]} != {self.width}x{self.height}")
        frame = from_bgr(image, self._s.pix_fmt)
        frame.pts = pts if pts is not None else int(round(self._n / (self.time_base * Fraction(self._s.average_rate or 25))))
        frame.time_base = self.time_base
        try:
            for packet in self._s.encode(frame):
                self._c.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            self.abort()
            raise OutputError(f"{self.path}: write failed: {exc}") from None
        self._n += 1

    @property
    def frames(self) -> int:
        return self._n

    def close(self) -> None:
        """Finish the file and move it to its real name."""
        if self._closed:
            return
        try:
            for packet in self._s.encode():
                self._c.mux(packet)
            self._c.close()
        except (av.error.FFmpegError, OSError) as exc:
            self.abort()
            raise OutputError(f"{self.path}: write failed: {exc}") from None
        self._closed = True
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Stop and delete the temporary file."""
        if self._closed:
            return
        self._closed = True
        try:
            self._c.close()
        except Exception:  # noqa: BLE001 - already failing; the file is removed below
            pass
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def has_audio(path: str) -> bool:
    with av.open(path) as container:
        return bool(container.streams.audio)


def add_audio(video: str | os.PathLike, audio_src: str, out: str | os.PathLike) -> int:
    """Write ``out`` from the video stream of ``video`` and every audio stream of
    ``audio_src``, both copied packet by packet (no re-encoding), interleaved by time.
    Written under a temporary name and renamed when complete; returns audio packets copied."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.part")
    copied = 0
    try:
        with av.open(str(video)) as vin, av.open(audio_src) as ain, av.open(
            str(tmp), "w", format=FORMATS[out.suffix.lower()]
        ) as dst:
            streams = {("v", vin.streams.video[0].index): dst.add_stream_from_template(vin.streams.video[0])}
            for a in ain.streams.audio:
                streams[("a", a.index)] = dst.add_stream_from_template(a)

            def packets(container: av.container.InputContainer, kind: str, wanted: list):
                for packet in container.demux(*wanted):
                    if packet.dts is not None:
                        yield float(packet.dts * packet.time_base), kind, packet

            merged = heapq.merge(
                packets(vin, "v", [vin.streams.video[0]]),
                packets(ain, "a", list(ain.streams.audio)),
                key=lambda item: item[0],
            )
            for _, kind, packet in merged:
                packet.stream = streams[(kind, packet.stream.index)]
                dst.mux(packet)
                copied += kind == "a"
    except (av.error.FFmpegError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{out}: adding the audio failed: {exc}") from None
    os.replace(tmp, out)
    return copied
