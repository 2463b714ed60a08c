#!/usr/bin/env python
"""Train the deblurring model and export shipped weights.

    python tools/train.py --schedule cpu-quick --out runs/cpu-quick
    python tools/train.py --schedule cpu-cached --out runs/cpu-cached              # continues cpu-quick
    python tools/train.py --schedule cpu-cached-joint --out runs/cpu-cached-joint  # continues cpu-cached
    python tools/train.py --schedule gpu --out runs/gpu            # H100/H200, AMP
    python tools/train.py --export runs/cpu-quick/last.pt --to streamdeblur/weights/raft_fusion_small.pt --name raft-fusion-small

Interrupt and re-run the same command to resume from ``<out>/last.pt``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schedule", default="cpu-quick", help="cpu-quick | cpu | cpu-cached | cpu-cached-joint | gpu")
    ap.add_argument("--out", type=Path, default=Path("runs/train"))
    ap.add_argument("--minutes", type=float, help="wall-clock budget (overrides the schedule's)")
    ap.add_argument("--flow-steps", type=int)
    ap.add_argument("--fusion-steps", type=int)
    ap.add_argument("--joint-steps", type=int)
    ap.add_argument("--cache", type=int, help="render this many clips once and train on crops of them (0: on the fly)")
    ap.add_argument("--init", help="start from this checkpoint's weights")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--lr", type=float, help="peak learning rate of the restoration network")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--device")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export", type=Path, help="training checkpoint to export as shipped weights")
    ap.add_argument("--to", type=Path, help="where --export writes")
    ap.add_argument("--note", default="", help="free text stored in the exported metadata")
    ap.add_argument("--name", help="with --export into streamdeblur/weights: register under this model name")
    args = ap.parse_args()
    if args.export:
        from streamdeblur.models.weights import export

        info = export(args.export, args.to, note=args.note)
        print(f"wrote {args.to} ({info['bytes']} bytes, sha256 {info['sha256']})")
        if args.name:
            from streamdeblur.models.weights import register

            entry = register(args.name, args.to, args.note)
            print(f"registered {entry.name} -> {entry.file}")
        return 0
    from streamdeblur.train.loop import Trainer, schedule

    sched = schedule(args.schedule, minutes=args.minutes, flow_steps=args.flow_steps, fusion_steps=args.fusion_steps,
                     joint_steps=args.joint_steps, cache=args.cache, init=args.init,
                     batch=args.batch, lr=args.lr, threads=args.threads, workers=args.workers, device=args.device)
    Trainer(sched, args.out, args.seed).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
