"""What moves between the pipeline's actors: a camera's frames plus the counters behind them."""

from __future__ import annotations

from dataclasses import dataclass, field

from streamdeblur.frame import Frame


@dataclass(slots=True)
class SourceStats:
    """A camera source's counters (cumulative since start)."""

    camera: str
    state: str = "connecting"
    """connecting, streaming, reconnecting, ended or failed."""
    decoded: int = 0
    dropped: int = 0
    """Frames thrown away because the pipeline was behind (live sources only)."""
    skipped: int = 0
    """Frames skipped by the camera's fps cap."""
    corrupt: int = 0
    reconnects: int = 0
    error: str | None = None
    pid: int = 0
    """Process of the source: a new one means the source restarted (counters from zero)."""
    decoder: str = "cpu"
    """Where frames are decoded: ``cpu`` or the camera's ``hwaccel`` device type."""


@dataclass(slots=True)
class Batch:
    """Consecutive frames of one camera, in order.

    ``frames`` are the stage's output (deblurred once past the deblur stage); ``raw`` holds
    the matching input frames when the raw stream is published. ``ended`` marks the last
    batch of a stream that will produce no more frames.
    """

    camera: str
    frames: list[Frame] = field(default_factory=list)
    raw: list[Frame] | None = None
    ended: bool = False
    source: SourceStats | None = None
    model: str = "none"
    inference_s: float = 0.0
    worker: int = 0
    """Process id of the deblur worker that made the batch (a change = it restarted)."""


@dataclass(slots=True)
class BatchInfo:
    """What the driver needs to know of a source's batch, without its pixels."""

    first_seq: int
    count: int
    ended: bool
    source: SourceStats
    waiting: bool = False
    """The source was restarted by Ray and waits for the driver to say where to resume
    (``CameraSource.start``): it decodes nothing until then."""
