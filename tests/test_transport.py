"""Publisher and Subscriber over real ZeroMQ sockets on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from conftest import synthetic_image
from streamdeblur.errors import StreamDeblurError
from streamdeblur.frame import Frame
from streamdeblur.transport import Publisher, Subscriber


def test_publish_subscribe_topics(endpoint: str):
    pub = Publisher("pub+bind:" + endpoint)
    sub = Subscriber(endpoint, topics=["b/"])
    time.sleep(0.3)  # let the subscription reach the publisher
    for cam in ("a", "b"):
        for seq in range(3):
            pub.publish(Frame(cam, seq, synthetic_image(seq, 32, 16), capture_ts_ns=time.time_ns()), "deblurred", "none")
    got = []
    while (msg := sub.recv(timeout=1.0)) is not None:
        got.append(msg)
    assert [(h.camera, h.seq) for h, _ in got] == [("b", 0), ("b", 1), ("b", 2)]
    np.testing.assert_array_equal(got[2][1], synthetic_image(2, 32, 16))
    assert all(h.end_to_end_ms >= 0 for h, _ in got)
    pub.close()
    sub.close()


def test_subscriber_skips_garbage(endpoint: str):
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.PUB)
    raw.bind(endpoint)
    sub = Subscriber(endpoint)
    time.sleep(0.3)
    raw.send_multipart([b"x/raw", b"not json", b""])
    pub_frame = Frame("x", 0, synthetic_image(0, 8, 8))
    from streamdeblur.transport import wire

    raw.send_multipart(wire.encode(pub_frame, "raw", "none"))
    header, _ = sub.recv(timeout=2.0)
    assert header.camera == "x" and sub.bad_messages == 1
    raw.close(0)
    sub.close()


def test_port_in_use_is_one_line(endpoint: str):
    first = Publisher("pub+bind:" + endpoint)
    with pytest.raises(StreamDeblurError, match=r"output endpoint pub\+bind:tcp://127.0.0.1:\d+: address already in use"):
        Publisher("pub+bind:" + endpoint)
    first.close()


def test_push_socket_never_blocks_without_consumer(endpoint: str):
    pub = Publisher("push+bind:" + endpoint, send_hwm=2)
    t0 = time.monotonic()
    results = [pub.publish(Frame("c", i, synthetic_image(i, 16, 16)), "raw", "none") for i in range(20)]
    assert time.monotonic() - t0 < 1.0
    assert not any(results) and pub.dropped == 20
    pub.close()


def test_curve_encrypts_and_authenticates(tmp_path: Path, endpoint: str):
    from streamdeblur.transport.security import make_keys

    server_pub, server_secret = make_keys(tmp_path / "server", "server")
    good_pub, good_secret = make_keys(tmp_path / "good", "client")
    _, bad_secret = make_keys(tmp_path / "bad", "intruder")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "client.key").write_bytes(good_pub.read_bytes())

    pub = Publisher("pub+bind:" + endpoint, curve_secret_key=str(server_secret), curve_authorized_keys=str(allowed))
    good = Subscriber(endpoint, curve_server_key=str(server_pub), curve_client_key=str(good_secret))
    bad = Subscriber(endpoint, curve_server_key=str(server_pub), curve_client_key=str(bad_secret))
    plain = Subscriber(endpoint)
    time.sleep(0.8)
    for seq in range(3):
        pub.publish(Frame("c", seq, synthetic_image(seq, 16, 16)), "raw", "none")
    assert [good.recv(timeout=2.0)[0].seq for _ in range(3)] == [0, 1, 2]
    assert bad.recv(timeout=0.5) is None  # unknown client key: refused
    assert plain.recv(timeout=0.5) is None  # no CURVE: no handshake
    for s in (good, bad, plain):
        s.close()
    pub.close()


def test_curve_bad_key_file_is_one_line(tmp_path: Path, endpoint: str):
    missing = tmp_path / "nope.key_secret"
    with pytest.raises(StreamDeblurError, match=r"CURVE key .*nope.key_secret: cannot load"):
        Publisher("pub+bind:" + endpoint, curve_secret_key=str(missing))
    from streamdeblur.transport.security import make_keys

    public, _ = make_keys(tmp_path, "server")
    with pytest.raises(StreamDeblurError, match="has no secret key"):
        Publisher("pub+bind:" + endpoint, curve_secret_key=str(public))
