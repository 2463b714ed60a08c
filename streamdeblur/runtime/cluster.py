"""Starting or joining Ray, quietly and without reaching the internet."""

from __future__ import annotations

import logging
import os

from streamdeblur.config import ModelConfig, RayConfig
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
    # Ray turns token authentication on for a new local cluster and warns about it on every
    # start; the setting stays Ray's (RAY_AUTH_MODE), only the warning goes.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
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


def deblur_share(cfg: RayConfig, model: ModelConfig, busy: float = 0.0, nodes: list[dict[str, float]] | None = None) -> tuple[float, float]:
    """(CPUs, GPUs) to reserve per deblur actor: the configured values, or for ``None`` the
    defaults ``RayConfig`` documents. ``busy``: CPUs that work outside Ray takes on this
    machine (the OCR consumer started next to the pipeline): a CPU model's threads must not
    share cores with it (its OpenMP threads wait on each other: 10x slower, measured).
    ``nodes``: each live node's resources (default: the connected cluster's)."""
    if nodes is None:
        import ray

        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    gpus = cfg.deblur_num_gpus
    if gpus is None:
        total = sum(r.get("GPU", 0.0) for r in nodes)
        gpus = min(1.0, total / cfg.deblur_actors) if model.device != "cpu" and total >= 1 else 0.0
    cpus = cfg.deblur_num_cpus
    if cpus is None:
        node_cpus = [r.get("CPU", 0.0) for r in nodes] or [1.0]
        share = (sum(node_cpus) - busy) // cfg.deblur_actors
        cpus = 1.0 if gpus > 0 else float(max(1, min(max(node_cpus), share)))
    return cpus, gpus


def actor_model(model: ModelConfig, cpus: float) -> ModelConfig:
    """The model settings of a deblur actor that reserves ``cpus``: unless set, its model
    runs as many CPU threads as the actor has CPUs (at least one)."""
    return model.model_copy(update={"threads": model.threads or max(1, int(cpus))})
