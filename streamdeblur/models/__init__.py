"""Deblurring models and the engine that runs them (see ``build_engine``)."""

from streamdeblur.models.base import Engine, PassthroughEngine, build_engine

__all__ = ["Engine", "PassthroughEngine", "build_engine"]
