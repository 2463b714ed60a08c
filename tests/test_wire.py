"""Wire format v1: exact keys, round trips, and rejection of malformed messages."""

from __future__ import annotations

import json
import time
from fractions import Fraction

import numpy as np
import pytest

from conftest import synthetic_image
from streamdeblur.frame import Frame
from streamdeblur.transport import wire
from streamdeblur.transport.endpoint import parse_endpoint

DESIGN_KEYS = {
    "v", "camera", "stream", "seq", "pts", "time_base", "capture_ts_ns", "publish_ts_ns",
    "width", "height", "encoding", "model", "latency_ms",
}


def make_frame() -> Frame:
    return Frame("gate", 42, synthetic_image(3, 64, 48), pts=3600, time_base=Fraction(1, 90000), capture_ts_ns=time.time_ns())


def test_bgr24_round_trip_is_exact():
    frame = make_frame()
    parts = wire.encode(frame, "deblurred", "fusion")
    assert bytes(parts[0]) == b"gate/deblurred"
    header = json.loads(parts[1])
    assert set(header) == DESIGN_KEYS
    assert header["v"] == 1 and header["time_base"] == "1/90000" and header["encoding"] == "bgr24"
    decoded, image = wire.decode([bytes(p) for p in parts])
    assert decoded.seq == 42 and decoded.pts == 3600 and (decoded.width, decoded.height) == (64, 48)
    np.testing.assert_array_equal(image, frame.image)
    back = wire.to_frame(decoded, image)
    assert back.time_base == Fraction(1, 90000) and back.camera == "gate"


def test_jpeg_round_trip_is_close():
    frame = make_frame()
    parts = wire.encode(frame, "raw", "none", encoding="jpeg", jpeg_quality=95)
    assert bytes(parts[2])[:2] == b"\xff\xd8"
    header, image = wire.decode([bytes(p) for p in parts])
    assert header.encoding == "jpeg" and image.shape == frame.image.shape
    assert np.abs(image.astype(int) - frame.image).mean() < 6


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: p[:2], "expected 3 message parts"),
        (lambda p: [p[0], b"{not json", p[2]], "bad header"),
        (lambda p: [p[0], p[1].replace(b'"v":1', b'"v":9'), p[2]], "unsupported wire version 9"),
        (lambda p: [p[0], p[1], p[2][:-1]], "payload is"),
        (lambda p: [p[0], p[1].replace(b'"bgr24"', b'"yuv"'), p[2]], "unknown encoding"),
    ],
)
def test_malformed_messages_are_rejected(mutate, message):
    parts = [bytes(p) for p in wire.encode(make_frame(), "raw", "none")]
    with pytest.raises(wire.WireError, match=message):
        wire.decode(mutate(parts))


def test_no_pickle_in_wire_format():
    parts = [bytes(p) for p in wire.encode(make_frame(), "raw", "none")]
    json.loads(parts[1])  # plain JSON header
    assert b"\x80\x04" not in parts[1] and b"\x80\x05" not in parts[1]


def test_endpoint_strings():
    e = parse_endpoint("pub+bind:tcp://127.0.0.1:5555", "sub", False)
    assert (e.socket, e.bind, e.address) == ("pub", True, "tcp://127.0.0.1:5555")
    e = parse_endpoint("tcp://127.0.0.1:5555", "sub", False)
    assert (e.socket, e.bind) == ("sub", False) and str(e) == "sub+connect:tcp://127.0.0.1:5555"
    with pytest.raises(ValueError, match="socket must be one of"):
        parse_endpoint("pubb+bind:tcp://x:1", "pub", True)
    with pytest.raises(ValueError, match="expected e.g."):
        parse_endpoint("127.0.0.1:5555", "pub", True)
