"""Colour conversions: a picture goes through a file and the codec without turning darker or
green (streamdeblur.io.pixels)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from conftest import SHARED_DATA
from streamdeblur.io.reader import read_frames
from streamdeblur.io.writer import VideoWriter
from streamdeblur.synth.codec import h264_roundtrip

# flat BGR patches: greys across the range, and colours
COLOURS = [(16, 16, 16), (64, 64, 64), (128, 128, 128), (200, 200, 200), (235, 235, 235), (40, 90, 200), (200, 120, 30), (60, 180, 60)]


def test_flat_colours_survive_a_lossless_file(tmp_path: Path) -> None:
    path = tmp_path / "flat.mp4"
    with VideoWriter(path, 64, 48, crf=0) as writer:
        for i, bgr in enumerate(COLOURS):
            writer.write(np.full((48, 64, 3), bgr, np.uint8), i)
    got = [f.image[24, 32].astype(int) for f in read_frames(str(path))]
    assert len(got) == len(COLOURS)
    for bgr, back in zip(COLOURS, got):
        # swscale's default rounding gave (128, 128, 128) -> (124, 126, 123)
        assert np.abs(back - bgr).max() <= 1, (bgr, back.tolist())
    with av.open(str(path)) as container:  # players are told the matrix, not left to guess
        cc = container.streams.video[0].codec_context
        assert (int(cc.colorspace), int(cc.color_range)) == (5, 1)


def test_the_codec_step_of_synthesis_keeps_the_brightness() -> None:
    photo = next(p for p in sorted((SHARED_DATA / "plates").rglob("*")) if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    img = cv2.resize(cv2.imread(str(photo), cv2.IMREAD_COLOR), (320, 240), interpolation=cv2.INTER_AREA)
    frames = [np.roll(img, 2 * i, axis=1) for i in range(4)]
    out = h264_roundtrip(frames, crf=18)
    bias = np.mean([(o.astype(float) - f).mean(axis=(0, 1)) for o, f in zip(out, frames)], axis=0)
    # per channel mean shift; the default conversions gave about -1.5 (B, R) and -1.4 (G)
    assert np.abs(bias).max() < 0.3, bias.round(2).tolist()


def test_scaling_inside_the_conversion_matches_scaling_after_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    big = cv2.resize(rng.integers(0, 256, (24, 40, 3), np.uint8), (320, 192), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "big.mp4"
    with VideoWriter(path, 320, 192, crf=0) as writer:
        writer.write(big, 0)
    full = next(read_frames(str(path))).image
    small = next(read_frames(str(path), resize=(160, 96))).image
    expected = cv2.resize(full, (160, 96), interpolation=cv2.INTER_AREA).astype(float)
    diff = small.astype(float) - expected
    assert np.abs(diff.mean(axis=(0, 1))).max() < 0.3 and np.sqrt((diff**2).mean()) < 3.0
