"""The publishing stage: the pipeline's one ZeroMQ output socket."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from streamdeblur.config import OutputConfig
from streamdeblur.errors import StreamDeblurError
from streamdeblur.runtime.introspect import Introspect
from streamdeblur.runtime.batch import Batch, SourceStats
from streamdeblur.transport import Publisher


@dataclass(slots=True)
class PublishReport:
    """What happened to one batch: small, so the driver can fetch it cheaply."""

    camera: str
    published: int = 0
    dropped: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    last_seq: int | None = None
    ended: bool = False
    source: SourceStats | None = None
    model: str = "none"
    inference_s: float = 0.0
    worker: int = 0


class PublishWorker(Introspect):
    """Publishes each batch on ``<camera>/deblurred`` (and ``<camera>/raw`` when asked)."""

    def __init__(self, output: OutputConfig):
        self.publish_raw = output.publish_raw
        self.publisher: Publisher | None = None
        self.error: str | None = None
        try:
            self.publisher = Publisher(
                output.endpoint,
                output.encoding,
                output.jpeg_quality,
                output.send_hwm,
                output.curve_secret_key,
                output.curve_authorized_keys,
            )
        except StreamDeblurError as exc:  # reported by ready(): a constructor error would kill the actor
            self.error = str(exc)

    def ready(self) -> str | None:
        """None when the socket is up, else the one-line reason it is not."""
        return self.error

    def publish(self, *batches: Batch | list[Batch]) -> list[PublishReport]:
        """Publish batches (given one by one, or as the list a deblur worker returned)."""
        flat = [b for item in batches for b in (item if isinstance(item, list) else [item])]
        return [self._publish(b) for b in flat]

    def _publish(self, batch: Batch) -> PublishReport:
        report = PublishReport(
            camera=batch.camera, ended=batch.ended, source=batch.source, model=batch.model, inference_s=batch.inference_s,
            worker=batch.worker,
        )
        raw = batch.raw if batch.raw is not None else (batch.frames if batch.model == "none" else None)
        for i, frame in enumerate(batch.frames):
            if self.publish_raw and raw is not None:
                self.publisher.publish(raw[i], "raw", batch.model)
            if self.publisher.publish(frame, "deblurred", batch.model):
                report.published += 1
            else:
                report.dropped += 1
            if frame.capture_ts_ns:
                report.latencies_ms.append((time.time_ns() - frame.capture_ts_ns) / 1e6)
            report.last_seq = frame.seq
        return report

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
