"""CLI: ``ocr`` (live plate-reading consumer) and ``eval-ocr`` (recognition-gain report).

Imports stay light here: torch and EasyOCR load inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from streamdeblur.errors import StreamDeblurError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ocr",
        help="read licence plates from a pipeline's output (raw vs deblurred)",
        description="Connect to a pipeline's ZeroMQ output, read plates with EasyOCR on the deblurred "
        "frames (and on the raw ones when the pipeline publishes them), vote across frames, and report "
        "per camera: one JSON line per plate read and per periodic stats, plus a summary on stderr.",
    )
    p.add_argument("endpoint", nargs="?", help="e.g. tcp://127.0.0.1:5555; default: the output endpoint of --config")
    p.add_argument("--config", metavar="FILE", help="cameras.yaml: camera ids, plate formats and the ocr section")
    p.add_argument("--json-out", metavar="FILE", help="write the JSON lines here instead of stdout ('-': stdout)")
    p.add_argument("--camera", action="append", metavar="ID", help="only this camera (repeatable); default: all")
    p.add_argument("--plate-format", metavar="REGEX", help="plate regex (or preset: br, mercosul, it, sk) for cameras without one")
    p.add_argument("--vote-frames", type=int, metavar="N", help="frames voted per plate (default: config, 5)")
    p.add_argument("--min-confidence", type=float, metavar="X", help="lowest EasyOCR confidence kept (default: config, 0.3)")
    p.add_argument("--report-interval", type=float, metavar="SECONDS", help="seconds between summaries (default: config, 10)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop by itself after this long")
    _device_args(p)
    p.set_defaults(func=_ocr)

    e = sub.add_parser(
        "eval-ocr",
        help="measure how much deblurring raises plate recognition (sharp / blurred / deblurred)",
        description="For each labelled plate photo in PLATES_DIR (.txt files with 'image x y w h text' lines), "
        "synthesize a short blurred clip, restore it with the deblurring model, and read the plate on the "
        "sharp, blurred and deblurred centre frame. Prints character accuracy, exact-match rate and the share "
        "of the sharp-vs-blurred gap that deblurring closes.",
    )
    e.add_argument("plates_dir", metavar="PLATES_DIR", help="folder of plate photos and their .txt labels")
    e.add_argument("--limit", type=int, metavar="N", help="only the first N plates")
    e.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    e.add_argument("--report", metavar="DIR", help="write report.md, chart.png, crops.png and metrics.json to DIR")
    e.add_argument("--config", metavar="FILE", help="take the model (and ocr.plate_format) from this cameras.yaml")
    e.add_argument("--model", metavar="NAME", help="deblurring model name (overrides the config; 'none' = passthrough)")
    e.add_argument("--weights", metavar="FILE", help="model checkpoint (overrides the config)")
    e.add_argument("--plate-format", metavar="REGEX", help="plate regex or preset (br, mercosul, it, sk) for format fixes")
    e.add_argument("--held-out", action="store_true", help="only plates held out from training (streamdeblur.train.splits)")
    e.add_argument("--training", action="store_true", help="only plates used in training (to tune settings without the held-out plates)")
    e.add_argument("--frames", type=int, metavar="N",
                   help="frames per synthesized clip (default: the centre frame's whole window, 2 x the model's delay + 1, "
                        "at least 5: 9 with the default model)")
    e.add_argument("--plate-width", type=int, default=128, metavar="PX", help="plates are scaled to this width (default 128)")
    e.add_argument("--strength", type=float, default=1.0, metavar="X", help="blur strength multiplier (default 1)")
    e.add_argument("--seed", type=int, default=0, help="random seed of the blur synthesis (default 0)")
    e.add_argument("--repeats", type=int, default=1, metavar="R",
                   help="synthesize each plate R times with different blur draws (default 1; n = plates x R)")
    _device_args(e)
    e.set_defaults(func=_eval_ocr)

    d = sub.add_parser(
        "ocr-demo-clip",
        help="make a demo video of real plates driving past a shaky camera (for the OCR demo)",
        description="Film held-out plate photos with a drifting, shaking camera (motion blur, noise, "
        "H.264 from streamdeblur.synth) and write them one after another to an mp4.",
    )
    d.add_argument("out", metavar="OUT.mp4")
    d.add_argument("--plates", action="append", metavar="DIR", help="plate folder (repeatable); default: the shared br and eu sets")
    d.add_argument("--count", type=int, default=6, metavar="N", help="plates in the clip (default 6)")
    d.add_argument("--seconds", type=float, default=6.0, help="seconds each plate is in view (default 6)")
    d.add_argument("--fps", type=float, default=10.0, help="frame rate (default 10)")
    d.add_argument("--strength", type=float, default=1.0, metavar="X", help="blur strength multiplier (default 1)")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=_demo_clip)


def _device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where EasyOCR runs (default auto)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: all)")


def _threads(n: int | None) -> None:
    if n is not None:
        if n < 1:
            raise StreamDeblurError("--threads must be at least 1")
        import torch

        torch.set_num_threads(n)


def _ocr(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from streamdeblur.config import OcrConfig, load_config
    from streamdeblur.ocr.consumer import OcrConsumer, consumer_endpoint, json_lines

    config = load_config(args.config) if args.config else None
    if args.endpoint is None and config is None:
        raise StreamDeblurError("ocr: give an ENDPOINT (e.g. tcp://127.0.0.1:5555) or --config FILE")
    overrides = {k: v for k, v in (
        ("plate_format", args.plate_format), ("vote_frames", args.vote_frames),
        ("min_confidence", args.min_confidence), ("report_interval", args.report_interval),
    ) if v is not None}
    base = config.ocr if config else OcrConfig()
    try:
        cfg = OcrConfig.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise StreamDeblurError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
    _threads(args.threads)
    endpoint = args.endpoint or consumer_endpoint(config.output)
    formats = {c.id: c.plate_format or cfg.plate_format for c in config.cameras} if config else {}
    out = sys.stdout if args.json_out in (None, "-") else _open(args.json_out)
    write = json_lines(out)

    def emit(event: dict) -> None:
        write(event)
        if event["event"] == "plate":
            print(
                f"[ocr] {event['camera']}/{event['stream']}: plate {event['text']} (confidence {event['confidence']:.2f}, "
                f"{event['votes']}/{event['frames']} frames agree, seq {event['seq_first']}-{event['seq_last']})",
                file=sys.stderr, flush=True,
            )

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        consumer = OcrConsumer(endpoint, cfg, formats=formats, cameras=args.camera, emit=emit, device=args.device)
        print(f"[ocr] reading plates from {endpoint} (Ctrl-C stops)", file=sys.stderr, flush=True)
        try:
            consumer.run(duration=args.duration)
        except KeyboardInterrupt:
            pass
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        if out is not sys.stdout:
            out.close()
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _open(path: str):
    try:
        return open(path, "a", encoding="utf-8")
    except OSError as exc:
        raise StreamDeblurError(f"--json-out {path}: {exc.strerror}") from None


def _eval_ocr(args: argparse.Namespace) -> int:
    from streamdeblur.config import ModelConfig, load_config
    from streamdeblur.ocr.evaluate import evaluate, format_table
    from streamdeblur.ocr.plates import resolve_format

    for flag, value, low in (("--limit", args.limit, 1), ("--frames", args.frames, 1), ("--plate-width", args.plate_width, 16),
                             ("--repeats", args.repeats, 1)):
        if value is not None and value < low:
            raise StreamDeblurError(f"{flag} must be at least {low}")
    if args.strength < 0:
        raise StreamDeblurError("--strength must not be negative")
    config = load_config(args.config) if args.config else None
    model = config.model if config else ModelConfig()
    updates = {k: v for k, v in (("name", args.model), ("weights", args.weights)) if v is not None}
    if updates:
        model = ModelConfig.model_validate({**model.model_dump(), **updates})
    try:
        fmt = resolve_format(args.plate_format or (config.ocr.plate_format if config else None))
    except ValueError as exc:
        raise StreamDeblurError(str(exc)) from None
    _threads(args.threads)

    def skipped(path, why):
        print(f"eval-ocr: skipped {path}: {why}", file=sys.stderr)

    result = evaluate(
        args.plates_dir, limit=args.limit, model=model, plate_format=fmt, held_out=args.held_out, training=args.training,
        n_frames=args.frames, plate_width=args.plate_width, strength=args.strength, seed=args.seed,
        repeats=args.repeats, keep_crops=bool(args.report), ocr_device=args.device,
        model_dir=config.ocr.model_dir if config else None, on_skip=skipped,
    )
    metrics = result.metrics()
    if args.report:
        from streamdeblur.ocr.report import write_report

        path = write_report(result, args.report, title=f"Plate OCR: {args.plates_dir}")
        print(f"eval-ocr: report written to {path}", file=sys.stderr)
    print(json.dumps(metrics) if args.json else format_table(metrics))
    return 0


def _demo_clip(args: argparse.Namespace) -> int:
    from streamdeblur.ocr.democlip import make_demo_clip
    from streamdeblur.train.splits import data_root

    if args.count < 1 or args.seconds <= 0 or args.fps <= 0:
        raise StreamDeblurError("--count, --seconds and --fps must be positive")
    dirs = args.plates or [data_root() / "plates" / "br", data_root() / "plates" / "eu"]
    path = make_demo_clip(args.out, dirs, count=args.count, seconds=args.seconds, fps=args.fps, strength=args.strength, seed=args.seed)
    print(f"ocr-demo-clip: wrote {path}", file=sys.stderr)
    return 0
