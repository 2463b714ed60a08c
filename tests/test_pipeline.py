"""The pipeline end to end: real Ray actors, real PyAV decode, real ZeroMQ on loopback."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import decode_direct, write_clip
from streamdeblur.config import parse_config
from streamdeblur.runtime.graph import Pipeline
from streamdeblur.transport import Subscriber


def config(endpoint: str, cameras: list[dict], **sections) -> object:
    """A config for these cameras; passthrough (``model: none``) unless a model is given."""
    data = {"cameras": cameras, "output": {"endpoint": "pub+bind:" + endpoint}, "model": {"name": "none"}, **sections}
    return parse_config(data, "test")


def collect(sub: Subscriber, until: threading.Event, idle: float = 2.0) -> list:
    got = []
    while True:
        msg = sub.recv(timeout=idle)
        if msg is None:
            if until.is_set():
                return got
            continue
        got.append(msg)


def run_with_subscriber(cfg, endpoint: str, topics=None, duration=None, engine_info: dict | None = None):
    """Start the pipeline, connect a subscriber, pump until done; returns (summary, messages).
    ``engine_info``: filled with the pipeline's description of its deblur engine."""
    pipe = Pipeline(cfg)
    pipe.start()
    sub = Subscriber(endpoint, topics=topics, recv_hwm=100_000)
    time.sleep(0.5)  # subscription reaches the publisher before frames flow
    done = threading.Event()
    result: dict = {}

    def pump():
        try:
            result["summary"] = pipe.run(duration)
        finally:
            pipe.close()
            done.set()

    t = threading.Thread(target=pump)
    t.start()
    got = collect(sub, done)
    t.join()
    sub.close()
    if engine_info is not None:
        engine_info.update(pipe.engine_info)
    return result["summary"], got


def test_offline_delivers_every_frame_in_order(ray_cluster, clip: Path, endpoint: str):
    cfg = config(endpoint, [{"id": "cam1", "url": str(clip), "realtime": False}], pipeline={"queue_size": 4, "batch_size": 3})
    summary, got = run_with_subscriber(cfg, endpoint)
    ref = decode_direct(clip)
    assert summary["cam1"]["state"] == "ended"
    assert summary["cam1"]["frames_out"] == len(ref) and summary["cam1"]["dropped"] == 0
    assert [h.seq for h, _ in got] == list(range(len(ref)))
    for (header, image), expected in zip(got, ref):
        assert header.camera == "cam1" and header.stream == "deblurred" and header.model == "none"
        assert (header.width, header.height, header.encoding) == (160, 96, "bgr24")
        assert header.time_base is not None and header.pts is not None
        assert header.publish_ts_ns >= header.capture_ts_ns > 0
        np.testing.assert_array_equal(image, expected)
    pts = [h.pts for h, _ in got]
    assert pts == sorted(pts)


def test_two_cameras_raw_and_deblurred_streams(ray_cluster, tmp_path: Path, endpoint: str):
    a = write_clip(tmp_path / "a.mp4", frames=12)
    b = write_clip(tmp_path / "b.mp4", frames=17, width=96, height=64)
    cfg = config(
        endpoint,
        [{"id": "a", "url": str(a), "realtime": False}, {"id": "b", "url": str(b), "realtime": False}],
        output={"endpoint": "pub+bind:" + endpoint, "publish_raw": True},
    )
    summary, got = run_with_subscriber(cfg, endpoint)
    by_topic: dict[str, list[int]] = {}
    for h, _ in got:
        by_topic.setdefault(f"{h.camera}/{h.stream}", []).append(h.seq)
    assert by_topic == {
        "a/raw": list(range(12)), "a/deblurred": list(range(12)),
        "b/raw": list(range(17)), "b/deblurred": list(range(17)),
    }
    assert summary["a"]["frames_out"] == 12 and summary["b"]["frames_out"] == 17


def test_offline_through_deblur_actor_keeps_order(ray_cluster, clip: Path, endpoint: str):
    """A (slow) deblur actor in the path: offline mode still delivers every frame in order."""
    cfg = config(
        endpoint,
        [{"id": "cam1", "url": str(clip), "realtime": False}],
        model={"name": "engines:SlowEngine"},
        ray={"deblur_num_cpus": 1},
    )
    summary, got = run_with_subscriber(cfg, endpoint)
    assert [h.seq for h, _ in got] == list(range(30))
    assert all(h.model == "slow" for h, _ in got) and summary["cam1"]["dropped"] == 0


