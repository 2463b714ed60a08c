"""The live OCR consumer over real ZeroMQ on loopback, with real EasyOCR and real plates."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from conftest import SHARED_DATA
from streamdeblur.config import OcrConfig, parse_config
from streamdeblur.frame import Frame
from streamdeblur.ocr.consumer import OcrConsumer
from streamdeblur.ocr.plates import char_accuracy, clean, resolve_format
from streamdeblur.synth import synth_clip
from streamdeblur.transport import Publisher

PLATES = SHARED_DATA / "plates"
pytestmark = pytest.mark.skipif(not PLATES.is_dir(), reason="shared plate photos not available")


@pytest.fixture(scope="module")
def reader():
    from streamdeblur.ocr.reader import PlateReader

    return PlateReader(device="cpu")


@pytest.fixture(scope="module")
def plate_clip():
    """A real plate (br/HPM9362, scaled to 128 px wide) in a 320x192 view: sharp and
    synthesized-blurred frames, like a deblurred and a raw stream."""
    photo = cv2.imread(str(PLATES / "br" / "HPM9362.jpg"))
    x, y, w, h = 584, 673, 259, 84
    s = 128 / w
    photo = cv2.resize(photo, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    cx, cy = int((x + w / 2) * s), int((y + h / 2) * s)
    view = np.ascontiguousarray(photo[cy - 96 : cy + 96, cx - 160 : cx + 160])
    return synth_clip(view, 6, seed=3)


def wait(cond, timeout: float = 60.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def count(consumer: OcrConsumer, camera: str, key: str, stream: str | None = None) -> int:
    """One counter of a camera's stats (0 before its first frame)."""
    snap = consumer.stats.snapshot().get(camera, {})
    value = snap.get(key, {}) if stream else snap.get(key, 0)
    return value.get(stream, 0) if stream else value


def bind(endpoint: str, tries: int = 50) -> Publisher:
    """A publisher on ``endpoint``; retries while the previous one's port is released."""
    for _ in range(tries):
        try:
            return Publisher("pub+bind:" + endpoint)
        except Exception:
            time.sleep(0.1)
    raise AssertionError(f"cannot bind {endpoint}")


def sync(pub: Publisher, consumer: OcrConsumer, n: int) -> None:
    """Publish probe frames until the consumer has seen ``n`` of them (slow joiner)."""
    probe = np.zeros((16, 16, 3), np.uint8)
    seq = 0
    while count(consumer, "probe", "received", "deblurred") < n:
        pub.publish(Frame("probe", seq, probe), "deblurred", "test")
        seq += 1
        time.sleep(0.05)
        assert seq < 400, "consumer never connected"
    wait(consumer.idle, what="probe frames read")


