"""The benchmark pipeline (``streamdeblur bench``): model-only speed, the full pipeline's
throughput against it, latency, and camera scaling, in one run (``bench model``: the
model-only rows alone, without Ray).

Every number is a median over repeats after a warm-up; GPU timings include the copy back
to host memory (the engine returns numpy arrays, which synchronises the device).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av

from streamdeblur.config import ModelConfig, parse_config
from streamdeblur.io.pixels import to_bgr
from streamdeblur.io.reader import first_frames

ROOT = Path(__file__).resolve().parents[1]
DEMO_CLIP = ROOT / "data" / "car-detection.mp4"
RESOLUTIONS = {"640x360": (640, 360), "1280x720": (1280, 720), "1920x1080": (1920, 1080)}

Log = Callable[[str], None]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process on this machine (Linux ``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores of this machine spent not idle (``/proc/stat``), or None."""
    try:
        with open("/proc/stat") as fh:
            ticks = [int(v) for v in fh.readline().split()[1:8]]
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float | None]:
    """CPU seconds so far of each named process, of this one (``driver``) and of the machine."""
    snap = {name: cpu_seconds(pid) for name, pid in pids.items()}
    snap["driver"] = cpu_seconds(os.getpid())
    snap["machine"] = machine_busy_seconds()
    return snap


def cores_used(a: dict[str, float | None], b: dict[str, float | None], seconds: float) -> dict[str, float]:
    """Cores each process used between two snapshots; ``other`` is the rest of the machine
    (Ray's own processes, anything else running)."""
    out = {k: round((b[k] - a[k]) / seconds, 3) for k in a if a[k] is not None and b.get(k) is not None}
    if "machine" in out:
        out["other"] = round(out["machine"] - sum(v for k, v in out.items() if k != "machine"), 3)
    return out


def default_model() -> str:
    """The model ``streamdeblur run`` uses by default (the first shipped one if none)."""
    name = ModelConfig().name
    if name != "none":
        return name
    from streamdeblur.models.weights import registry

    return next(iter(registry()), "none")


def bare_decode(video: Path) -> tuple[int, float]:
    """Frames and seconds for a single-process PyAV decode to BGR arrays."""
    t0 = time.perf_counter()
    n = 0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            to_bgr(frame)
            n += 1
    return n, time.perf_counter() - t0


def model_speed(
    model: str, size: tuple[int, int], k: int, device: str, precision: str, frames: int = 8, repeats: int = 3,
    cameras: int = 1, **settings: object,
) -> dict[str, float]:
    """Model-only frames/s (in total) and per-frame latency for one setting (streaming, flow
    reused); ``cameras`` streams are pushed together, one forward pass per round;
    ``settings``: other ``ModelConfig`` fields (e.g. ``compile``, ``pinned_memory``)."""
    from streamdeblur.models import build_engine

    engine = build_engine(ModelConfig(name=model, window=k, device=device, precision=precision, **settings))
    d = engine.delay
    imgs = first_frames(str(DEMO_CLIP), frames + 2 * d + 2, size)

    def push(stream: str, img) -> None:
        engine.push_batch([(f"{stream}/{c}", img) for c in range(cameras)])

    for img in imgs[: 2 * d + 2]:  # warm-up: fills the windows, first kernels
        push("warm", img)
    rates = []
    for r in range(repeats):
        stream = f"bench{r}"
        for img in imgs[:d]:
            push(stream, img)
        t0 = time.perf_counter()
        for img in imgs[d : d + frames]:
            push(stream, img)
        rates.append(cameras * frames / (time.perf_counter() - t0))
        for c in range(cameras):
            engine.flush(f"{stream}/{c}")
    fps = statistics.median(rates)
    row = {"fps": round(fps, 2), "latency_ms": round(1000 * cameras / fps, 1), "device": engine.device, "precision": engine.precision,
           "flow_refine": engine.refine}
    return row if cameras == 1 else {**row, "cameras": cameras, "per_camera_fps": round(fps / cameras, 2)}


