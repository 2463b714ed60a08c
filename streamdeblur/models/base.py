"""The streaming engine interface the runtime drives, and the passthrough engine.

An engine restores frames per stream (camera): ``push`` one BGR uint8 frame, get back the
restored frames that became ready (in order; a model with a window of k future frames
returns each frame k pushes later), ``flush`` at end of stream returns the rest. Every
pushed frame comes out exactly once.
"""

from __future__ import annotations

import importlib
from typing import Protocol

import numpy as np

from streamdeblur.config import ModelConfig
from streamdeblur.errors import ConfigError


class Engine(Protocol):
    name: str
    device: str
    precision: str
    delay: int
    """Frames a stream's output lags its input."""

    def push(self, stream: str, image: np.ndarray) -> list[np.ndarray]: ...

    def push_batch(self, items: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]: ...

    def flush(self, stream: str) -> list[np.ndarray]: ...


class PassthroughEngine:
    """``model: none``: frames come out as they went in."""

    name = "none"
    device = "cpu"
    precision = "none"
    delay = 0

    def push(self, stream: str, image: np.ndarray) -> list[np.ndarray]:
        return [image]

    def push_batch(self, items: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        return list(items)

    def flush(self, stream: str) -> list[np.ndarray]:
        return []


def build_engine(cfg: ModelConfig) -> Engine:
    """The engine a model config asks for: ``none``, a built-in model, or a user engine
    named ``package.module:ClassName`` (constructed with the ModelConfig)."""
    if cfg.name == "none":
        return PassthroughEngine()
    if ":" in cfg.name:
        module_name, _, class_name = cfg.name.partition(":")
        try:
            return getattr(importlib.import_module(module_name), class_name)(cfg)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"model.name {cfg.name!r}: cannot load engine: {exc}") from None
    from streamdeblur.models.engine import DeblurEngine  # torch is imported only when needed

    return DeblurEngine(cfg)
