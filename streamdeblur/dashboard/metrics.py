"""Prometheus metrics of one pipeline (or one attached dashboard), in their own registry.

Counters and histograms are fed from one place each: :meth:`PipelineMetrics.observe_report`
in the pipeline process (``pipeline.run(on_report=...)``), :meth:`observe_header` when the
dashboard only sees the ZeroMQ output. Gauges (fps, up) are set by the dashboard's sampler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

disable_created_metrics()  # no *_created series: they double every counter for little use

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
INFERENCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class OcrProvider(Protocol):
    """What the dashboard reads from ``streamdeblur.ocr.stats.OcrStats``."""

    def snapshot(self) -> dict[str, dict]: ...

    def metrics(self) -> Iterable[tuple[str, dict[str, str], float]]: ...


class _OcrCollector:
    """Exports ``OcrStats.metrics()`` at scrape time: ``*_total`` as counters, the rest gauges."""

    def __init__(self, ocr: OcrProvider):
        self.ocr = ocr

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for name, labels, value in self.ocr.metrics():
            fam = families.get(name)
            if fam is None:
                keys = sorted(labels)
                if name.endswith("_total"):
                    fam = CounterMetricFamily(name, f"OCR consumer: {name}", labels=keys)
                else:
                    fam = GaugeMetricFamily(name, f"OCR consumer: {name}", labels=keys)
                families[name] = fam
            fam.add_metric([str(labels[k]) for k in sorted(labels)], float(value))
        return list(families.values())


class PipelineMetrics:
    """The ``streamdeblur_*`` metrics; a fresh :class:`CollectorRegistry` per instance."""

    def __init__(self, engine_info: Callable[[], dict[str, str]] | None = None, ocr: OcrProvider | None = None):
        self.registry = CollectorRegistry()
        self._engine_info = engine_info or (lambda: {})
        r = self.registry
        self.frames = Counter("streamdeblur_frames", "Frames published, per camera and stream (deblurred, raw)", ["camera", "stream"], registry=r)
        self.dropped = Counter(
            "streamdeblur_dropped_frames",
            "Frames dropped, per camera and stage (source: queue full; publish: output full; upstream: seq gaps seen by an attached dashboard)",
            ["camera", "stage"],
            registry=r,
        )
        self.reconnects = Counter("streamdeblur_reconnects", "Camera reconnections", ["camera"], registry=r)
        self.latency = Histogram(
            "streamdeblur_latency_seconds", "Capture-to-publish latency of each frame", ["camera"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.inference = Histogram(
            "streamdeblur_inference_seconds",
            "Deblur model time per frame",
            ["device", "precision"],
            buckets=INFERENCE_BUCKETS,
            registry=r,
        )
        self.camera_fps = Gauge("streamdeblur_camera_fps", "Frames/s decoded from the camera", ["camera"], registry=r)
        self.output_fps = Gauge("streamdeblur_output_fps", "Frames/s published", ["camera"], registry=r)
        self.camera_up = Gauge("streamdeblur_camera_up", "1 while the camera is streaming, else 0", ["camera"], registry=r)
        self.info = Gauge("streamdeblur_engine_info", "The deblur engine (always 1)", ["model", "device", "precision"], registry=r)
        self._last: dict[tuple[str, str], int] = {}
        self._info_labels: tuple[str, str, str] | None = None
        if ocr is not None:
            r.register(_OcrCollector(ocr))

    # -- counters: one feeding path each ----------------------------------------------
    def _grow(self, counter: Counter, key: tuple[str, str], labels: dict[str, str], total: int) -> None:
        """Advance a counter to a cumulative value reported elsewhere (never backwards)."""
        delta = total - self._last.get(key, 0)
        if delta > 0:
            counter.labels(**labels).inc(delta)
        self._last[key] = max(total, self._last.get(key, 0))

    def observe_report(self, report: Any, publish_raw: bool = False) -> None:
        """One ``PublishReport`` from the pipeline (called on the driver thread)."""
        cam = report.camera
        self.frames.labels(camera=cam, stream="deblurred").inc(report.published)
        if publish_raw:
            self.frames.labels(camera=cam, stream="raw").inc(report.published + report.dropped)
        if report.dropped:
            self.dropped.labels(camera=cam, stage="publish").inc(report.dropped)
        self.dropped.labels(camera=cam, stage="source")  # present from the start, at 0
        self.reconnects.labels(camera=cam)
        if report.source is not None:
            self._grow(self.dropped, (cam, "source"), {"camera": cam, "stage": "source"}, report.source.dropped)
            self._grow(self.reconnects, (cam, "reconnects"), {"camera": cam}, report.source.reconnects)
        for ms in report.latencies_ms:
            self.latency.labels(camera=cam).observe(ms / 1000.0)
        n = report.published + report.dropped
        if report.model != "none" and n and report.inference_s > 0:
            info = self._engine_info()
            self.inference.labels(device=info.get("device", "?"), precision=info.get("precision", "?")).observe(report.inference_s / n)

    def observe_header(self, camera: str, stream: str, latency_s: float | None, gap: int) -> None:
        """One frame seen on the ZeroMQ output (attached dashboard)."""
        self.frames.labels(camera=camera, stream=stream).inc()
        if stream == "deblurred":
            self.dropped.labels(camera=camera, stage="upstream").inc(max(gap, 0))
            if latency_s is not None:
                self.latency.labels(camera=camera).observe(latency_s)

    # -- gauges: set by the sampler -----------------------------------------------------
    def set_camera(self, camera: str, camera_fps: float, output_fps: float, up: bool) -> None:
        self.camera_fps.labels(camera=camera).set(camera_fps)
        self.output_fps.labels(camera=camera).set(output_fps)
        self.camera_up.labels(camera=camera).set(1.0 if up else 0.0)

    def set_engine(self, model: str, device: str, precision: str) -> None:
        labels = (model, device, precision)
        if labels != self._info_labels:
            if self._info_labels is not None:
                self.info.remove(*self._info_labels)
            self.info.labels(*labels).set(1)
            self._info_labels = labels

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric in this registry."""
        return generate_latest(self.registry)