def pipeline_run(
    cameras: int,
    model: str,
    size: tuple[int, int] | None,
    frames: int | None,
    port: int,
    realtime_fps: float | None = None,
    duration: float | None = None,
    batch_size: int = 4,
    threads: int = 1,
) -> dict[str, object]:
    """One run of the real pipeline (Ray actors, ZeroMQ to a subscriber here) on the demo
    clip: offline (every frame) unless ``realtime_fps`` paces the cameras like live ones."""
    from streamdeblur.runtime.graph import Pipeline
    from streamdeblur.transport import Subscriber

    endpoint = f"tcp://127.0.0.1:{port}"
    cams = []
    for i in range(cameras):
        cam: dict[str, object] = {"id": f"cam{i}", "url": str(DEMO_CLIP), "realtime": realtime_fps is not None}
        if size:
            cam["resize"] = list(size)
        if realtime_fps:
            cam.update(loop=True, fps=realtime_fps)
        cams.append(cam)
    cfg = parse_config(
        {
            "cameras": cams,
            "model": {"name": model},
            "output": {"endpoint": "pub+bind:" + endpoint, "send_hwm": 10_000},
            "pipeline": {"batch_size": batch_size, "queue_size": 4 * batch_size},
            "dashboard": {"enabled": False},
            # the deblur actor gets the threads the model-only measurement had
            "ray": {"deblur_num_cpus": threads},
        },
        "bench",
    )
    pipe = Pipeline(cfg)
    pipe.start()
    pids = pipe.local_pids()
    sub = Subscriber(endpoint, recv_hwm=100_000)
    time.sleep(0.5)
    counts = {"n": 0, "first": 0.0, "last": 0.0}
    cpu: dict[str, dict[str, float | None]] = {}
    done = threading.Event()
    limit = frames * cameras if frames else None

    def receive() -> None:
        while True:
            if sub.recv(timeout=0.5) is None:
                if done.is_set():
                    return
                continue
            counts["n"] += 1
            counts["last"] = time.perf_counter()
            if counts["n"] == 1:
                counts["first"] = counts["last"]
                cpu["first"] = cpu_snapshot(pids)
            if limit and counts["n"] >= limit:
                cpu["last"] = cpu_snapshot(pids)
                pipe.stop_event.set()

    rx = threading.Thread(target=receive)
    rx.start()
    t0 = time.perf_counter()
    try:
        summary = pipe.run(duration)
    finally:
        done.set()
        rx.join()
        pipe.close()
        sub.close()
    # steady state, like the model-only numbers: from the first frame out to the last (actor
    # start-up, model loading and the window filling up are latency, reported apart)
    steady = counts["n"] > 1 and counts["last"] > counts["first"]
    fps = (counts["n"] - 1) / (counts["last"] - counts["first"]) if steady else 0.0
    cores = cores_used(cpu["first"], cpu["last"], counts["last"] - counts["first"]) if steady and "last" in cpu else {}
    lat = [s["latency_p50_ms"] for s in summary.values() if s["latency_p50_ms"] is not None]
    lat95 = [s["latency_p95_ms"] for s in summary.values() if s["latency_p95_ms"] is not None]
    return {
        "frames": counts["n"],
        "fps": round(fps, 2),
        "first_frame_s": round(counts["first"] - t0, 2) if counts["n"] else None,
        "latency_p50_ms": round(statistics.median(lat), 1) if lat else None,
        "latency_p95_ms": round(max(lat95), 1) if lat95 else None,
        "dropped": sum(int(s["dropped"]) for s in summary.values()),
        "cpu_cores": cores,
    }


def passthrough(repeats: int = 3, port: int = 5599, log: Log = print) -> dict[str, object]:
    """Issue-2 benchmark: Ray + ZeroMQ passthrough against a bare decode of the same file."""
    bare = [bare_decode(DEMO_CLIP) for _ in range(repeats)]
    frames = bare[0][0]
    bare_fps = statistics.median(n / s for n, s in bare)
    log(f"bare PyAV decode: {bare_fps:.1f} frames/s")
    pipeline_run(1, "none", None, None, port, batch_size=32)  # warm-up: worker processes, imports
    runs = [pipeline_run(1, "none", None, None, port, batch_size=32) for _ in range(repeats)]
    pipe_fps = statistics.median(float(r["fps"]) for r in runs)
    return {
        "video": DEMO_CLIP.name,
        "frames": frames,
        "bare_decode_fps": round(bare_fps, 1),
        "pipeline_fps": round(pipe_fps, 1),
        "ratio": round(pipe_fps / bare_fps, 3),
        "overhead_ms_per_frame": round(1000 / pipe_fps - 1000 / bare_fps, 2),
        "frames_lost": max(frames - int(r["frames"]) for r in runs),
        "repeats": repeats,
    }


