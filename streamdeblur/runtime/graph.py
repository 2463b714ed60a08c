"""The pipeline graph: one source actor per camera -> deblur actor(s) -> one publisher.

The driver never touches pixels: it chains actor calls by object reference
(``source.get -> deblur.process -> publisher.publish``), so frames go through Ray's object
store from actor to actor, and it fetches only the small :class:`PublishReport`. Each
camera has at most ``in_flight`` chains outstanding: that bound, with the sources'
bounded queues, is what keeps memory and latency from growing when a stage is slow.
Calls from one caller to one actor run in order, so every camera's frames stay in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import ray

from streamdeblur.config import Config
from streamdeblur.errors import StreamDeblurError
from streamdeblur.io.reader import open_container
from streamdeblur.runtime import cluster
from streamdeblur.runtime.deblur import DeblurWorker
from streamdeblur.runtime.publish import PublishReport, PublishWorker
from streamdeblur.runtime.source import CameraSource
from streamdeblur.runtime.status import CameraStatus

StatusCallback = Callable[[list[CameraStatus]], None]


def check_sources(cfg: Config) -> None:
    """Fail fast, with one line, on file cameras that are missing or not video."""
    for cam in cfg.cameras:
        if "://" not in cam.url:
            open_container(cam.url).close()


class Pipeline:
    """Builds the actors for a config, pumps frames, reports status, stops cleanly."""

    def __init__(self, cfg: Config, *, address: str | None = None, in_flight: int = 2):
        self.cfg = cfg
        self.address = address
        self.in_flight = in_flight
        self.status = {cam.id: CameraStatus(cam.id) for cam in cfg.cameras}
        self._started_ray = False
        self._sources: dict[str, ray.actor.ActorHandle] = {}
        self._deblur: list[ray.actor.ActorHandle] = []
        self._publisher: ray.actor.ActorHandle | None = None
        self._chains: dict[ray.ObjectRef, str] = {}
        self.stop_event = threading.Event()
        self.engine_info: dict[str, str] = {"model": "none", "device": "cpu", "precision": "none"}

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> None:
        check_sources(self.cfg)
        self._started_ray = cluster.connect(self.cfg.ray, self.address)
        try:
            self._create_actors()
        except BaseException:
            self.close()
            raise

    def _create_actors(self) -> None:
        cfg = self.cfg
        publisher = ray.remote(PublishWorker).options(num_cpus=0).remote(cfg.output)
        self._publisher = publisher
        error = ray.get(publisher.ready.remote())
        if error:
            raise StreamDeblurError(error)
        if cfg.model.name != "none":
            cls = ray.remote(DeblurWorker).options(
                num_cpus=cfg.ray.deblur_num_cpus, num_gpus=cfg.ray.deblur_num_gpus
            )
            threads = cfg.model.threads or max(1, int(cfg.ray.deblur_num_cpus))
            self._deblur = [
                cls.remote(cfg.model, keep_raw=cfg.output.publish_raw, threads=threads)
                for _ in range(cfg.ray.deblur_actors)
            ]
            infos = ray.get([d.describe.remote() for d in self._deblur])
            self.engine_info = infos[0]
        src_cls = ray.remote(CameraSource)
        for cam in cfg.cameras:
            self._sources[cam.id] = src_cls.options(num_cpus=0, resources=dict(cfg.ray.source_resources)).remote(
                cam, cfg.pipeline.queue_size
            )

    def close(self) -> None:
        """Stop the sources, let in-flight frames reach the output, remove the actors."""
        for src in self._sources.values():
            src.stop.remote()
        if self._chains:
            ray.wait(list(self._chains), num_returns=len(self._chains), timeout=3.0)
        self._chains.clear()
        if self._publisher is not None:
            try:
                ray.get(self._publisher.close.remote(), timeout=3.0)
            except Exception:  # noqa: BLE001 - closing is best effort; the actor is killed next
                pass
        for actor in [*self._sources.values(), *self._deblur, self._publisher]:
            if actor is not None:
                ray.kill(actor)
        self._sources.clear()
        self._deblur.clear()
        self._publisher = None
        cluster.disconnect(self._started_ray)
        self._started_ray = False

    def __enter__(self) -> "Pipeline":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pumping --------------------------------------------------------------------
    def _submit(self, camera: str, index: int) -> None:
        ref = self._sources[camera].get.remote(self.cfg.pipeline.batch_size, 1.0)
        if self._deblur:
            ref = self._deblur[index % len(self._deblur)].process.remote(ref)
        self._chains[self._publisher.publish.remote(ref)] = camera

    def run(
        self,
        duration: float | None = None,
        on_status: StatusCallback | None = None,
        on_report: Callable[[PublishReport], None] | None = None,
    ) -> dict[str, dict[str, object]]:
        """Pump frames until every camera has ended, ``duration`` passed or ``stop_event``
        is set. Returns a summary per camera."""
        index = {cam.id: i for i, cam in enumerate(self.cfg.cameras)}
        active = set(index)
        for cam in index:
            for _ in range(self.in_flight):
                self._submit(cam, index[cam])
        t_end = time.monotonic() + duration if duration else None
        next_status = time.monotonic() + self.cfg.pipeline.status_interval
        for st in self.status.values():
            st.tick()
        while active and not self.stop_event.is_set():
            if t_end is not None and time.monotonic() >= t_end:
                break
            ready, _ = ray.wait(list(self._chains), num_returns=1, timeout=0.2)
            for ref in ready:
                cam = self._chains.pop(ref)
                report: PublishReport = ray.get(ref)
                self.status[cam].update(report)
                if on_report is not None:
                    on_report(report)
                if report.ended:
                    active.discard(cam)
                elif cam in active:
                    self._submit(cam, index[cam])
            now = time.monotonic()
            if now >= next_status:
                next_status = now + self.cfg.pipeline.status_interval
                for st in self.status.values():
                    st.tick(now)
                if on_status is not None:
                    on_status(list(self.status.values()))
        return {cam: st.summary() for cam, st in self.status.items()}
