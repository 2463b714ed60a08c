"""Where an actor runs: for the status banner, placement checks and diagnostics."""

from __future__ import annotations

import os


class Introspect:
    """Mixed into every actor class of the pipeline."""

    def pid(self) -> int:
        """The process this actor runs in."""
        return os.getpid()

    def node(self) -> str:
        """The Ray node this actor runs on (its hex id), or 'local' outside Ray."""
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
