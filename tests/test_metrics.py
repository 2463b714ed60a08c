"""Prometheus metrics from the pipeline's own report and status types (no server)."""

from __future__ import annotations

import json
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamdeblur.dashboard.feed import HeaderStats, viewer_endpoint
from streamdeblur.dashboard.metrics import PipelineMetrics
from streamdeblur.dashboard.monitor import Monitor
from streamdeblur.dashboard.ocrfeed import OcrEventsTail
from streamdeblur.ocr.stats import OcrStats
from streamdeblur.runtime.batch import SourceStats
from streamdeblur.runtime.publish import PublishReport
from streamdeblur.runtime.status import CameraStatus


def values(metrics: PipelineMetrics) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def report(published: int, dropped: int = 0, src_dropped: int = 0, reconnects: int = 0, model: str = "deblur") -> PublishReport:
    src = SourceStats("gate", state="streaming", decoded=100, dropped=src_dropped, reconnects=reconnects)
    return PublishReport("gate", published, dropped, [20.0] * published, published, source=src, model=model, inference_s=0.04 * published)


def test_reports_feed_counters_once():
    engine = {"model": "deblur", "device": "cuda", "precision": "fp16"}
    m = PipelineMetrics(lambda: engine)
    m.observe_report(report(4, src_dropped=3, reconnects=1), publish_raw=True)
    m.observe_report(report(2, dropped=1, src_dropped=5, reconnects=1), publish_raw=True)  # source counts are cumulative
    v = values(m)
    gate = (("camera", "gate"),)
    assert v["streamdeblur_frames_total", (("camera", "gate"), ("stream", "deblurred"))] == 6
    assert v["streamdeblur_frames_total", (("camera", "gate"), ("stream", "raw"))] == 7
    assert v["streamdeblur_dropped_frames_total", (("camera", "gate"), ("stage", "source"))] == 5
    assert v["streamdeblur_dropped_frames_total", (("camera", "gate"), ("stage", "publish"))] == 1
    assert v["streamdeblur_reconnects_total", gate] == 1
    assert v["streamdeblur_latency_seconds_count", gate] == 6
    assert v["streamdeblur_latency_seconds_sum", gate] == pytest.approx(0.12)
    assert v["streamdeblur_latency_seconds_bucket", (("camera", "gate"), ("le", "0.025"))] == 6
    fp16 = (("device", "cuda"), ("precision", "fp16"))
    assert v["streamdeblur_inference_seconds_count", fp16] == 2
    assert v["streamdeblur_inference_seconds_sum", fp16] == pytest.approx(0.04 + 0.08 / 3)
    assert not any(name.endswith("_created") for name, _ in v)


def test_registries_are_separate_and_passthrough_has_no_inference():
    a, b = PipelineMetrics(), PipelineMetrics()
    a.observe_report(report(3, model="none"))
    assert values(a)["streamdeblur_frames_total", (("camera", "gate"), ("stream", "deblurred"))] == 3
    assert not any(name.startswith("streamdeblur_frames") for name, _ in values(b))
    assert not any(name.startswith("streamdeblur_inference") for name, _ in values(a))


def test_ocr_gain_and_counters_exported():
    stats = OcrStats()
    for i in range(4):
        stats.frame("gate", "deblurred", [0.9])
        stats.frame("gate", "raw", [0.6] if i == 0 else [])
    stats.plate("gate", "deblurred", "ABC1234")
    v = values(PipelineMetrics(ocr=stats))
    assert v["streamdeblur_ocr_read_rate_gain", (("camera", "gate"),)] == pytest.approx(0.75)
    assert v["streamdeblur_ocr_plates_total", (("camera", "gate"), ("stream", "deblurred"))] == 1
    assert v["streamdeblur_ocr_plates_total", (("camera", "gate"), ("stream", "raw"))] == 0


def test_monitor_samples_status_into_gauges_and_history():
    st = CameraStatus("gate")
    m = PipelineMetrics(lambda: {"model": "none", "device": "cpu", "precision": "none"})
    mon = Monitor(m, status_provider=lambda: [st], engine_info=lambda: {"model": "none", "device": "cpu", "precision": "none"})
    t = time.monotonic()
    mon.sample(t)
    st.update(report(10, src_dropped=2, model="none"))
    st.latencies_ms.extend([10.0, 20.0, 30.0])
    mon.sample(t + 2.0)
    tile = mon.snapshot()["cameras"][0]
    assert (tile["state"], tile["frames_out"], tile["out_fps"], tile["in_fps"]) == ("streaming", 10, 5.0, 50.0)
    assert tile["point"]["drops"] == 1.0 and tile["device"] == "cpu"
    assert len(mon.history()["gate"]) == 2
    v = values(m)
    assert v["streamdeblur_camera_up", (("camera", "gate"),)] == 1.0
    assert v["streamdeblur_camera_fps", (("camera", "gate"),)] == 50.0


