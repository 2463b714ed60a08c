"""Soak benchmark: a long live run with an RTSP camera whose server is killed periodically.

    python tools/soak.py [--minutes 10] [--kill-every 60] [--model none] [--json]

Cameras: the bundled clip looping in real time, and a real RTSP camera (GStreamer's
rtsp-server on loopback, see tests/rtsp_server.py) whose server is SIGKILLed every
``--kill-every`` seconds and restarted 5 s later. A subscriber receives everything.
Reports frames in/out, drops, reconnects, and the resident memory (VmRSS) of the driver and
of every actor process at the start (after one minute of warm-up) and the end, with
their peak (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import ray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamdeblur.config import parse_config  # noqa: E402
from streamdeblur.runtime.graph import Pipeline  # noqa: E402
from streamdeblur.transport import Subscriber  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_kib(pid: int) -> tuple[int, int, int, int]:
    """(VmRSS, VmHWM, RssAnon, RssShmem) of a process in KiB. RssShmem is mostly Ray's
    shared-memory object store mapped into the process: it grows as the process touches
    more of the store (bounded by the store's size), which is not a leak; RssAnon is the
    process's own memory."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return tuple(int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM", "RssAnon", "RssShmem"))


class RtspServer:
    def __init__(self, port: int, clip: Path):
        self.cmd = ["/usr/bin/python3", str(ROOT / "tests" / "rtsp_server.py"), str(port), "cam", str(clip)]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, text=True)
        self.proc.stdout.readline()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--kill-every", type=float, default=60.0)
    ap.add_argument("--model", default="none")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    clip = ROOT / "data" / "car-detection.mp4"
    rtsp_port, zmq_port = free_port(), free_port()
    server = RtspServer(rtsp_port, clip)
    server.start()
    endpoint = f"tcp://127.0.0.1:{zmq_port}"
    cfg = parse_config(
        {
            "cameras": [
                {"id": "file", "url": str(clip), "loop": True, "realtime": True},
                {"id": "rtsp", "url": f"rtsp://127.0.0.1:{rtsp_port}/cam", "open_timeout": 5, "read_timeout": 5,
                 "reconnect_initial": 1, "reconnect_max": 4},
            ],
            "model": {"name": args.model},
            "output": {"endpoint": "pub+bind:" + endpoint, "publish_raw": True},
        },
        "soak",
    )
    pipe = Pipeline(cfg)
    pipe.start()
    actors = {f"source:{c}": a for c, a in pipe._sources.items()}
    actors.update({f"deblur:{i}": a for i, a in enumerate(pipe._deblur)})
    actors["publisher"] = pipe._publisher
    pids = {name: ray.get(a.pid.remote()) for name, a in actors.items()}
    pids["driver"] = __import__("os").getpid()

    received = {"n": 0}
    stop = threading.Event()

    def receive() -> None:
        with Subscriber(endpoint, recv_hwm=1000) as sub:
            while not stop.is_set():
                if sub.recv(timeout=0.5) is not None:
                    received["n"] += 1

    def chaos() -> None:
        kills = 0
        while not stop.wait(args.kill_every):
            server.kill()
            kills += 1
            print(f"[soak] RTSP server killed ({kills})", flush=True)
            if stop.wait(5.0):
                break
            server.start()
        received["kills"] = kills

    threads = [threading.Thread(target=receive), threading.Thread(target=chaos)]
    for t in threads:
        t.start()
    mem: dict[str, dict[str, list[int]]] = {}

    def sample(label: str) -> None:
        for name, pid in pids.items():
            mem.setdefault(name, {})[label] = list(memory_kib(pid))

    def status(statuses) -> None:
        for st in statuses:
            print("[soak]", st.line(), flush=True)

    t0 = time.monotonic()
    warm = threading.Timer(60.0, sample, args=("start",))
    warm.start()
    try:
        summary = pipe.run(args.minutes * 60, on_status=status)
        sample("end")
    finally:
        warm.cancel()
        stop.set()
        for t in threads:
            t.join()
        pipe.close()
        server.kill()
    result = {
        "minutes": round((time.monotonic() - t0) / 60, 2),
        "model": args.model,
        "server_kills": received.get("kills", 0),
        "frames_received": received["n"],
        "cameras": {
            c: {k: s[k] for k in ("frames_in", "frames_out", "dropped", "reconnects", "restarts", "state")}
            for c, s in summary.items()
        },
        "memory_kib": {
            name: {
                "rss_start": m.get("start", [None] * 4)[0], "rss_end": m["end"][0], "peak": m["end"][1],
                "anon_start": m.get("start", [None] * 4)[2], "anon_end": m["end"][2],
                "shmem_start": m.get("start", [None] * 4)[3], "shmem_end": m["end"][3],
            }
            for name, m in mem.items()
        },
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
