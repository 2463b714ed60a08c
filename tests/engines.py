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