def test_consumer_pairs_votes_and_survives_restart(reader, plate_clip, endpoint: str):
    events: list[dict] = []
    consumer = OcrConsumer(endpoint, OcrConfig(vote_frames=3), formats={"gate": "br"}, reader=reader, emit=events.append)
    consumer.start()  # before the pipeline exists: ZeroMQ connects when it appears
    try:
        pub = bind(endpoint)
        sync(pub, consumer, 1)
        for seq in range(4):  # paced: one pair at a time, nothing dropped
            pub.publish(Frame("gate", seq, plate_clip.blurred[seq], capture_ts_ns=time.time_ns()), "raw", "test")
            pub.publish(Frame("gate", seq, plate_clip.sharp[seq], capture_ts_ns=time.time_ns()), "deblurred", "test")
            wait(lambda: count(consumer, "gate", "processed") == seq + 1, what=f"pair {seq}")
        snap = consumer.stats.snapshot()["gate"]
        assert snap["received"] == {"deblurred": 4, "raw": 4}
        assert (snap["processed"], snap["dropped"], snap["missed"], snap["unpaired"], snap["restarts"]) == (4, 0, 0, 0, 0)
        assert snap["paired"] and snap["keep_up"] == 1.0
        deb = snap["streams"]["deblurred"]
        assert deb["frames"] == 4 and snap["streams"]["raw"]["frames"] == 4
        assert deb["plates"] == 1 and deb["plate_texts"] == ["HPM9362"] and deb["read_rate"] >= 0.75
        read = next(e for e in events if e["event"] == "plate" and e["stream"] == "deblurred")
        assert read["camera"] == "gate" and read["text"] == "HPM9362" and read["votes"] >= 2
        # the read carries a small JPEG of the plate, cut from the frame that read it best
        assert isinstance(read["thumb_jpeg"], str) and len(read["thumb_jpeg"]) < 8_000  # an event stays a few KB
        thumb = cv2.imdecode(np.frombuffer(base64.b64decode(read["thumb_jpeg"], validate=True), np.uint8), cv2.IMREAD_COLOR)
        assert thumb is not None and 0 < thumb.shape[0] <= 48 and thumb.shape[0] < thumb.shape[1] <= 160
        shown = reader.read_plate(thumb)  # and it shows that plate (small and JPEG'd: one misread allowed)
        assert shown is not None and char_accuracy(clean(shown.text, resolve_format("br")), "HPM9362") >= 0.85

        pub.close()  # the pipeline restarts: same address, seq from 0 again
        pub = bind(endpoint)
        sync(pub, consumer, 2)
        pub.publish(Frame("gate", 0, plate_clip.blurred[0]), "raw", "test")
        pub.publish(Frame("gate", 0, plate_clip.sharp[0]), "deblurred", "test")
        wait(lambda: count(consumer, "gate", "processed") == 5, what="a pair after the restart")
        snap = consumer.stats.snapshot()["gate"]
        assert snap["restarts"] == 1 and snap["received"] == {"deblurred": 5, "raw": 5}
        assert snap["missed"] == 0 and snap["dropped"] == 0 and snap["unpaired"] == 0
        pub.close()
    finally:
        consumer.stop()
    assert not consumer.errors
    consumer.report(summary_out=None)
    stats = [e for e in events if e["event"] == "stats" and e["camera"] == "gate"]
    assert stats and stats[-1]["processed"] == 5


def test_consumer_drops_when_behind_and_counts_every_frame(reader, plate_clip, endpoint: str):
    consumer = OcrConsumer(endpoint, OcrConfig(vote_frames=3), reader=reader).start()
    pub = bind(endpoint)
    try:
        sync(pub, consumer, 1)
        n = 24
        for seq in range(n):  # a burst far faster than OCR
            pub.publish(Frame("gate", seq, plate_clip.blurred[seq % 6]), "raw", "test")
            pub.publish(Frame("gate", seq, plate_clip.sharp[seq % 6]), "deblurred", "test")
        wait(lambda: count(consumer, "gate", "received", "deblurred") == n, what="burst received")
        wait(consumer.idle, what="OCR to finish")
        snap = consumer.stats.snapshot()["gate"]
    finally:
        pub.close()
        consumer.stop()
    assert snap["received"] == {"deblurred": n, "raw": n}
    assert snap["processed"] + snap["dropped"] == n and snap["missed"] == 0 and snap["unpaired"] == 0
    assert 1 <= snap["processed"] < n and snap["dropped"] >= 1
    assert snap["streams"]["deblurred"]["frames"] == snap["streams"]["raw"]["frames"] == snap["processed"]
    assert snap["keep_up"] == pytest.approx(snap["processed"] / n, abs=1e-3)


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt, stream.options = "yuv420p", {"preset": "ultrafast", "crf": "18"}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_consumer_on_a_real_pipeline(ray_cluster, reader, plate_clip, tmp_path: Path, endpoint: str):
    """Ray actors decode an H.264 clip of a plate and publish raw + deblurred frames; the
    consumer's counts match what the pipeline sent."""
    from streamdeblur.runtime.graph import Pipeline

    frames = [plate_clip.blurred[i % 6] for i in range(20)]
    clip = write_clip(tmp_path / "plate.mp4", frames)
    cfg = parse_config({
        # paced at the clip's 25 fps: an offline burst of 40 messages can overflow the
        # consumer's small receive queue on a loaded machine (PUB drops at the high-water mark)
        "cameras": [{"id": "gate", "url": str(clip), "realtime": True, "plate_format": "[A-Z]{3}[0-9]{4}"}],
        "output": {"endpoint": "pub+bind:" + endpoint, "publish_raw": True},
        "model": {"name": "none"},  # raw and deblurred identical: their reads must agree frame by frame
        "ocr": {"vote_frames": 3},
    }, "test")
    consumer = OcrConsumer.from_config(cfg, reader=reader).start()
    pipe = Pipeline(cfg)
    try:
        pipe.start()
        time.sleep(0.5)  # the subscription reaches the publisher before frames flow
        summary = pipe.run(None)
    finally:
        pipe.close()
    try:
        wait(lambda: count(consumer, "gate", "received", "deblurred") == 20, 10, "all frames")
        wait(consumer.idle, what="OCR to finish")
        snap = consumer.stats.snapshot()["gate"]
    finally:
        consumer.stop()
    assert summary["gate"]["frames_out"] == 20
    assert snap["received"] == {"deblurred": 20, "raw": 20} and snap["paired"]
    assert snap["processed"] + snap["dropped"] == 20 and snap["missed"] == 0 and snap["unpaired"] == 0
    # model "none": raw and deblurred are the same pixels, so the same seq reads the same
    deb, raw = snap["streams"]["deblurred"], snap["streams"]["raw"]
    assert deb["frames"] == raw["frames"] == snap["processed"] >= 1
    assert deb["frames_read"] == raw["frames_read"] and snap["read_rate_gain"] == 0.0


