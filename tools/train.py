#!/usr/bin/env python
"""Train the deblurring model and export shipped weights.

    python tools/train.py --schedule cpu-quick --out runs/cpu-quick   # one schedule (2 cores)
    python tools/train.py --schedule gpu --out runs/gpu               # H100/H200, AMP
    python tools/train.py --export runs/gpu/last.pt --to streamdeblur/weights/raft_fusion_small.pt --name raft-fusion-small
    bash tools/train_shipped.sh                                       # the shipped weights' chain, in order

Every schedule, shipped or tried, is in ``streamdeblur.train.loop.SCHEDULES`` with a
comment on what it continues; MODEL_CARD.md has what each one gave.
Interrupt and re-run the same command to resume from ``<out>/last.pt``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schedule", default="cpu-quick", help="a schedule of streamdeblur.train.loop.SCHEDULES, e.g. cpu-quick, cpu-cached, gpu")
    ap.add_argument("--out", type=Path, default=Path("runs/train"))
    ap.add_argument("--minutes", type=float, help="wall-clock budget (overrides the schedule's)")
    ap.add_argument("--flow-steps", type=int)
    ap.add_argument("--fusion-steps", type=int)
    ap.add_argument("--joint-steps", type=int)
    ap.add_argument("--cache", type=int, help="render this many clips once and train on crops of them (0: on the fly)")
    ap.add_argument("--plate-cache", type=int, help="also render this many plate-centred clips and mix them in")
    ap.add_argument("--plate-share", type=float, help="share of training crops from the plate clips (0-1)")
    ap.add_argument("--edge-weight", type=float, help="weight of the Laplacian edge loss term")
    ap.add_argument("--text-weight", type=float, help="weight of the plate-text term (needs a cache schedule; streamdeblur.train.textloss)")
    ap.add_argument("--init", help="start from this checkpoint's weights")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--crop", type=int, help="training crop side (a multiple of 8)")
    ap.add_argument("--lr", type=float, help="peak learning rate of the restoration network")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--device")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export", type=Path, help="training checkpoint to export as shipped weights")
    ap.add_argument("--to", type=Path, help="where --export writes")
    ap.add_argument("--note", help="free text stored in the exported metadata (and, with --name, the registry's description; without it an existing description is kept)")
    ap.add_argument("--flow-from", type=Path, help="with --export: the flow network's weights from this other checkpoint")
    ap.add_argument("--name", help="with --export into streamdeblur/weights: register under this model name")
    args = ap.parse_args()
    if args.export and not args.to:
        ap.error("--export needs --to (the weights file to write)")
    from streamdeblur.errors import report

    return report("train", lambda: export_weights(args) if args.export else train(args),
                  interrupted="interrupted (re-run the same command to resume)")


def export_weights(args: argparse.Namespace) -> int:
    from streamdeblur.errors import StreamDeblurError
    from streamdeblur.models.weights import check_registrable, export, register

    if args.name:
        check_registrable(args.to)  # before anything is written
    for ck in (args.export, args.flow_from):
        if ck is not None and not ck.is_file():
            raise StreamDeblurError(f"checkpoint {ck} not found")
    info = export(args.export, args.to, note=args.note or "", flow_from=args.flow_from)
    print(f"wrote {args.to} ({info['bytes']} bytes, sha256 {info['sha256']})")
    if args.name:
        entry = register(args.name, args.to, args.note)
        print(f"registered {entry.name} -> {entry.file}")
    return 0


def train(args: argparse.Namespace) -> int:
    from streamdeblur.train.loop import Trainer, schedule

    sched = schedule(args.schedule, minutes=args.minutes, flow_steps=args.flow_steps, fusion_steps=args.fusion_steps,
                     joint_steps=args.joint_steps, cache=args.cache, init=args.init, plate_cache=args.plate_cache,
                     plate_share=args.plate_share, edge_weight=args.edge_weight, text_weight=args.text_weight,
                     batch=args.batch, crop=args.crop, lr=args.lr, threads=args.threads, workers=args.workers, device=args.device)
    # SIGTERM (a scheduler's or `timeout`'s stop) ends the run like Ctrl-C: last.pt saved
    signal.signal(signal.SIGTERM, _interrupt)
    Trainer(sched, args.out, args.seed).run()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