def test_live_slow_stage_drops_and_bounds_latency(ray_cluster, tmp_path: Path, endpoint: str):
    """Camera at 50 fps, deblur stage at 10 fps: the source drops the oldest frames,
    counts them, and latency stays bounded instead of growing with the backlog."""
    live = write_clip(tmp_path / "live.mp4", frames=150, fps=50)
    cfg = config(
        endpoint,
        [{"id": "cam1", "url": str(live), "realtime": True}],
        model={"name": "engines:SlowEngine"},
        pipeline={"queue_size": 4, "batch_size": 2},
    )
    summary, got = run_with_subscriber(cfg, endpoint)
    s = summary["cam1"]
    seqs = [h.seq for h, _ in got]
    assert s["frames_in"] == 150
    assert s["dropped"] > 50, s
    assert s["frames_out"] + s["dropped"] == 150
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # bound: queue (4) + in flight (2 chains x 2 frames) at 0.1 s/frame, plus slack
    assert s["latency_p95_ms"] < 2500, s
    assert max(h.end_to_end_ms for h, _ in got[-5:]) < 5000


def test_duration_stops_a_looping_camera(ray_cluster, clip: Path, endpoint: str):
    cfg = config(endpoint, [{"id": "loop", "url": str(clip), "loop": True, "realtime": True}])
    t0 = time.monotonic()
    summary, got = run_with_subscriber(cfg, endpoint, duration=3.0)
    assert time.monotonic() - t0 < 15
    assert summary["loop"]["state"] == "streaming"
    assert len(got) > 50  # more than one pass of the 30-frame clip at 25 fps
    assert [h.seq for h, _ in got] == list(range(got[0][0].seq, got[0][0].seq + len(got)))


def test_bad_camera_fails_alone(ray_cluster, clip: Path, tmp_path: Path, endpoint: str):
    """A camera that fails (an RTSP server that is not there) never stops the others."""
    cfg = config(
        endpoint,
        [
            {"id": "good", "url": str(clip), "realtime": False},
            {"id": "dead", "url": "rtsp://user:pw@127.0.0.1:9/none", "open_timeout": 1, "read_timeout": 1,
             "max_reconnects": 2, "reconnect_initial": 0.2},
        ],
    )
    summary, got = run_with_subscriber(cfg, endpoint)
    assert summary["good"]["frames_out"] == 30 and summary["good"]["state"] == "ended"
    assert summary["dead"]["state"] == "failed" and summary["dead"]["reconnects"] == 2
    assert summary["dead"]["error"].startswith("gave up after 2 reconnect attempts: rtsp://***@127.0.0.1:9/none: cannot open")
    assert "pw" not in summary["dead"]["error"]


def test_default_model_in_the_pipeline(ray_cluster, tmp_path: Path, endpoint: str):
    """The shipped model (the default) behind the Ray deblur actor: every frame comes out
    once, in order, same size, restored (not a copy of the input)."""
    small = write_clip(tmp_path / "small.mp4", frames=12, width=96, height=64)
    cfg = parse_config(
        {
            "cameras": [{"id": "cam", "url": str(small), "realtime": False}],
            "output": {"endpoint": "pub+bind:" + endpoint, "publish_raw": True},
        },
        "test",
    )
    assert cfg.model.name != "none"
    info: dict = {}
    summary, got = run_with_subscriber(cfg, endpoint, engine_info=info)
    deblurred = [(h, img) for h, img in got if h.stream == "deblurred"]
    raw = {h.seq: img for h, img in got if h.stream == "raw"}
    assert [h.seq for h, _ in deblurred] == list(range(12)) and summary["cam"]["frames_out"] == 12
    assert all(h.model == cfg.model.name and img.shape == (64, 96, 3) for h, img in deblurred)
    assert any(not np.array_equal(img, raw[h.seq]) for h, img in deblurred)
    # ray.deblur_num_cpus left out: the CPU actor gets the local Ray's two CPUs as threads
    assert info == {"model": cfg.model.name, "device": "cpu", "precision": "fp32", "threads": "2"}


def test_bench_sees_each_local_actor_process(ray_cluster, clip: Path, endpoint: str):
    """``local_pids`` names every actor's own process, so ``bench`` can say how many cores
    each stage used; the cores of one window add up to the machine's."""
    from pipelines.bench import cores_used, cpu_snapshot

    cfg = config(endpoint, [{"id": "cam1", "url": str(clip), "realtime": False}],
                 model={"name": "engines:SlowEngine"}, ray={"deblur_num_cpus": 1})
    pipe = Pipeline(cfg)
    pipe.start()
    try:
        pids = pipe.local_pids()
        assert set(pids) == {"source:cam1", "deblur:0", "publisher"}
        assert len(set(pids.values())) == 3 and os.getpid() not in pids.values()
        before, t0 = cpu_snapshot(pids), time.perf_counter()
        pipe.run()
        after = cpu_snapshot(pids)
    finally:
        pipe.close()
    cores = cores_used(before, after, time.perf_counter() - t0)
    assert set(cores) == {"source:cam1", "deblur:0", "publisher", "driver", "machine", "other"}
    assert all(v >= 0 for k, v in cores.items() if k != "other")
    assert cores["source:cam1"] + cores["deblur:0"] + cores["publisher"] > 0  # 30 frames went through them
    assert abs(sum(v for k, v in cores.items() if k != "machine") - cores["machine"]) < 0.01
