"""The deblur stage: owns the model engine and each camera's sliding window."""

from __future__ import annotations

import time
from collections import deque

from streamdeblur.config import ModelConfig
from streamdeblur.frame import Frame
from streamdeblur.models import build_engine
from streamdeblur.runtime.introspect import Introspect
from streamdeblur.runtime.batch import Batch


class DeblurWorker(Introspect):
    """Restores batches of frames. The engine returns each camera's frames ``delay`` frames
    late and in order, so the input frames wait in a per-camera FIFO to give each output
    its metadata (seq, pts, capture time)."""

    def __init__(self, model: ModelConfig, keep_raw: bool = False, threads: int | None = None):
        if threads:
            import torch

            torch.set_num_threads(threads)
        self.engine = build_engine(model)
        self.keep_raw = keep_raw
        self._pending: dict[str, deque[Frame]] = {}

    def describe(self) -> dict[str, str]:
        return {"model": self.engine.name, "device": self.engine.device, "precision": self.engine.precision}

    def process(self, batch: Batch) -> Batch:
        if batch.ended and not batch.frames and batch.camera not in self._pending:
            return Batch(camera=batch.camera, ended=True, source=batch.source, model=self.engine.name, worker=self.pid())
        pending = self._pending.setdefault(batch.camera, deque())
        t0 = time.perf_counter()
        outputs = []
        for frame in batch.frames:
            pending.append(frame)
            outputs.extend(self.engine.push(batch.camera, frame.image))
        if batch.ended:
            outputs.extend(self.engine.flush(batch.camera))
        elapsed = time.perf_counter() - t0
        inputs = [pending.popleft() for _ in outputs]
        if batch.ended:
            self._pending.pop(batch.camera, None)
        return Batch(
            camera=batch.camera,
            frames=[f.with_image(img) for f, img in zip(inputs, outputs)],
            raw=inputs if self.keep_raw else None,
            ended=batch.ended,
            source=batch.source,
            model=self.engine.name,
            inference_s=elapsed,
            worker=self.pid(),
        )
