"""Re-processing many recordings: a folder or glob, spread over Ray deblur workers (one
per ``ray.deblur_actors``, on any node of the cluster), with one progress view.

Outputs keep each input's name in the output folder; finished outputs are skipped unless
``overwrite``. A file that fails is reported and the others go on.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from streamdeblur.config import ModelConfig, RayConfig
from streamdeblur.errors import StreamDeblurError
from streamdeblur.models.reprocess import short_input
from streamdeblur.runtime import cluster
from streamdeblur.runtime.introspect import Introspect

if TYPE_CHECKING:
    import ray

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".ts", ".webm"}


def is_glob(spec: str) -> bool:
    """Whether an input names files by a pattern (``rec/*.mp4``)."""
    return any(ch in spec for ch in "*?[")


def names_many(spec: str) -> bool:
    """Whether an input is a folder or a glob (batch mode), rather than one file."""
    return Path(spec).is_dir() or is_glob(spec)


def expand_inputs(spec: str) -> list[Path]:
    """The recordings a folder, glob or file names (sorted); one-line error when none."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    elif is_glob(spec):
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    elif path.is_file():
        files = [path]
    else:
        raise StreamDeblurError(f"{spec}: no such file or folder")
    if not files:
        raise StreamDeblurError(f"{spec}: no video files found")
    return files


def output_for(src: Path, out_dir: Path) -> Path:
    """``out_dir/<name>``, as .mp4 when the input's container is not one we write."""
    suffix = src.suffix.lower() if src.suffix.lower() in {".mp4", ".m4v", ".mov", ".mkv"} else ".mp4"
    return out_dir / (src.stem + suffix)


class ReprocessWorker(Introspect):
    """Holds one engine and restores whole files with it; ``progress`` can be asked while a
    file runs (the actor runs two calls at a time)."""

    def __init__(self, model: ModelConfig, crf: int = 18, hwaccel: str | None = None):
        from streamdeblur.models import build_engine
        from streamdeblur.models.reprocess import offline_config

        self.model = model
        self.crf = crf
        self.hwaccel = hwaccel
        self.engine = build_engine(offline_config(model))
        self.done = 0

    def run(self, src: str, out: str) -> dict[str, object]:
        from streamdeblur.models.reprocess import reprocess

        self.done = 0

        def tick(n: int) -> None:
            self.done = n

        try:
            result = reprocess(src, out, self.model, crf=self.crf, progress=False, on_frame=tick, engine=self.engine,
                               hwaccel=self.hwaccel)
            return {"status": "done", **result}
        except StreamDeblurError as exc:
            return {"status": "failed", "error": str(exc)}

    def progress(self) -> int:
        return self.done


@dataclass
class Job:
    src: Path
    out: Path
    frames: int
    worker: int | None = None
    ref: ray.ObjectRef | None = None
    bar: tqdm | None = None
    result: dict[str, object] = field(default_factory=dict)


def run_batch(
    inputs: list[Path],
    out_dir: Path,
    model: ModelConfig,
    ray_cfg: RayConfig,
    *,
    overwrite: bool = False,
    address: str | None = None,
    progress: bool = True,
    crf: int = 18,
    hwaccel: str | None = None,
) -> list[dict[str, object]]:
    """Restore every input into ``out_dir`` (``crf``, ``hwaccel``: as for one file); returns
    one summary row per input."""
    import ray

    from streamdeblur.io.reader import probe

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StreamDeblurError(f"{out_dir}: cannot create output folder: {exc.strerror}") from None
    rows: list[dict[str, object]] = []
    jobs: list[Job] = []
    for src in inputs:
        out = output_for(src, out_dir)
        if out.exists() and not overwrite:
            rows.append({"input": str(src), "output": str(out), "status": "skipped (exists; --overwrite redoes it)"})
            continue
        try:
            frames = int(probe(str(src))["frames_estimated"] or 0)
        except StreamDeblurError as exc:
            rows.append({"input": str(src), "output": str(out), "status": "failed", "error": str(exc)})
            continue
        jobs.append(Job(src, out, frames))
    if not jobs:
        return rows
    started = cluster.connect(ray_cfg, address)
    try:
        n = min(ray_cfg.deblur_actors, len(jobs))
        cpus, gpus = cluster.deblur_share(ray_cfg, model)
        model = cluster.actor_model(model, cpus)
        cls = ray.remote(ReprocessWorker).options(
            num_cpus=cpus, num_gpus=gpus,
            resources=dict(ray_cfg.deblur_resources), max_concurrency=2,
        )
        workers = [cls.remote(model, crf, hwaccel) for _ in range(n)]
        total = tqdm(total=sum(j.frames for j in jobs), unit="frame", desc=f"{len(jobs)} files", disable=not progress,
                     dynamic_ncols=True, position=0)
        queue = list(jobs)
        running: dict[int, Job] = {}
        while queue or running:
            for w in range(n):
                if w not in running and queue:
                    job = queue.pop(0)
                    job.worker = w
                    job.ref = workers[w].run.remote(str(job.src), str(job.out))
                    job.bar = tqdm(total=job.frames, unit="frame", desc=job.src.name, disable=not progress,
                                   dynamic_ncols=True, position=w + 1, leave=False)
                    running[w] = job
            ready, _ = ray.wait([j.ref for j in running.values()], num_returns=1, timeout=0.5)
            for w, job in list(running.items()):
                if job.ref in ready:
                    job.result = ray.get(job.ref)
                    done = int(job.result.get("frames_out", job.bar.n))
                else:
                    done = ray.get(workers[w].progress.remote())
                total.update(max(0, done - job.bar.n))
                job.bar.update(max(0, done - job.bar.n))
                if job.ref in ready:
                    job.bar.close()
                    del running[w]
                    rows.append({"input": str(job.src), "output": str(job.out), **job.result})
        total.close()
    finally:
        cluster.disconnect(started)
    order = {str(p): i for i, p in enumerate(inputs)}
    return sorted(rows, key=lambda r: order[str(r["input"])])


def describe(rows: list[dict[str, object]]) -> str:
    """The summary table printed at the end."""
    lines = []
    for r in rows:
        if r["status"] == "done":
            short = short_input(r)
            lines.append(f"  done    {r['input']} -> {r['output']}: {r['frames_out']} frames, {float(r['fps']):.1f} frames/s"
                         + (f"; {short}" if short else ""))
        elif str(r["status"]).startswith("skipped"):
            lines.append(f"  skipped {r['input']}: {r['output']} exists")
        else:
            lines.append(f"  failed  {r['input']}: {r.get('error')}")
    ok = sum(1 for r in rows if r["status"] == "done")
    failed = sum(1 for r in rows if r["status"] == "failed")
    lines.append(f"{ok} done, {len(rows) - ok - failed} skipped, {failed} failed")
    return "\n".join(lines)

