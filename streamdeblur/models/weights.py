"""Named checkpoints described by data (``streamdeblur/weights/weights.json``), loading and export.

A shipped checkpoint is a ``torch.save`` dict: ``format``, ``config`` (architecture, see
``DeblurNet.config``), ``state_dict`` and ``meta`` (how it was trained). The registry file
lists, per model name, the file, its sha256 and a summary, so a corrupted or replaced file
is refused with a clear error instead of producing garbage.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from streamdeblur.errors import ConfigError, StreamDeblurError

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
REGISTRY_FILE = WEIGHTS_DIR / "weights.json"
FORMAT = "streamdeblur-weights/1"


@dataclass(frozen=True)
class WeightsEntry:
    """One named checkpoint in the registry."""

    name: str
    file: str
    sha256: str
    flow: str
    description: str = ""

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


def registry() -> dict[str, WeightsEntry]:
    """Model name -> shipped checkpoint."""
    if not REGISTRY_FILE.is_file():
        return {}
    data = json.loads(REGISTRY_FILE.read_text(encoding="utf-8"))
    return {name: WeightsEntry(name=name, **entry) for name, entry in data.get("models", {}).items()}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve(name: str, weights: str | None) -> Path:
    """The checkpoint file for model ``name`` (or the explicit ``weights`` path)."""
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ConfigError(f"model.weights: no such file {path}")
        return path
    reg = registry()
    if name not in reg:
        known = ", ".join(sorted(reg)) or "none shipped"
        raise ConfigError(f"model.name: unknown model {name!r} (known: none, {known})")
    entry = reg[name]
    if not entry.path.is_file():
        raise ConfigError(f"model {name!r}: shipped weights {entry.path} are missing (reinstall the package)")
    digest = sha256(entry.path)
    if digest != entry.sha256:
        raise ConfigError(f"model {name!r}: {entry.path.name} has sha256 {digest[:12]}..., expected {entry.sha256[:12]}... (corrupted file)")
    return entry.path


def read_checkpoint(path: Path) -> dict:
    """Load a weights file (tensors and plain data only: ``weights_only``)."""
    import torch

    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ConfigError(f"{path}: not a streamdeblur weights file ({type(exc).__name__})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a streamdeblur weights file (format {ck.get('format') if isinstance(ck, dict) else '?'})")
    return ck


def load_model(name: str, weights: str | None = None, flow: str | None = None, flow_scale: float = 0.5):
    """A ``DeblurNet`` with trained weights, in eval mode on the CPU, and its metadata."""
    from streamdeblur.models.deblur import build_model

    path = resolve(name, weights)
    ck = read_checkpoint(path)
    cfg = dict(ck["config"])
    if flow is not None and flow != cfg["flow_arch"]:
        raise ConfigError(f"model.flow: {path.name} was trained with {cfg['flow_arch']}, not {flow} (train {flow} weights and set model.weights)")
    model = build_model(cfg["flow_arch"], cfg["flow_iters"], cfg.get("fusion"), flow_scale)
    model.load_state_dict({k: v.float() for k, v in ck["state_dict"].items()})
    return model.eval(), dict(ck.get("meta", {}), file=str(path))


def export(checkpoint: Path, out: Path, note: str = "", flow_from: Path | None = None) -> dict:
    """Write the model of a training checkpoint (``last.pt``) as a shipped weights file.

    ``flow_from``: take the flow network's weights from this other training checkpoint (of
    the same architecture), e.g. a flow trained on its own after the restoration network."""
    import torch

    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    meta = {"phase": ck["phase"], "step": ck["step"], "train_seconds": round(ck.get("elapsed", 0.0)), "schedule": ck.get("schedule"), "note": note}
    state = dict(ck["model"])
    if flow_from is not None:
        other = torch.load(flow_from, map_location="cpu", weights_only=False)
        if other["config"]["flow_arch"] != ck["config"]["flow_arch"]:
            raise StreamDeblurError(f"{flow_from}: its flow is {other['config']['flow_arch']}, not {ck['config']['flow_arch']}")
        state.update({k: v for k, v in other["model"].items() if k.startswith("flow.")})
        meta["flow_from"] = {"checkpoint": str(flow_from), "phase": other["phase"], "step": other["step"],
                             "train_seconds": round(other.get("elapsed", 0.0))}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "config": ck["config"], "state_dict": state, "meta": meta}, out)
    return {"bytes": out.stat().st_size, "sha256": sha256(out), "meta": meta}


def check_registrable(path: Path) -> Path:
    """``path`` resolved, if a file there can be registered (it is in the weights folder);
    callers check before writing it."""
    path = Path(path).resolve()
    if path.parent != WEIGHTS_DIR:
        raise StreamDeblurError(f"{path} is not in {WEIGHTS_DIR} (write --to inside it to register a name)")
    return path


def register(name: str, path: Path, description: str | None = None) -> WeightsEntry:
    """Add or update ``name`` in the registry for a file inside the weights folder;
    ``description=None`` keeps an existing entry's description."""
    import torch

    path = check_registrable(path)
    ck = torch.load(path, map_location="cpu", weights_only=True)
    data = json.loads(REGISTRY_FILE.read_text(encoding="utf-8")) if REGISTRY_FILE.is_file() else {"models": {}}
    models = data.setdefault("models", {})
    if description is None:
        description = models.get(name, {}).get("description", "")
    entry = {"file": path.name, "sha256": sha256(path), "flow": ck["config"]["flow_arch"], "description": description}
    models[name] = entry
    REGISTRY_FILE.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return WeightsEntry(name=name, **entry)
