"""Test-only engines, loaded by the pipeline as ``model.name: engines:SlowEngine``."""

from __future__ import annotations

import time

import numpy as np

from streamdeblur.config import ModelConfig


class SlowEngine:
    """Passes frames through after sleeping 0.1 s each: a deliberately slow deblur stage
    (10 frames/s at most)."""

    name = "slow"
    device = "cpu"
    precision = "fp32"
    delay = 0

    def __init__(self, cfg: ModelConfig):
        self.seconds = 0.1

    def push(self, stream: str, image: np.ndarray) -> list[np.ndarray]:
        time.sleep(self.seconds)
        return [image]

    def push_batch(self, items: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        return [(s, self.push(s, img)[0]) for s, img in items]

    def flush(self, stream: str) -> list[np.ndarray]:
        return []


class RecordingEngine:
    """Passes frames through and records which streams each ``push_batch`` call carried."""

    name = "recording"
    device = "cpu"
    precision = "fp32"
    delay = 1

    def __init__(self, cfg: ModelConfig):
        self.calls: list[list[str]] = []
        self._held: dict[str, np.ndarray] = {}

    def push_batch(self, items: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        self.calls.append([s for s, _ in items])
        out = []
        for s, img in items:  # one frame of delay per stream, like a window of k=1
            if s in self._held:
                out.append((s, self._held[s]))
            self._held[s] = img
        return out

    def push(self, stream: str, image: np.ndarray) -> list[np.ndarray]:
        return [img for _, img in self.push_batch([(stream, image)])]

    def flush(self, stream: str) -> list[np.ndarray]:
        held = self._held.pop(stream, None)
        return [] if held is None else [held]