def test_ocr_command_writes_json_lines(reader, plate_clip, tmp_path: Path, endpoint: str, capsys):
    """``streamdeblur ocr ENDPOINT --json-out FILE --duration S`` end to end (in-process)."""
    import json
    import threading

    from streamdeblur.ocr.__main__ import main

    out = tmp_path / "ocr.jsonl"
    args = ["ocr", endpoint, "--json-out", str(out), "--duration", "4.5", "--vote-frames", "2",
            "--plate-format", "br", "--report-interval", "1", "--device", "cpu"]
    rc: list[int] = []
    t = threading.Thread(target=lambda: rc.append(main(args)))
    t.start()
    pub = bind(endpoint)
    try:
        time.sleep(1.0)  # the command connects while the publisher waits
        for seq in range(3):
            pub.publish(Frame("gate", seq, plate_clip.sharp[seq]), "deblurred", "test")
            time.sleep(0.6)
        t.join(30)
    finally:
        pub.close()
    assert rc == [0]
    events = [json.loads(line) for line in out.read_text().splitlines()]
    stats = [e for e in events if e["event"] == "stats"]
    assert stats and stats[-1]["camera"] == "gate" and not stats[-1]["paired"]
    assert stats[-1]["received"]["deblurred"] == 3 and stats[-1]["processed"] + stats[-1]["dropped"] == 3
    plates = [e for e in events if e["event"] == "plate"]
    assert [e["text"] for e in plates] == ["HPM9362"]
    assert cv2.imdecode(np.frombuffer(base64.b64decode(plates[0]["thumb_jpeg"]), np.uint8), cv2.IMREAD_COLOR).shape[0] <= 48
    err = capsys.readouterr().err
    assert "[ocr] gate:" in err and "plate HPM9362" in err


def test_spawned_consumer_next_to_a_pipeline_stops_cleanly(tmp_path: Path, endpoint: str):
    """``ocr.enabled``: the consumer runs as its own process and stops when the pipeline does (SIGTERM)."""
    import json

    from streamdeblur.ocr.launch import spawn_consumer, stop_consumer

    cfg = tmp_path / "cams.yaml"
    cfg.write_text(
        f"cameras: [{{id: gate, url: none.mp4}}]\noutput: {{endpoint: 'pub+bind:{endpoint}'}}\n"
        "ocr: {enabled: true, report_interval: 0.5}\n"
    )
    out = tmp_path / "ocr.jsonl"
    proc = spawn_consumer(cfg, json_out=str(out))
    pub = bind(endpoint)
    try:
        blank = np.full((32, 64, 3), 128, np.uint8)
        seq, end = 0, time.monotonic() + 60
        while not (out.exists() and '"received":{"deblurred":' in out.read_text()):
            assert time.monotonic() < end and proc.poll() is None, "consumer never reported"
            pub.publish(Frame("gate", seq, blank), "deblurred", "test")
            seq += 1
            time.sleep(0.1)
    finally:
        pub.close()
        rc = stop_consumer(proc)
    assert rc == 0
    last = [json.loads(line) for line in out.read_text().splitlines()][-1]
    assert last["event"] == "stats" and last["camera"] == "gate" and 1 <= last["received"]["deblurred"] <= seq
