"""``streamdeblur reprocess``: frame count, size and timestamps kept; clear errors."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import synthetic_image

from streamdeblur.config import ModelConfig
from streamdeblur.errors import SourceError, StreamDeblurError
from streamdeblur.io.reader import read_frames
from streamdeblur.io.writer import OutputError, VideoWriter
from streamdeblur.models.commands import register
from streamdeblur.models.reprocess import offline_config, reprocess


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def vfr_clip(path: Path, n: int = 9, w: int = 120, h: int = 72) -> list[float]:
    """An H.264 file with irregular timestamps (variable frame rate); returns them in seconds."""
    tb = Fraction(1, 1000)
    pts = [0, 40, 80, 150, 190, 230, 330, 370, 410][:n]
    with VideoWriter(path, w, h, fps=25, time_base=tb, crf=20) as wr:
        for i, p in enumerate(pts):
            wr.write(synthetic_image(i, w, h), p)
    return [p / 1000 for p in pts]


def cli(*argv: str) -> int:
    ap = argparse.ArgumentParser()
    register(ap.add_subparsers())
    args = ap.parse_args(list(argv))
    return args.func(args)


@pytest.mark.parametrize("w,h", [(120, 72), (121, 73)])  # odd sizes too: never padded to another size
def test_reprocess_keeps_count_size_and_timestamps(tmp_path: Path, w: int, h: int) -> None:
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    times = vfr_clip(src, w=w, h=h)
    assert cli("reprocess", str(src), "-o", str(out), "--device", "cpu", "--quiet") == 0
    got = list(read_frames(str(out)))
    assert len(got) == len(times)
    assert all(f.image.shape == (h, w, 3) for f in got)
    assert [round(f.seconds, 3) for f in got] == times
    assert not list(tmp_path.glob(".*.part"))  # no temporary file left behind
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"


def test_reprocess_changes_pixels_with_the_model_and_not_without(tmp_path: Path) -> None:
    src = tmp_path / "in.mp4"
    vfr_clip(src, n=5)
    ref = [f.image for f in read_frames(str(src))]
    r = reprocess(str(src), str(tmp_path / "none.mp4"), ModelConfig(name="none"), crf=0, progress=False)
    assert r["frames_out"] == 5
    r = reprocess(str(src), str(tmp_path / "model.mp4"), ModelConfig(name="raft-fusion-small", device="cpu"), crf=0, progress=False)
    assert (r["frames_in"], r["frames_out"], r["model"], r["flow_refine"]) == (5, 5, "raft-fusion-small", "fast")
    none = [f.image for f in read_frames(str(tmp_path / "none.mp4"))]
    model = [f.image for f in read_frames(str(tmp_path / "model.mp4"))]
    assert np.abs(none[2].astype(int) - ref[2]).mean() < 3.0  # only the yuv420p round trip
    assert np.abs(model[2].astype(int) - none[2]).mean() > 0.3  # the model did restore
    cfg = ModelConfig(flow_refine="none")
    assert offline_config(cfg) is cfg and offline_config(ModelConfig()).flow_refine == "fast"  # auto refines offline


def test_errors_are_one_line_streamdeblur_errors(tmp_path: Path) -> None:
    src = tmp_path / "in.mp4"
    vfr_clip(src, n=3)
    with pytest.raises(SourceError, match="no such file"):
        cli("reprocess", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.mp4"))
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    with pytest.raises(SourceError, match="not a video"):
        cli("reprocess", str(bad), "-o", str(tmp_path / "o.mp4"))
    with pytest.raises(OutputError, match="does not exist"):
        cli("reprocess", str(src), "-o", str(tmp_path / "nope" / "o.mp4"))
    with pytest.raises(OutputError, match="unsupported output"):
        cli("reprocess", str(src), "-o", str(tmp_path / "o.txt"))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        import os

        if not os.access(ro, os.W_OK):  # root can write anywhere
            with pytest.raises(OutputError, match="not writable"):
                cli("reprocess", str(src), "-o", str(ro / "o.mp4"))
    finally:
        ro.chmod(0o700)
    for exc in (SourceError, OutputError):
        assert issubclass(exc, StreamDeblurError)
    assert not (tmp_path / "o.mp4").exists()


def test_synth_command_writes_blurred_video(tmp_path: Path) -> None:
    src, out = tmp_path / "in.mp4", tmp_path / "blurred.mp4"
    times = vfr_clip(src, n=6)
    assert cli("synth", str(src), "-o", str(out), "--strength", "2", "--quiet") == 0
    a = [f for f in read_frames(str(src))]
    b = [f for f in read_frames(str(out))]
    assert len(b) == len(a) and [round(f.seconds, 3) for f in b] == times
    assert np.abs(b[3].image.astype(int) - a[3].image).mean() > 2


def test_a_truncated_recording_is_processed_to_its_end_and_said_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from conftest import DEMO_CLIP

    cut = tmp_path / "cut.mp4"
    cut.write_bytes(DEMO_CLIP.read_bytes()[:120_000])  # the header (377 frames) and the first seconds
    out = tmp_path / "out.mp4"
    assert cli("reprocess", str(cut), "-o", str(out), "--model", "none", "--quiet") == 0
    n = len(list(read_frames(str(out))))
    assert 0 < n < 377
    assert f"the input ended after {n} of the 377 frames its header announces" in capsys.readouterr().out
    # a whole file says nothing of the kind
    src = tmp_path / "in.mp4"
    vfr_clip(src, n=4)
    assert cli("reprocess", str(src), "-o", str(tmp_path / "whole.mp4"), "--model", "none", "--quiet") == 0
    assert "ended after" not in capsys.readouterr().out
