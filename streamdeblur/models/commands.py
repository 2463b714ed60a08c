"""CLI sub-commands of the model owner: ``reprocess``, ``synth``, ``eval``.

Imports stay light at module level (no torch): ``streamdeblur --help`` must be fast.
"""

from __future__ import annotations

def register(subparsers) -> None:
    """Add the sub-commands to the CLI's ``argparse`` subparsers."""
    p = subparsers.add_parser("reprocess", help="restore every frame of recorded video files",
                              description="Deblur a recorded video: same frame count, resolution and timestamps, H.264 "
                                          "output, audio copied. INPUT may also be a folder or a glob ('rec/*.mp4'): then "
                                          "OUTPUT is a folder, files are spread over the Ray deblur workers "
                                          "(ray.deblur_actors, on a cluster with --address) and finished outputs are "
                                          "skipped unless --overwrite.")
    p.add_argument("input", help="input video file, folder or glob")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4, .mkv, .mov), or folder for many inputs")
    p.add_argument("--overwrite", action="store_true", help="many inputs: redo outputs that exist")
    p.add_argument("--address", help="many inputs: join this Ray cluster ('auto' or HOST:PORT)")
    p.add_argument("--config", help="cameras.yaml whose 'model' section to use")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override model.device")
    p.add_argument("--precision", choices=["auto", "fp32", "fp16", "bf16"], help="override model.precision")
    p.add_argument("--window", type=int, help="override model.window (k: 2k+1 frames)")
    p.add_argument("--causal", action="store_true", default=None, help="past frames only")
    _fuse_arguments(p)
    p.add_argument("--model", help="override model.name ('none' copies frames)")
    p.add_argument("--crf", type=int, default=18, help="libx264 quality of the output (default 18)")
    p.add_argument("--hwaccel", help="decode on this hardware device, e.g. cuda (NVDEC); the CPU, with a warning, where it is not there")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_reprocess)

    s = subparsers.add_parser("synth", help="make a realistic blurred version of sharp footage",
                              description="Blur a sharp video (or an image, into a short clip): camera drift and shake "
                                          "averaged in linear light, Gaussian/defocus blur, sensor noise, H.264.")
    s.add_argument("input", help="sharp video file or image")
    s.add_argument("-o", "--output", required=True, help="output video (.mp4, .mkv, .mov)")
    s.add_argument("--strength", type=float, default=1.0, help="scales every blur amplitude (default 1)")
    s.add_argument("--motion", type=float, help="drift speed, px/frame (default 4)")
    s.add_argument("--shake", type=float, help="RMS shake, px (default 2)")
    s.add_argument("--exposure", type=float, help="shutter-open fraction of the frame interval (default 0.8)")
    s.add_argument("--gaussian", type=float, help="Gaussian blur sigma, px (default 0)")
    s.add_argument("--defocus", type=float, help="defocus disk radius, px (default 0)")
    s.add_argument("--noise", type=float, help="read noise sigma, 8-bit units (default 2)")
    s.add_argument("--crf", type=int, help="libx264 CRF of the output (default 28)")
    s.add_argument("--frames", type=int, default=25, help="clip length when the input is an image")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_synth)

    e = subparsers.add_parser("eval", help="score the model on held-out synthesized clips (PSNR, SSIM, warping error, EPE, speed)")
    e.add_argument("--config", help="cameras.yaml whose 'model' section to use")
    e.add_argument("--model", help="model name (default: the config's model.name)")
    e.add_argument("--weights", help="checkpoint to evaluate (default: the model's shipped weights)")
    e.add_argument("--clips", type=int, default=24, help="clips per source kind (default 24)")
    e.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("W", "H"), help="clip frame size")
    e.add_argument("--speed", action="store_true", help="also time the engine at 640x360")
    e.add_argument("--training", action="store_true", help="clips from the training split instead (to tune settings without the held-out data)")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override model.device")
    e.add_argument("--precision", choices=["auto", "fp32", "fp16", "bf16"], help="override model.precision")
    _fuse_arguments(e)
    e.add_argument("--fuse-tolerance", type=float, help="override model.fuse_tolerance")
    e.add_argument("--threads", type=int, help="CPU threads (override model.threads)")
    e.add_argument("--json", help="write the results here")
    e.set_defaults(func=_eval)