def model_rows(device: str = "auto", quick: bool = False, log: Log = print) -> tuple[dict[str, object], list[str]]:
    """``bench model``: model-only frames/s per device, precision, resolution and k (and the
    CUDA fast-path variants on CUDA), as a JSON-ready dict; also the devices measured."""
    import torch

    from streamdeblur.models.engine import native_bf16

    model = default_model()
    devices = ["cuda", "cpu"] if device == "auto" and torch.cuda.is_available() else [device if device != "auto" else "cpu"]
    defaults = ModelConfig()
    result: dict[str, object] = {"model": model, "torch": torch.__version__, "threads": torch.get_num_threads(),
                                 "flow": {"arch": defaults.flow, "scale": defaults.flow_scale, "iters": defaults.flow_iters}}
    if torch.cuda.is_available():
        result["gpu"] = torch.cuda.get_device_name(0)
    speed = []
    for dev in devices:
        native = ["bf16"] if native_bf16(torch.device(dev)) else []  # emulated bf16 is not worth timing
        precisions = ["fp32", "fp16", *native] if dev == "cuda" else ["fp32", *native]
        for res, size in RESOLUTIONS.items():
            if quick and res != "640x360":
                continue
            for k in (1, 2):
                for prec in precisions:
                    n = 4 if (dev == "cpu" and size[0] > 640) or quick else 12
                    row = {"device": dev, "precision": prec, "resolution": res, "k": k,
                           **model_speed(model, size, k, dev, prec, frames=n, repeats=2 if quick else 3)}
                    log(f"model {dev} {prec} {res} k={k}: {row['fps']} frames/s, {row['latency_ms']} ms/frame")
                    speed.append(row)
    result["model_speed"] = speed
    if "cuda" in devices:
        result["cuda_fast_path"] = cuda_fast_path(model, log)
    return result, devices


