"""The live dashboard of a real pipeline (Ray, PyAV, ZeroMQ) on the bundled clip, watched
by a real headless Chromium (Debian's, driven by Playwright), plus /metrics and tokens."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from prometheus_client.parser import text_string_to_metric_families

from conftest import DEMO_CLIP, ROOT, free_port
from streamdeblur.config import parse_config
from streamdeblur.dashboard.ocrfeed import MAX_READS, OcrEventsTail
from streamdeblur.dashboard.server import DashboardServer, for_pipeline
from streamdeblur.ocr.consumer import json_lines
from streamdeblur.ocr.stats import OcrStats
from streamdeblur.ocr.thumbs import plate_thumbnail
from streamdeblur.runtime.graph import Pipeline

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = "t0k3n-for-tests"
ARTIFACTS = ROOT / "artifacts"


def http(url: str, token: str | None = TOKEN, headers: dict | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``url`` (Bearer token unless None); returns (status, body) for errors too."""
    req = urllib.request.Request(url, headers={**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus exposition, keyed by (name, sorted labels)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    status, body = http(url + "metrics")
    assert status == 200
    return samples(body.decode())


def wait_for(predicate, timeout: float, what: str, period: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(period)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def ocr_events(path: Path, *events: dict) -> None:
    """Append events to a consumer's JSON-lines file, written by the consumer's own writer."""
    with path.open("a") as f:
        emit = json_lines(f)
        for event in events:
            emit(event)


def plate_photo(text: str) -> np.ndarray:
    """A 640x360 frame with a white plate reading ``text`` at (200, 150)-(440, 210)."""
    frame = np.full((360, 640, 3), 60, np.uint8)
    cv2.rectangle(frame, (200, 150), (440, 210), (255, 255, 255), -1)
    cv2.putText(frame, text, (212, 196), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (0, 0, 0), 3)
    return frame


def plate_event(text: str, stream: str = "deblurred", confidence: float = 0.9, **extra) -> dict:
    """A ``plate`` event as the consumer writes it, thumbnail made by the consumer's helper."""
    thumb = plate_thumbnail(plate_photo(text), (200.0, 150.0, 440.0, 210.0))
    return {"event": "plate", "ts": time.time(), "camera": "carpark", "stream": stream, "text": text,
            "confidence": confidence, "votes": 3, "frames": 3, "seq_first": 1, "seq_last": 3, "thumb_jpeg": thumb, **extra}


def recorded_ocr() -> OcrStats:
    """The OCR consumer's real statistics object, fed the events of a short run."""
    stats = OcrStats()
    for i in range(12):
        for stream in ("raw", "deblurred"):
            stats.received("carpark", stream, paired=True)
        stats.count("carpark", processed=1)
        stats.frame("carpark", "deblurred", [0.81] if i % 2 else [])
        stats.frame("carpark", "raw", [0.52] if i % 4 == 1 else [])
    for text in ("ABC1234", "XYZ9876"):
        stats.plate("carpark", "deblurred", text)
    stats.plate("carpark", "raw", "ABC1Z34")
    return stats


@pytest.fixture(scope="module")
def live(ray_cluster, tmp_path_factory):
    """A real pipeline on the bundled clip with its dashboard, pumping in the background;
    the OCR panel follows a consumer's JSON-lines file (the consumer runs in its own process)."""
    zport, hport = free_port(), free_port()
    events = tmp_path_factory.mktemp("ocr") / "ocr.jsonl"
    ocr_events(events, *({"event": "stats", "ts": time.time(), "camera": c, **snap} for c, snap in recorded_ocr().snapshot().items()))
    cfg = parse_config(
        {
            # hwaccel: NVDEC where there is one, else the CPU (the tile says which)
            "cameras": [{"id": "carpark", "url": str(DEMO_CLIP), "loop": True, "realtime": True, "resize": [480, 270],
                         "hwaccel": "cuda"}],
            "output": {"endpoint": f"pub+bind:tcp://127.0.0.1:{zport}", "publish_raw": True},
            "dashboard": {"port": hport, "token": TOKEN, "view_fps": 5},
            "model": {"name": "none"},
        },
        "test",
    )
    pipeline = Pipeline(cfg)
    dashboard = for_pipeline(pipeline, ocr_stats=OcrEventsTail(events))
    pipeline.start()
    pump = threading.Thread(target=pipeline.run, kwargs={"duration": 120, "on_report": dashboard.on_report}, daemon=True)
    pump.start()
    try:
        yield pipeline, dashboard, zport, events
    finally:
        pipeline.stop_event.set()
        pump.join(timeout=10)
        pipeline.close()
        dashboard.stop()
    assert not listening(hport), "the dashboard port is still open after stop()"


def test_browser_shows_live_tiles(live, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: apt-get install chromium (make setup does it)"
    _, dashboard, _, events = live
    tile = '.tile[data-camera="carpark"]'
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900}
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{dashboard.url}?token={TOKEN}")
            for stream in ("deblurred", "raw"):
                page.wait_for_selector(f'{tile} figure[data-stream="{stream}"] img[data-seq]', timeout=20_000)
            # numbers come from the sampler: a few seconds of frames for rates and plots
            page.wait_for_function(
                f"""() => ["in_fps", "out_fps", "latency_p50_ms", "latency_p95_ms", "frames_out"].every(f =>
                    parseFloat(document.querySelector('{tile} dd[data-field="' + f + '"]').textContent) > 0)""",
                timeout=20_000,
            )
            img = page.locator(f'{tile} figure[data-stream="deblurred"] img')
            seq1, shot1 = int(img.get_attribute("data-seq")), img.screenshot()
            page.wait_for_timeout(1500)
            seq2, shot2 = int(img.get_attribute("data-seq")), img.screenshot()
            assert seq2 > seq1 and shot1 != shot2, "the live view did not change"
            assert page.locator(f"{tile} .state").inner_text() == "streaming"
            assert page.locator(f'{tile} dd[data-field="device"]').inner_text() == "cpu none"
            decoder = page.locator(f'{tile} dd[data-field="decoder"]').inner_text()
            assert decoder == "cpu" if not torch.cuda.is_available() else decoder in ("cpu", "cuda")
            assert page.locator("#conn").inner_text() == "live"
            drawn = page.evaluate(
                f"""() => [...document.querySelectorAll('{tile} canvas')].map(c =>
                    c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 == 3 && v > 0))"""
            )
            assert drawn == [True, True, True], "a plot is blank"
            ocr = page.locator('.ocr-card[data-camera="carpark"]')
            assert ocr.locator(".gain").inner_text() == "gain +25.0 pts"
            # before any plate event, the texts of the stats report (no thumbnail, no confidence)
            assert ocr.locator("ul.reads li .plate").all_inner_texts() == ["XYZ9876", "ABC1234", "ABC1Z34"]
            assert ocr.locator("ul.reads li .tag").all_inner_texts() == ["deblurred", "deblurred", "raw"]
            assert ocr.locator("ul.reads img").count() == 0
            hostile = plate_event("<b>X</b>", "raw", 0.4, thumb_jpeg='x" onerror="alert(1)')
            ocr_events(events, hostile, plate_event("NEW0001"))  # reads between two stats reports show at once
            page.wait_for_function(
                """() => { const img = document.querySelector('.ocr-card[data-camera="carpark"] ul.reads li img.thumb');
                           return img && img.complete && img.naturalWidth > 0; }""",
                timeout=5_000,
            )
            first, second = ocr.locator("ul.reads li").nth(0), ocr.locator("ul.reads li").nth(1)
            assert first.locator(".plate").inner_text() == "NEW0001" and first.locator(".conf").inner_text() == "0.90"
            assert first.locator(".tag").inner_text() == "deblurred"
            thumb = first.locator("img.thumb")
            assert thumb.get_attribute("src").startswith("data:image/jpeg;base64,") and thumb.get_attribute("alt") == "plate NEW0001"
            sent = cv2.imdecode(np.frombuffer(base64.b64decode(plate_event("NEW0001")["thumb_jpeg"]), np.uint8), cv2.IMREAD_COLOR)
            assert sent.shape[:2] == (48, 159)  # the 258x78 crop around the plate, shrunk to 48 px high
            assert thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [159, 48]
            assert thumb.evaluate("img => img.getBoundingClientRect().width") > 0  # laid out, not hidden
            # event text is text, a thumbnail that is not base64 never reaches the page
            assert second.locator(".plate").inner_text() == "<b>X</b>" and second.locator(".tag").inner_text() == "raw"
            assert second.locator("img, b").count() == 0
            thumb.evaluate("img => { img.dataset.probe = 'kept'; }")  # the next status re-renders the panel...
            page.wait_for_timeout(1500)
            assert thumb.get_attribute("data-probe") == "kept"  # ...and keeps the same <img>: no reload, no flicker
            ocr_events(events, *(plate_event(f"MAN{i:04d}", "raw" if i % 2 else "deblurred") for i in range(MAX_READS + 2)))
            page.wait_for_function(
                """() => document.querySelector('.ocr-card ul.reads li .plate').textContent === "MAN0009" """, timeout=5_000
            )
            assert ocr.locator("ul.reads li").count() == MAX_READS and ocr.locator("ul.reads li img.thumb").count() == MAX_READS
            assert ocr.locator("ul.reads li .tag").all_inner_texts()[:2] == ["raw", "deblurred"]
            page.select_option("#view", "deblurred")
            page.wait_for_selector(f'{tile} figure[data-stream="raw"]', state="hidden", timeout=5_000)
            page.select_option("#view", "both")
            page.wait_for_selector(f'{tile} figure[data-stream="raw"]', state="visible", timeout=5_000)
            page.wait_for_timeout(600)
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"dashboard screenshot: {shot}")
            assert not errors, errors
        finally:
            browser.close()


def test_ocr_tail_passes_on_the_last_reads_and_their_thumbnails(tmp_path: Path):
    """What the panel gets of the consumer's plate events: the last few, thumbnails checked."""
    path = tmp_path / "ocr.jsonl"
    tail = OcrEventsTail(path)
    ocr_events(path, {"event": "stats", "ts": 1.0, "camera": "carpark", **recorded_ocr().snapshot()["carpark"]})
    assert "reads" not in tail.snapshot()["carpark"]  # a stats report alone: the consumer's numbers as they are
    good = plate_event("ABC1234")
    ocr_events(
        path, good, plate_event("X", thumb_jpeg="not base64!"), plate_event("Y", thumb_jpeg="A" * 40_000),
        plate_event("Z", "raw", thumb_jpeg=None, extra="not passed on"),
    )  # fmt: skip
    reads = tail.snapshot()["carpark"]["reads"]
    assert reads[0] == {"ts": good["ts"], "stream": "deblurred", "text": "ABC1234", "confidence": 0.9, "thumb_jpeg": good["thumb_jpeg"]}
    rejected = [(r["text"], r["stream"], r["thumb_jpeg"]) for r in reads[1:]]
    assert rejected == [("X", "deblurred", None), ("Y", "deblurred", None), ("Z", "raw", None)]  # not base64, too big, none
    assert all(set(r) == {"ts", "stream", "text", "confidence", "thumb_jpeg"} for r in reads)
    ocr_events(path, *(plate_event(f"MAN{i:04d}") for i in range(20)))
    reads = tail.snapshot()["carpark"]["reads"]
    assert [r["text"] for r in reads] == [f"MAN{i:04d}" for i in range(20 - MAX_READS, 20)]  # bounded, oldest first
    assert all(len(r["thumb_jpeg"]) < 8_000 for r in reads)
    path.write_text("")  # a new consumer's file
    assert tail.snapshot() == {}


def test_metrics_parse_and_grow(live):
    _, dashboard, *_ = live
    frames = ("streamdeblur_frames_total", (("camera", "carpark"), ("stream", "deblurred")))
    first = wait_for(lambda: (m := scrape(dashboard.url)).get(frames, 0) > 0 and m, 20, "frames in /metrics")
    time.sleep(1.5)
    second = scrape(dashboard.url)
    cam = (("camera", "carpark"),)
    assert second[frames] > first[frames]
    assert second["streamdeblur_frames_total", (("camera", "carpark"), ("stream", "raw"))] > 0
    assert second["streamdeblur_latency_seconds_count", cam] > first["streamdeblur_latency_seconds_count", cam]
    assert second["streamdeblur_camera_up", cam] == 1.0 and second["streamdeblur_camera_fps", cam] > 0
    assert ("streamdeblur_dropped_frames_total", (("camera", "carpark"), ("stage", "source"))) in second
    assert ("streamdeblur_reconnects_total", cam) in second
    assert second["streamdeblur_engine_info", (("device", "cpu"), ("model", "none"), ("precision", "none"))] == 1.0
    assert second["streamdeblur_ocr_read_rate_gain", cam] == pytest.approx(0.25)
    status, body = http(dashboard.url + "api/status")
    snap = json.loads(body)
    assert status == 200 and snap["cameras"][0]["frames_out"] > 0 and snap["ocr"]["carpark"]["plates_gain"] == 1


def test_token_and_video_endpoints(live):
    _, dashboard, *_ = live
    url = dashboard.url
    for path in ("", "api/status", "api/history", "metrics", "ws", "video/carpark/deblurred.mjpg", "snapshot/carpark/raw.jpg"):
        assert http(url + path, token=None)[0] == 401, path
        assert http(url + path, token="wrong")[0] == 403, path
    assert http(url + "healthz", token=None) == (200, b"ok\n")
    assert http(url + "static/app.js", token=None)[0] == 200
    status, page = http(f"{url}?token={TOKEN}", token=None)
    assert status == 200 and b"tile-tpl" in page
    assert http(url + "ws", headers={"Origin": "http://evil.example"})[0] == 403
    assert http(url + "video/nosuchcam/deblurred.mjpg")[0] == 404
    req = urllib.request.Request(url + "video/carpark/deblurred.mjpg", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        chunk = b""
        while chunk.count(b"\xff\xd8") < 2:
            chunk += resp.read1(65536)
    assert chunk.startswith(b"--streamdeblurframe\r\nContent-Type: image/jpeg")
    status, jpeg = http(url + "snapshot/carpark/raw.jpg")
    assert status == 200 and jpeg[:2] == b"\xff\xd8"


def test_attached_dashboard_cli(live):
    """``streamdeblur dashboard tcp://...`` from another process: status from headers."""
    _, _, zport, _ = live
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamdeblur", "dashboard", f"tcp://127.0.0.1:{zport}", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "STREAMDEBLUR_DASHBOARD_TOKEN": TOKEN},
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        assert proc.stdout.readline().startswith(f"streamdeblur: dashboard of tcp://127.0.0.1:{zport} on {url} (token required)")

        def streaming():
            cams = json.loads(http(url + "api/status")[1])["cameras"]
            return cams and cams[0]["state"] == "streaming" and cams[0]["in_fps"] > 0 and cams[0]["latency_p50_ms"] and cams[0]

        cam = wait_for(streaming, 20, "the attached dashboard to see frames")
        assert cam["camera"] == "carpark" and cam["streams"] == ["deblurred", "raw"] and cam["model"] == "none"
        metrics = scrape(url)
        assert metrics["streamdeblur_frames_total", (("camera", "carpark"), ("stream", "raw"))] > 0
        assert ("streamdeblur_dropped_frames_total", (("camera", "carpark"), ("stage", "upstream"))) in metrics
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert "dashboard stopped" in proc.stdout.read()
        assert not listening(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_port_in_use_is_one_line():
    from streamdeblur.config import DashboardConfig
    from streamdeblur.errors import StreamDeblurError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StreamDeblurError) as err:
            DashboardServer(DashboardConfig(port=port), endpoint=None).start()
    msg = str(err.value)
    assert msg == f"dashboard: cannot listen on 127.0.0.1:{port}: address already in use (set dashboard.port, or dashboard.enabled: false)"
