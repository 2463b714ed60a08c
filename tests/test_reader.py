"""PyAV reader on real encoded video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import DEMO_CLIP, decode_direct, write_clip
from streamdeblur.errors import SourceError
from streamdeblur.io.reader import FpsCap, ReadStats, probe, read_frames
from streamdeblur.logutil import mask_url


def test_frames_match_direct_decode(clip: Path):
    ref = decode_direct(clip)
    frames = list(read_frames(str(clip), "cam"))
    assert len(frames) == len(ref) == 30
    assert [f.seq for f in frames] == list(range(30))
    for f, r in zip(frames, ref):
        np.testing.assert_array_equal(f.image, r)
    pts = [f.pts for f in frames]
    assert pts == sorted(pts) and frames[1].seconds == pytest.approx(1 / 25, abs=1e-3)


def test_loop_keeps_counting(clip: Path):
    stats = ReadStats()
    frames = []
    for f in read_frames(str(clip), "cam", loop=True, stats=stats):
        frames.append(f)
        if len(frames) == 45:
            break
    assert [f.seq for f in frames] == list(range(45)) and stats.loops == 1


def test_resize(clip: Path):
    f = next(read_frames(str(clip), "cam", resize=(80, 48)))
    assert f.image.shape == (48, 80, 3)


def test_realtime_pacing_and_fps_cap(clip: Path):
    import time

    stats = ReadStats()
    t0 = time.monotonic()
    frames = list(read_frames(str(clip), "cam", realtime=True, fps_cap=10, stats=stats))
    elapsed = time.monotonic() - t0
    assert elapsed >= 29 / 25 * 0.9  # paced at the clip's 25 fps
    # 1.16 s of stream at 10 frames/s of stream time, however late a busy machine decodes
    assert len(frames) == 12 and stats.skipped == 18
    assert all(b.seconds - a.seconds >= 0.08 - 1e-6 for a, b in zip(frames, frames[1:]))


def test_fps_cap_counts_stream_time_across_loops(clip: Path):
    stats = ReadStats()
    frames = list(read_frames(str(clip), "cam", fps_cap=10, stats=stats))
    assert len(frames) == 12  # the same frames without pacing: the cap does not read the wall clock
    stats = ReadStats()
    looped = []
    for f in read_frames(str(clip), "cam", loop=True, fps_cap=10, stats=stats):
        looped.append(f)
        if len(looped) == 24:
            break
    assert stats.loops == 1 and [f.seq for f in looped] == list(range(24))
    assert 58 <= stats.skipped + 24 <= 60  # 10 a second through the loop's seam, not a burst


def test_fps_cap_falls_back_to_the_wall_clock_where_timestamps_stall():
    """A camera sending constant (or no) timestamps is capped on the wall clock, not cut to
    its first frame; where timestamps advance again they count again."""
    wall = iter(100 + i / 25 for i in range(1000))  # frames arriving at 25 a second
    cap = FpsCap(10, wall=lambda: next(wall))
    assert sum(cap.keep(7.0) for _ in range(50)) in (20, 21)  # 2 s of frames, all stamped 7.0
    cap = FpsCap(10, wall=lambda: next(wall))
    assert sum(cap.keep(None) for _ in range(50)) in (20, 21)
    assert sum(cap.keep(8 + i / 25) for i in range(50)) == 20  # timestamps again

def test_probe_bundled_clip():
    info = probe(str(DEMO_CLIP))
    assert (info["width"], info["height"]) == (768, 432) and info["codec"] == "h264"


def test_probe_estimates_the_frame_count_where_the_container_keeps_none(tmp_path: Path):
    """Matroska keeps no frame count: progress bars get duration x rate, the truncation check
    (``frames``) only the header's count."""
    mkv, mp4 = probe(str(write_clip(tmp_path / "a.mkv", frames=30))), probe(str(write_clip(tmp_path / "a.mp4", frames=30)))
    assert mkv["frames"] is None and mkv["frames_estimated"] == 30 and mkv["duration_s"] == pytest.approx(1.2)
    assert mp4["frames"] == mp4["frames_estimated"] == 30


