"""The pipeline graph: one source actor per camera -> deblur actor(s) -> one publisher.

The driver never touches pixels: it chains actor calls by object reference
(``source.get -> deblur.process -> publisher.publish``), so frames go through Ray's object
store from actor to actor, and it fetches only the small :class:`BatchInfo` and
:class:`PublishReport`. Each camera has at most ``in_flight`` batches outstanding: that bound, with the sources'
bounded queues, is what keeps memory and latency from growing when a stage is slow.
Calls from one caller to one actor run in order, so every camera's frames stay in order.

Every actor has a restart policy: when its process dies, Ray starts a new one, the batches
it held are counted as lost (``CameraStatus.lost``) and logged, and pumping goes on; a
restarted source resumes numbering (and, for offline files, decoding) after the last
frame that was published.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import ray
from ray.exceptions import RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from streamdeblur.config import Config
from streamdeblur.errors import StreamDeblurError
from streamdeblur.io.reader import open_container
from streamdeblur.runtime import cluster
from streamdeblur.runtime.batch import BatchInfo
from streamdeblur.runtime.deblur import DeblurWorker
from streamdeblur.runtime.publish import PublishReport, PublishWorker
from streamdeblur.runtime.source import CameraSource
from streamdeblur.runtime.status import CameraStatus

StatusCallback = Callable[[list[CameraStatus]], None]
log = logging.getLogger("streamdeblur")
# Actors come back when their process dies. A source's calls fail (the driver restarts it
# where the last one stopped); a stage's call is retried once on the new process, so the
# batch it held is not lost (twice: it is counted as lost and skipped).
SOURCE_RESTART = {"max_restarts": -1, "max_task_retries": 0}
STAGE_RESTART = {"max_restarts": -1, "max_task_retries": 1}


def check_sources(cfg: Config) -> None:
    """Fail fast, with one line, on file cameras that are missing or not video."""
    for cam in cfg.cameras:
        if "://" not in cam.url:
            open_container(cam.url).close()


class Pipeline:
    """Builds the actors for a config, pumps frames, reports status, stops cleanly."""

    def __init__(self, cfg: Config, *, address: str | None = None, in_flight: int = 3):
        self.cfg = cfg
        self.address = address
        self.in_flight = in_flight
        self.status = {cam.id: CameraStatus(cam.id) for cam in cfg.cameras}
        self._started_ray = False
        self._sources: dict[str, ray.actor.ActorHandle] = {}
        self._deblur: list[ray.actor.ActorHandle] = []
        self._publisher: ray.actor.ActorHandle | None = None
        self._index = {cam.id: i for i, cam in enumerate(cfg.cameras)}
        self._gets: dict[ray.ObjectRef, tuple[str, ray.ObjectRef]] = {}
        self._polls: dict[ray.ObjectRef, str] = {}
        self._chains: dict[ray.ObjectRef, list[tuple[str, BatchInfo]]] = {}
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
        # The output socket binds on this machine; so do sources without resources of their
        # own (their files are here).
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        publisher = ray.remote(PublishWorker).options(num_cpus=0, scheduling_strategy=here, **STAGE_RESTART).remote(
            cfg.output
        )
        self._publisher = publisher
        error = ray.get(publisher.ready.remote())
        if error:
            raise StreamDeblurError(error)
        if cfg.model.name != "none":
            cpus, gpus = cluster.deblur_share(cfg.ray, cfg.model, busy=1.0 if cfg.ocr.enabled else 0.0)
            cls = ray.remote(DeblurWorker).options(
                num_cpus=cpus, num_gpus=gpus, resources=dict(cfg.ray.deblur_resources), **STAGE_RESTART,
            )
            model = cluster.actor_model(cfg.model, cpus)
            self._deblur = [
                cls.remote(model, keep_raw=cfg.output.publish_raw)
                for _ in range(cfg.ray.deblur_actors)
            ]
            infos = ray.get([d.describe.remote() for d in self._deblur])
            self.engine_info = infos[0]
        src_cls = ray.remote(CameraSource)
        for cam in cfg.cameras:
            where = {"resources": dict(cam.resources)} if cam.resources else {"scheduling_strategy": here}
            self._sources[cam.id] = src_cls.options(num_cpus=0, **where, **SOURCE_RESTART).remote(
                cam, cfg.pipeline.queue_size
            )
        ray.get([src.start.remote(0) for src in self._sources.values()])

    def _actors(self) -> dict[str, ray.actor.ActorHandle]:
        actors = {f"source:{c}": a for c, a in self._sources.items()}
        actors.update({f"deblur:{i}": a for i, a in enumerate(self._deblur)})
        if self._publisher is not None:
            actors["publisher"] = self._publisher
        return actors

    def placement(self) -> dict[str, str]:
        """Ray node id of every actor: ``source:<camera>``, ``deblur:<i>``, ``publisher``."""
        actors = self._actors()
        return dict(zip(actors, ray.get([a.node.remote() for a in actors.values()])))

    def local_pids(self) -> dict[str, int]:
        """Process id of every actor that runs on this machine (named as in ``placement``)."""
        here = ray.get_runtime_context().get_node_id()
        actors = self._actors()
        nodes = self.placement()
        pids = ray.get([a.pid.remote() for a in actors.values()])
        return {name: pid for (name, pid) in zip(actors, pids) if nodes[name] == here}

    def close(self) -> None:
        """Stop the sources, let in-flight frames reach the output, remove the actors."""
        for src in self._sources.values():
            src.stop.remote()
        pending = list(self._chains)
        while pending:  # as long as frames keep arriving (a busy deblur actor takes seconds)
            done, pending = ray.wait(pending, num_returns=len(pending), timeout=3.0)
            if not done:
                break
        self._chains.clear()
        self._gets.clear()
        self._polls.clear()
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
    def _request(self, camera: str) -> None:
        """Ask a camera's source for its next frames. The batch stays in the object store;
        the driver fetches only its small :class:`BatchInfo` before sending it on, so a
        camera that has nothing to give never holds up the stages the cameras share."""
        size = 1 if self._latency_first(camera) else self.cfg.pipeline.batch_size
        batch, info = self._sources[camera].get.options(num_returns=2).remote(size, 1.0)
        self._gets[info] = (camera, batch)

    def _latency_first(self, camera: str) -> bool:
        """A live camera behind a model moves one frame per request and keeps one request
        fewer in flight: the lowest latency (the model, not the transport, is the limit)."""
        return bool(self._deblur) and self.cfg.camera(camera).is_live

    def _forward(self, ready: list[tuple[str, ray.ObjectRef, BatchInfo]]) -> None:
        """Send answered batches on: those bound for one deblur actor go in one call (so
        it can batch cameras together), then to the publisher."""
        groups: dict[int, list[tuple[str, ray.ObjectRef, BatchInfo]]] = {}
        for item in ready:
            groups.setdefault(self._index[item[0]] % max(1, len(self._deblur)), []).append(item)
        for actor, items in groups.items():
            refs = [batch for _, batch, _ in items]
            if self._deblur:
                refs = [self._deblur[actor].process.remote(*refs)]
            self._chains[self._publisher.publish.remote(*refs)] = [(cam, info) for cam, _, info in items]

    def _stage_failed(self, camera: str, reason: str, lost: int) -> None:
        self.status[camera].failed_batch(lost)
        log.warning("camera %s: a stage failed (%s); %d frames lost, actor restarting", camera, reason, lost)

    def _resume_source(self, camera: str) -> None:
        """Tell a camera's source where to resume: after every frame already handed out (a
        restarted source waits for this; a running one ignores it). Called once the step's
        batches are forwarded, so that their frames count as handed out."""
        last = self.status[camera].last_seq
        resume = [0 if last is None else last + 1]
        resume += [i.first_seq + i.count for chain in self._chains.values() for c, i in chain if c == camera]
        self._sources[camera].start.remote(max(resume))

    def _step(self, refs: list[ray.ObjectRef]) -> list[PublishReport]:
        """Advance the requests and chains that finished; returns the reports of the
        batches that are done (forwarding the others in one go)."""
        reports: list[PublishReport] = []
        forward: list[tuple[str, ray.ObjectRef, BatchInfo]] = []
        resume: set[str] = set()
        for ref in refs:
            if ref in self._gets:
                camera, batch = self._gets.pop(ref)
                try:
                    info: BatchInfo = ray.get(ref)
                except RayError as exc:
                    self._stage_failed(camera, _reason(exc), 0)  # its queue died with it, uncounted
                    resume.add(camera)
                    reports.append(PublishReport(camera=camera))
                    continue
                if info.count or info.ended:  # the end goes down the chain too: stages flush
                    forward.append((camera, batch, info))
                else:
                    if info.waiting:  # restarted by Ray before a failed call told us
                        resume.add(camera)
                    reports.append(PublishReport(camera=camera, source=info.source))
                continue
            chain = self._chains.pop(ref)
            try:
                reports += ray.get(ref)
            except RayError as exc:
                for camera, info in chain:
                    self._stage_failed(camera, _reason(exc), info.count)
                    resume.add(camera)
                    reports.append(PublishReport(camera=camera))
        self._forward(forward)
        for camera in resume:
            self._resume_source(camera)
        return reports

    def _poll_sources(self) -> None:
        """Refresh camera counters straight from the sources (the reports that carry them
        come slowly when a stage is slow): take the answers to the last poll, ask again."""
        if self._polls:
            done, _ = ray.wait(list(self._polls), num_returns=len(self._polls), timeout=0)
            for ref in done:
                camera = self._polls.pop(ref)
                try:
                    self.status[camera].take_source(ray.get(ref))
                except RayError:
                    pass  # a dead source: its failed batches say so
        for camera, src in self._sources.items():
            if camera not in self._polls.values():
                self._polls[src.stats.remote()] = camera

    def _ready(self) -> list[ray.ObjectRef]:
        """Every finished request and chain, in submission order (so each camera's
        batches are forwarded in order), after waiting up to 0.2 s for the first."""
        refs = [*self._gets, *self._chains]
        if not refs or not ray.wait(refs, num_returns=1, timeout=0.2)[0]:
            return []
        done = set(ray.wait(refs, num_returns=len(refs), timeout=0)[0])
        return [r for r in refs if r in done]

    def run(
        self,
        duration: float | None = None,
        on_status: StatusCallback | None = None,
        on_report: Callable[[PublishReport], None] | None = None,
    ) -> dict[str, dict[str, object]]:
        """Pump frames until every camera has ended, ``duration`` passed or ``stop_event``
        is set. Returns a summary per camera."""
        active = set(self._index)
        for cam in self._index:
            n = self.in_flight - 1 if self._latency_first(cam) else self.in_flight
            for _ in range(max(1, n)):
                self._request(cam)
        t_end = time.monotonic() + duration if duration else None
        next_status = time.monotonic() + self.cfg.pipeline.status_interval
        for st in self.status.values():
            st.tick()
        while active and not self.stop_event.is_set():
            if t_end is not None and time.monotonic() >= t_end:
                break
            for report in self._step(self._ready()):
                cam = report.camera
                if self.status[cam].update(report):
                    log.warning("camera %s: deblur worker restarted (now pid %d)", cam, report.worker)
                if on_report is not None:
                    on_report(report)
                if report.ended:
                    active.discard(cam)
                elif cam in active:
                    self._request(cam)
            now = time.monotonic()
            if now >= next_status:
                next_status = now + self.cfg.pipeline.status_interval
                self._poll_sources()
                for st in self.status.values():
                    st.tick(now)
                if on_status is not None:
                    on_status(list(self.status.values()))
        return {cam: st.summary() for cam, st in self.status.items()}


def _reason(exc: Exception) -> str:
    """One line: where it failed and, for a task error, the exception at its root."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[0][:160] + (f" ... {lines[-1][:200]}" if len(lines) > 1 else "")
