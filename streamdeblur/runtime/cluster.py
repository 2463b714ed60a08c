"""Starting or joining Ray, quietly and without reaching the internet."""

from __future__ import annotations

import logging
import os

from streamdeblur.config import RayConfig
from streamdeblur.errors import StreamDeblurError

# No usage-stats reporting, no dashboard downloads, quiet workers.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "1")


def connect(cfg: RayConfig, address: str | None = None) -> bool:
    """Make sure Ray is up. Returns True when this call started it (and should stop it)."""
    import ray

    if ray.is_initialized():
        return False
    address = address or cfg.address
    kwargs: dict[str, object] = dict(
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=True,
        configure_logging=True,
    )
    if address is None:
        kwargs["num_cpus"] = cfg.num_cpus or os.cpu_count() or 1
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StreamDeblurError(f"cannot join Ray cluster at {address}: {first}") from None
    return True


def disconnect(started: bool) -> None:
    import ray

    if started and ray.is_initialized():
        ray.shutdown()
