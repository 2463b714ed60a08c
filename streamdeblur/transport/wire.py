"""ZeroMQ wire format, version 1 (see DESIGN.md): ``[topic, header, payload]``.

- topic: ``b"<camera>/<stream>"``, stream ``deblurred`` or ``raw``;
- header: UTF-8 JSON with the keys of :class:`Header`;
- payload: the frame's bytes in ``header.encoding`` (``bgr24`` rows, or a JPEG file).

Nothing is ever unpickled: a message is JSON plus raw bytes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from fractions import Fraction

import cv2
import numpy as np

from streamdeblur.frame import Frame

VERSION = 1
STREAMS = ("deblurred", "raw")
ENCODINGS = ("bgr24", "jpeg")


class WireError(ValueError):
    """A message that does not follow the wire format."""


@dataclass(slots=True)
class Header:
    v: int
    camera: str
    stream: str
    seq: int
    pts: int | None
    time_base: str | None
    capture_ts_ns: int
    publish_ts_ns: int
    width: int
    height: int
    encoding: str
    model: str
    latency_ms: float

    @property
    def topic(self) -> bytes:
        return topic(self.camera, self.stream)

    @property
    def end_to_end_ms(self) -> float:
        """Capture-to-now latency as seen by the receiver (same host clock)."""
        return (time.time_ns() - self.capture_ts_ns) / 1e6


def topic(camera: str, stream: str) -> bytes:
    return f"{camera}/{stream}".encode()


def encode(frame: Frame, stream: str, model: str, encoding: str = "bgr24", jpeg_quality: int = 90) -> list[bytes]:
    """Build the three message parts for one frame."""
    if stream not in STREAMS:
        raise WireError(f"unknown stream {stream!r}")
    image = np.ascontiguousarray(frame.image)
    if encoding == "bgr24":
        payload = image.data
    elif encoding == "jpeg":
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        if not ok:
            raise WireError("JPEG encoding failed")
        payload = buf.data
    else:
        raise WireError(f"unknown encoding {encoding!r}")
    now = time.time_ns()
    header = Header(
        v=VERSION,
        camera=frame.camera,
        stream=stream,
        seq=frame.seq,
        pts=frame.pts,
        time_base=str(frame.time_base) if frame.time_base is not None else None,
        capture_ts_ns=frame.capture_ts_ns,
        publish_ts_ns=now,
        width=frame.width,
        height=frame.height,
        encoding=encoding,
        model=model,
        latency_ms=round((now - frame.capture_ts_ns) / 1e6, 3) if frame.capture_ts_ns else 0.0,
    )
    return [header.topic, json.dumps(asdict(header), separators=(",", ":")).encode(), payload]


def decode(parts: list[bytes] | list[memoryview]) -> tuple[Header, np.ndarray]:
    """Parse a received message into its header and a BGR image."""
    if len(parts) != 3:
        raise WireError(f"expected 3 message parts, got {len(parts)}")
    try:
        fields = json.loads(bytes(parts[1]))
        header = Header(**fields)
    except (ValueError, TypeError) as exc:
        raise WireError(f"bad header: {exc}") from None
    if header.v != VERSION:
        raise WireError(f"unsupported wire version {header.v}")
    payload = parts[2]
    if header.encoding == "bgr24":
        expected = header.width * header.height * 3
        if len(payload) != expected:
            raise WireError(f"payload is {len(payload)} bytes, expected {expected}")
        image = np.frombuffer(payload, dtype=np.uint8).reshape(header.height, header.width, 3)
    elif header.encoding == "jpeg":
        image = cv2.imdecode(np.frombuffer(payload, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise WireError("payload is not a JPEG image")
    else:
        raise WireError(f"unknown encoding {header.encoding!r}")
    return header, image


def to_frame(header: Header, image: np.ndarray) -> Frame:
    """A received message as the pipeline's frame type."""
    return Frame(
        camera=header.camera,
        seq=header.seq,
        image=image,
        pts=header.pts,
        time_base=Fraction(header.time_base) if header.time_base else None,
        capture_ts_ns=header.capture_ts_ns,
    )
