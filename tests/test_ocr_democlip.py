"""The OCR demo camera: real plate photos filmed by a drifting camera, as H.264."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from conftest import SHARED_DATA
from streamdeblur.ocr.democlip import make_demo_clip

PLATES = SHARED_DATA / "plates"


@pytest.mark.skipif(not PLATES.is_dir(), reason="shared plate photos not available")
def test_demo_clip_is_a_decodable_h264_of_each_plate(tmp_path: Path):
    out = make_demo_clip(tmp_path / "demo.mp4", [PLATES / "br", PLATES / "eu"], count=2, seconds=0.4, fps=10, progress=False)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == 2 * 4 and frames[0].shape == (288, 512, 3)
    assert frames[0].std() > 10 and abs(float(frames[0].mean()) - float(frames[-1].mean())) > 1  # two different scenes