def test_missing_and_not_video(tmp_path: Path):
    with pytest.raises(SourceError, match="no such file"):
        next(read_frames(str(tmp_path / "none.mp4")))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(SourceError, match="not a video file"):
        next(read_frames(str(bad)))


def test_hardware_decoding_or_a_warned_cpu_fallback(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """``hwaccel: cuda`` decodes the same frames: on NVDEC where the machine has it, else on
    the CPU after one warning (never a silent fallback, never an error)."""
    from streamdeblur.io import reader

    monkeypatch.setattr(reader, "_BROKEN_DEVICES", {})  # warned once per process: start afresh
    ref = [f.image for f in read_frames(str(DEMO_CLIP), "cam", resize=(320, 180))]
    stats = ReadStats()
    with caplog.at_level("WARNING", logger="streamdeblur.io.reader"):
        frames = [f.image for f in read_frames(str(DEMO_CLIP), "cam", resize=(320, 180), stats=stats, hwaccel="cuda")]
    assert len(frames) == len(ref) == 377
    if stats.decoder == "cpu":
        assert "hardware decoding (cuda)" in caplog.text and "decoding on the CPU" in caplog.text
        for a, b in zip(frames, ref):
            np.testing.assert_array_equal(a, b)
    else:  # NVDEC: the same pictures up to the colour conversion of another pixel layout
        assert stats.decoder == "cuda"
        assert max(float(np.abs(a.astype(np.int16) - b).mean()) for a, b in zip(frames, ref)) < 2.0
    with pytest.raises(SourceError, match="no such file"):
        next(read_frames("/nonexistent/clip.mp4", hwaccel="cuda"))


def test_unreachable_rtsp_times_out():
    import time

    t0 = time.monotonic()
    with pytest.raises(SourceError, match=r"rtsp://\*\*\*@127.0.0.1:1/x: cannot open"):
        next(read_frames("rtsp://admin:secret@127.0.0.1:1/x", open_timeout=2, read_timeout=2))
    with pytest.raises(SourceError, match=r"127.0.0.1:1/x: cannot open"):
        next(read_frames("rtsp://127.0.0.1:1/x", open_timeout=2, read_timeout=2, hwaccel="cuda"))
    assert time.monotonic() - t0 < 10


def test_mask_url():
    assert mask_url("rtsp://admin:pw@10.0.0.1/s") == "rtsp://***@10.0.0.1/s"
    assert mask_url("rtsp://10.0.0.1/s") == "rtsp://10.0.0.1/s"


def test_truncated_file_reads_up_to_where_it_ends(tmp_path: Path):
    data = DEMO_CLIP.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    frames = list(read_frames(str(cut), "cam"))
    assert 100 < len(frames) < 377
    assert [f.seq for f in frames] == list(range(len(frames)))


def test_corrupt_packets_are_skipped_and_counted(tmp_path: Path):
    import random

    data = bytearray(DEMO_CLIP.read_bytes())
    rng = random.Random(1)
    for _ in range(200):  # garble the payload, not the container header
        p = rng.randrange(100_000, len(data) - 64)
        data[p : p + 50] = bytes(rng.randrange(256) for _ in range(50))
    bad = tmp_path / "garbled.mp4"
    bad.write_bytes(bytes(data))
    stats = ReadStats()
    frames = list(read_frames(str(bad), "cam", stats=stats))
    assert len(frames) + stats.corrupt >= 370 and len(frames) > 300
    assert stats.decoded == len(frames)


STOP_EARLY = """
import sys, ray, torch
from streamdeblur.io.reader import read_frames
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
torch.nn.functional.conv2d(torch.rand(1, 8, 64, 64), torch.rand(8, 8, 3, 3))
for i in range(12):
    next(f for f in read_frames(sys.argv[1]) if f.seq == 40)  # the reader is closed mid-stream
print("read", i + 1)
"""


def test_stopping_mid_stream_does_not_hang():
    """A reader closed mid-stream drains its frame-threaded decoder first: closing it with
    frames in flight deadlocked once torch and Ray were loaded (PyAV issues 1849 / 1861)."""
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-c", STOP_EARLY, str(DEMO_CLIP)], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("a reader closed mid-stream hung")
    assert done.returncode == 0 and "read 12" in done.stdout, done.stderr[-2000:]