def test_header_stats_count_gaps_and_restarts():
    hs = HeaderStats("gate")
    assert [hs.take(seq, 5.0, "none", 1.0) for seq in (0, 1, 4, 5)] == [0, 0, 2, 0]
    hs.take(0, 5.0, "none", 2.0)
    assert (hs.received, hs.gaps, hs.restarts, hs.state(2.5), hs.state(60.0)) == (5, 2, 1, "streaming", "stalled")


@pytest.mark.parametrize(
    "output, expected",
    [
        ("pub+bind:tcp://127.0.0.1:5555", "sub+connect:tcp://127.0.0.1:5555"),
        ("pub+bind:tcp://0.0.0.0:5555", "sub+connect:tcp://127.0.0.1:5555"),
        ("pub+bind:tcp://*:5555", "sub+connect:tcp://127.0.0.1:5555"),
        ("pub+bind:ipc:///tmp/sd.sock", "sub+connect:ipc:///tmp/sd.sock"),
        ("push+connect:tcp://10.0.0.5:6000", None),  # watching would steal frames
        ("pub+connect:tcp://10.0.0.5:6000", None),
        ("pub+bind:inproc://x", None),
    ],
)
def test_viewer_endpoint(output: str, expected: str | None):
    assert viewer_endpoint(output) == expected


def test_ocr_events_file_follows_the_consumer(tmp_path):
    stats = OcrStats()
    stats.frame("gate", "deblurred", [0.9])
    stats.frame("gate", "raw", [])
    path = tmp_path / "ocr.jsonl"
    tail = OcrEventsTail(path)
    assert tail.snapshot() == {}  # no file yet
    stats_line = json.dumps({"event": "stats", "ts": 1.0, "camera": "gate", **stats.snapshot()["gate"]})
    plate_line = json.dumps({"event": "plate", "ts": 2.0, "camera": "gate", "stream": "raw", "text": "AB12"})
    path.write_text(stats_line + "\n" + plate_line[:10])  # the consumer is mid-line
    assert tail.snapshot()["gate"] == stats.snapshot()["gate"]
    with path.open("a") as f:
        f.write(plate_line[10:] + "\n")
    snap = tail.snapshot()["gate"]
    assert snap["streams"]["raw"]["plate_texts"] == ["AB12"] and snap["streams"]["raw"]["plates"] == 1
    assert ("streamdeblur_ocr_read_rate_gain", (("camera", "gate"),)) in values(PipelineMetrics(ocr=tail))
    path.write_text(json.dumps({"event": "plate", "camera": "lot", "stream": "deblurred", "text": "X1"}) + "\n")  # a new consumer
    assert list(tail.snapshot()) == ["lot"] and tail.snapshot()["lot"]["read_rate_gain"] is None


def test_feed_watches_a_curve_output(tmp_path):
    """The built-in dashboard watches an encrypted output with the publisher's own certificate."""
    import numpy as np

    from conftest import free_port
    from streamdeblur.dashboard.feed import FrameFeed
    from streamdeblur.frame import Frame
    from streamdeblur.transport import Publisher
    from streamdeblur.transport.security import make_keys

    public, secret = make_keys(tmp_path / "keys", "pipeline")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / public.name).write_bytes(public.read_bytes())
    port = free_port()
    pub = Publisher(f"pub+bind:tcp://127.0.0.1:{port}", curve_secret_key=str(secret), curve_authorized_keys=str(allowed))
    feed = FrameFeed(f"tcp://127.0.0.1:{port}", view_fps=30, curve=(str(secret), str(secret))).start()
    try:
        image = np.full((32, 48, 3), 128, np.uint8)
        deadline = time.monotonic() + 10
        seq = 0
        while feed.view("gate", "deblurred") is None and time.monotonic() < deadline:
            pub.publish(Frame("gate", seq, image, capture_ts_ns=time.time_ns()), "deblurred", "none")
            seq += 1
            time.sleep(0.05)
        view = feed.view("gate", "deblurred")
        assert view is not None and view.jpeg[:2] == b"\xff\xd8" and (view.width, view.height) == (48, 32)
    finally:
        feed.stop()
        pub.close()
