"""The deblur stage: owns the model engine and each camera's sliding window."""

from __future__ import annotations

import time
from collections import deque
from itertools import zip_longest

import numpy as np

from streamdeblur.config import ModelConfig
from streamdeblur.frame import Frame
from streamdeblur.models import build_engine
from streamdeblur.runtime.introspect import Introspect
from streamdeblur.runtime.batch import Batch


class DeblurWorker(Introspect):
    """Restores batches of frames. The engine returns each camera's frames ``delay`` frames
    late and in order, so the input frames wait in a per-camera FIFO to give each output
    its metadata (seq, pts, capture time)."""

    def __init__(self, model: ModelConfig, keep_raw: bool = False):
        if model.threads:  # also for plug-in engines that do not read it themselves
            import torch

            torch.set_num_threads(model.threads)
        self.engine = build_engine(model)
        self.keep_raw = keep_raw
        self._pending: dict[str, deque[Frame]] = {}

    def describe(self) -> dict[str, str]:
        import torch

        info = {"model": self.engine.name, "device": self.engine.device, "precision": self.engine.precision}
        if self.engine.device == "cpu":
            info["threads"] = str(torch.get_num_threads())
        return info

    def process(self, *batches: Batch) -> list[Batch]:
        """Restore batches of one or several cameras in one go: the cameras' frames are
        interleaved so that the engine runs their windows together (one forward pass for
        the frames of several cameras). Returns one batch per input batch, in order; a
        camera's restored frames ride on its last batch of the call."""
        t0 = time.perf_counter()
        per_camera: dict[str, list[Frame]] = {}
        for b in batches:
            per_camera.setdefault(b.camera, []).extend(b.frames)
            self._pending.setdefault(b.camera, deque()).extend(b.frames)
        items = [(f.camera, f.image) for row in zip_longest(*per_camera.values()) for f in row if f is not None]
        outputs: dict[str, list[np.ndarray]] = {cam: [] for cam in per_camera}
        for cam, img in self.engine.push_batch(items):
            outputs[cam].append(img)
        for b in batches:
            if b.ended:
                outputs[b.camera] += self.engine.flush(b.camera)
        share = (time.perf_counter() - t0) / max(1, sum(len(f) for f in per_camera.values()))
        last = {b.camera: i for i, b in enumerate(batches)}
        results = []
        for i, b in enumerate(batches):
            is_last = last[b.camera] == i
            outs = outputs[b.camera] if is_last else []
            pending = self._pending.get(b.camera, deque())
            inputs = [pending.popleft() for _ in outs]
            if is_last and any(x.ended for x in batches if x.camera == b.camera):
                self._pending.pop(b.camera, None)
            results.append(
                Batch(
                    camera=b.camera,
                    frames=[f.with_image(img) for f, img in zip(inputs, outs)],
                    raw=inputs if self.keep_raw else None,
                    ended=b.ended,
                    source=b.source,
                    model=self.engine.name,
                    inference_s=share * len(b.frames),
                    worker=self.pid(),
                )
            )
        return results