def full(
    device: str = "auto",
    quick: bool = False,
    port: int = 5598,
    log: Log = print,
) -> dict[str, object]:
    """Everything ``streamdeblur bench`` reports, as one JSON-ready dict."""
    import torch

    result, devices = model_rows(device, quick, log)
    model = str(result["model"])
    speed: list[dict[str, object]] = result["model_speed"]  # type: ignore[assignment]
    defaults = ModelConfig()
    # the pipeline runs the default precision of the first device (fp16 on CUDA): so does its yardstick
    from streamdeblur.models.engine import pick_precision

    default_prec = pick_precision("auto", torch.device(devices[0]))
    base = next(r for r in speed if r["resolution"] == "640x360" and r["k"] == 2 and r["device"] == devices[0]
                and r["precision"] == default_prec)
    n_frames = 16 if quick else 96
    threads = torch.get_num_threads()
    # like for like: the model alone on as many frames as the pipeline gets, measured just
    # before and just after each pipeline run (on a shared 2-core box the speed drifts by
    # 10-40% between minutes, more than the effect measured); the ratio of each run is to
    # the mean of the two model runs around it, and the median of the runs is reported
    pairs = 1 if quick else 3

    def alone() -> float:
        return float(model_speed(model, RESOLUTIONS["640x360"], 2, str(base["device"]), str(base["precision"]),
                                 frames=n_frames, repeats=1)["fps"])

    solo = [alone()]
    runs = []
    for _ in range(pairs):
        runs.append(pipeline_run(1, model, RESOLUTIONS["640x360"], n_frames, port, threads=threads))
        solo.append(alone())
    ratios = [float(r["fps"]) / ((a + b) / 2) for r, a, b in zip(runs, solo, solo[1:])]
    mid = sorted(range(pairs), key=lambda i: ratios[i])[pairs // 2]
    pipe = runs[mid]
    result["model_fps_same_frames"] = round(statistics.median(solo), 2)
    result["model_fps_same_frames_runs"] = solo
    result["pipeline_fps"] = pipe["fps"]
    result["pipeline_fps_runs"] = [r["fps"] for r in runs]
    result["pipeline_first_frame_s"] = pipe["first_frame_s"]
    result["pipeline_to_model_ratio"] = round(ratios[mid], 3)
    result["pipeline_to_model_ratios"] = [round(r, 3) for r in ratios]
    result["pipeline_cpu_cores"] = pipe["cpu_cores"]
    log(f"model {n_frames} frames 640x360 k=2 around each pipeline run: {', '.join(map(str, solo))} frames/s; "
        f"pipeline 1 camera: {', '.join(str(r['fps']) for r in runs)} frames/s = "
        f"{', '.join(f'{r:.2f}' for r in ratios)} x model-only (median {ratios[mid]:.2f})")
    if pipe["cpu_cores"]:
        log("  cores used in steady state (median run): " + ", ".join(f"{k} {v:.2f}" for k, v in pipe["cpu_cores"].items()))
    # latency: cameras paced at 70% of the model's rate, so nothing queues up
    pace = round(0.7 * float(base["fps"]), 2)
    live = pipeline_run(1, model, RESOLUTIONS["640x360"], None, port, realtime_fps=pace, duration=10 if quick else 30,
                        threads=threads)
    window_ms = defaults.delay * 1000 / pace  # the windows' future frames arrive at the camera's pace
    result["latency"] = {
        "camera_fps": pace,
        "window_delay_ms": round(window_ms, 1),
        "p50_ms": live["latency_p50_ms"],
        "p95_ms": live["latency_p95_ms"],
        "p50_minus_window_ms": round(float(live["latency_p50_ms"]) - window_ms, 1) if live["latency_p50_ms"] else None,
        "p95_minus_window_ms": round(float(live["latency_p95_ms"]) - window_ms, 1) if live["latency_p95_ms"] else None,
    }
    log(f"latency at {pace} frames/s: p50 {live['latency_p50_ms']} ms, p95 {live['latency_p95_ms']} ms (window {window_ms:.0f} ms)")
    scaling = {}
    for cams in (1, 2, 4):
        run = pipeline_run(cams, model, RESOLUTIONS["640x360"], n_frames // cams, port, threads=threads)
        scaling[str(cams)] = {"total_fps": run["fps"], "per_camera_fps": round(float(run["fps"]) / cams, 2)}
        log(f"{cams} camera(s): {run['fps']} frames/s in total")
    result["camera_scaling"] = scaling
    if devices[0] == "cuda":  # issue 7's GPU target: 30 frames/s per camera, 4 cameras at 1280x720
        run = pipeline_run(4, model, RESOLUTIONS["1280x720"], 150, port, threads=threads)
        result["camera_scaling_1280x720"] = {"4": {"total_fps": run["fps"], "per_camera_fps": round(float(run["fps"]) / 4, 2)}}
        log(f"4 cameras at 1280x720: {run['fps']} frames/s in total, {float(run['fps']) / 4:.1f} per camera")
    return result


FAST_PATH = {
    "default": {},
    "pageable_memory": {"pinned_memory": False},
    "compile": {"compile": True},
    "compile_cuda_graphs": {"compile": "reduce-overhead"},
}
"""The CUDA fast-path variants ``bench`` measures against each other (issue 7: keep each
only where it helps): ``ModelConfig`` fields over the defaults."""


def cuda_fast_path(model: str, log: Log = print) -> dict[str, dict[str, object]]:
    """Model-only frames/s of each ``FAST_PATH`` variant, 1280x720 k=2 fp16, and 4 and 8
    cameras batched into one forward pass at fp16 and fp32 (and 8 at fp32 without TF32): one
    camera's frame is launch-bound (session 18: ~1200-1500 kernels, the GPU busy a third of
    the time), so whether FP16 pays shows only where batches keep the GPU busy."""
    out: dict[str, dict[str, object]] = {}
    for name, settings in FAST_PATH.items():
        row = model_speed(model, RESOLUTIONS["1280x720"], 2, "cuda", "fp16", frames=24, **settings)
        out[name] = row
        log(f"cuda fast path {name}: {row['fps']} frames/s at 1280x720 k=2 fp16")
    for cams in (4, 8):
        for prec in ("fp16", "fp32"):
            name = f"batch_{cams}_cameras" + ("" if prec == "fp16" else "_fp32")
            out[name] = model_speed(model, RESOLUTIONS["1280x720"], 2, "cuda", prec, frames=24, cameras=cams)
            log(f"cuda fast path {cams} cameras in one batch, {prec}: {out[name]['fps']} frames/s in total")
    # "fp32" on CUDA runs cuDNN's convolutions in TF32 by default (torch.backends.cudnn.allow_tf32):
    # tensor-core math already; IEEE float32 convolutions for comparison
    import torch

    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        out["batch_8_cameras_fp32_no_tf32"] = model_speed(model, RESOLUTIONS["1280x720"], 2, "cuda", "fp32", frames=24, cameras=8)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    log(f"cuda fast path 8 cameras in one batch, fp32 without TF32: {out['batch_8_cameras_fp32_no_tf32']['fps']} frames/s in total")
    return out
