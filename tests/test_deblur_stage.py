"""The deblur stage on its own: windows, metadata, batching cameras together."""

from __future__ import annotations

import numpy as np

from conftest import synthetic_image
from streamdeblur.config import ModelConfig
from streamdeblur.frame import Frame
from streamdeblur.runtime.batch import Batch
from streamdeblur.runtime.deblur import DeblurWorker


def batch(camera: str, seqs: range, ended: bool = False) -> Batch:
    return Batch(camera=camera, frames=[Frame(camera, s, synthetic_image(s, 16, 8), pts=s) for s in seqs], ended=ended)


def test_cameras_are_batched_together_and_keep_their_metadata():
    worker = DeblurWorker(ModelConfig(name="engines:RecordingEngine"), keep_raw=True)
    out = worker.process(batch("a", range(0, 3)), batch("b", range(10, 12)))
    # one engine call, frames interleaved across cameras
    assert worker.engine.calls == [["a", "b", "a", "b", "a"]]
    a, b = out
    assert [f.seq for f in a.frames] == [0, 1] and [f.seq for f in b.frames] == [10]
    np.testing.assert_array_equal(a.frames[1].image, synthetic_image(1, 16, 8))
    assert [f.seq for f in a.raw] == [0, 1]
    # the end flushes what the window still holds; every frame comes out exactly once
    a2, b2 = worker.process(batch("a", range(3, 4), ended=True), batch("b", range(12, 13), ended=True))
    assert [f.seq for f in a2.frames] == [2, 3] and [f.seq for f in b2.frames] == [11, 12]


def test_two_batches_of_one_camera_in_one_call_stay_in_order():
    worker = DeblurWorker(ModelConfig(name="engines:RecordingEngine"))
    first, second = worker.process(batch("a", range(0, 2)), batch("a", range(2, 4), ended=True))
    assert first.frames == [] and [f.seq for f in second.frames] == [0, 1, 2, 3]
    assert second.ended and not first.ended


def test_end_then_empty_end_in_one_call():
    """The end of a stream can arrive twice in one call (a batch with the last frames, then
    an empty one): every frame still comes out once."""
    worker = DeblurWorker(ModelConfig(name="engines:RecordingEngine"))
    first = worker.process(batch("a", range(0, 2)))[0]
    last, empty = worker.process(batch("a", range(2, 4), ended=True), batch("a", range(0, 0), ended=True))
    assert [f.seq for f in first.frames] + [f.seq for f in last.frames] + [f.seq for f in empty.frames] == [0, 1, 2, 3]