def _fuse_arguments(parser) -> None:
    from streamdeblur.config import FLOW_REFINE, FUSE_MODES

    parser.add_argument("--fuse", choices=FUSE_MODES, help="override model.fuse (where the window is fused)")
    parser.add_argument("--flow-refine", choices=FLOW_REFINE, help="override model.flow_refine (DIS refinement of RAFT's flows)")


def _model_config(args):
    from streamdeblur.config import ModelConfig, load_config
    from streamdeblur.errors import ConfigError

    base = load_config(args.config).model if getattr(args, "config", None) else ModelConfig()
    over = {k: v for k, v in {
        "device": getattr(args, "device", None), "precision": getattr(args, "precision", None),
        "window": getattr(args, "window", None), "causal": getattr(args, "causal", None), "fuse": getattr(args, "fuse", None),
        "name": getattr(args, "model", None), "weights": getattr(args, "weights", None),
        "threads": getattr(args, "threads", None), "fuse_tolerance": getattr(args, "fuse_tolerance", None),
        "flow_refine": getattr(args, "flow_refine", None),
    }.items() if v is not None}
    try:
        return ModelConfig.model_validate({**base.model_dump(), **over})
    except Exception as exc:  # pydantic ValidationError
        first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}
        raise ConfigError(f"model.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _reprocess(args) -> int:
    from pathlib import Path

    from pipelines.reprocess import names_many
    from streamdeblur.errors import StreamDeblurError
    from streamdeblur.io.reader import check_hwaccel

    if args.hwaccel is not None:
        try:
            check_hwaccel(args.hwaccel)
        except ValueError as exc:
            raise StreamDeblurError(f"--hwaccel: {exc}") from None
    if names_many(args.input):
        from pipelines.reprocess import describe, expand_inputs, run_batch
        from streamdeblur.config import RayConfig, load_config

        ray_cfg = load_config(args.config).ray if args.config else RayConfig()
        rows = run_batch(expand_inputs(args.input), Path(args.output), _model_config(args), ray_cfg,
                         overwrite=args.overwrite, address=args.address, progress=not args.quiet,
                         crf=args.crf, hwaccel=args.hwaccel)
        print(describe(rows))
        return 1 if any(r["status"] == "failed" for r in rows) else 0
    from streamdeblur.models.reprocess import reprocess, short_input

    r = reprocess(args.input, args.output, _model_config(args), crf=args.crf, progress=not args.quiet, hwaccel=args.hwaccel)
    short = short_input(r)
    notes = [short] if short else []
    notes += [f"{r['corrupt']} corrupt packets skipped"] if r["corrupt"] else []
    notes += [f"{r['audio_packets']} audio packets copied"] if r["audio_packets"] else []
    notes += [f"decoded on {r['decoder']}"] if args.hwaccel else []
    notes += [f"flows refined by DIS ({r['flow_refine']})"] if r["flow_refine"] != "none" else []
    print(f"{args.output}: {r['frames_out']} frames, {r['fps']:.1f} frames/s on {r['device']} ({r['precision']})"
          + "".join(f", {n}" for n in notes))
    return 0


def _synth(args) -> int:
    from streamdeblur.synth.clip import SynthParams
    from streamdeblur.synth.video import synth_video

    fields = {"motion_px": args.motion, "shake_px": args.shake, "exposure": args.exposure, "gaussian_sigma": args.gaussian,
              "defocus_radius": args.defocus, "noise_sigma": args.noise, "crf": args.crf}
    params = SynthParams(strength=args.strength, **{k: v for k, v in fields.items() if v is not None})
    n = synth_video(args.input, args.output, params, seed=args.seed, frames=args.frames, progress=not args.quiet)
    print(f"wrote {args.output}: {n} frames")
    return 0


def _eval(args) -> int:
    from streamdeblur.train.evaluate import evaluate, print_report

    results = evaluate(_model_config(args), clips=args.clips, size=tuple(args.size), speed=args.speed, held_out=not args.training)
    print_report(results)
    if args.json:
        import json

        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0
