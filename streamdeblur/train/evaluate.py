"""Evaluation on held-out data: PSNR/SSIM (whole frame, plate region), temporal warping error,
flow end-point error and speed, for the baselines and the model's variants.

Clips are synthesized (fixed seeds, the training degradation distribution) from the held-out
plate photos and frames of the held-out video (``streamdeblur.train.splits``). Each clip has
7 frames; scores use frames 2-4, which have complete 5-frame windows, the plate region uses
the middle frame 3, and warping error compares consecutive outputs aligned with the true flow.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from streamdeblur.config import FUSE_MODES, ModelConfig
from streamdeblur.models.warp import resize_flow, warp
from streamdeblur.synth import SynthParams
from streamdeblur.train.data import load_sources, sample_clip

N_FRAMES = 7
SCORED = (2, 3, 4)
MIDDLE = 3


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5) on the luma channel."""
    x = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    f = lambda z: cv2.GaussianBlur(z, (11, 11), 1.5)  # noqa: E731
    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(m.mean())


def warping_error(o0: np.ndarray, o1: np.ndarray, flow01: np.ndarray) -> float:
    """Mean absolute difference (8-bit units) between output t and output t+1 warped back
    with the true flow, over pixels whose match lies inside the frame."""
    t0 = torch.from_numpy(o0).permute(2, 0, 1)[None].float()
    t1 = torch.from_numpy(o1).permute(2, 0, 1)[None].float()
    f = torch.from_numpy(flow01).permute(2, 0, 1)[None].float()
    w, valid = warp(t1, f)
    diff = (w - t0).abs().mean(1, keepdim=True) * valid
    return float(diff.sum() / valid.sum().clamp_min(1))


def unsharp(img: np.ndarray, sigma: float = 2.0, amount: float = 1.0) -> np.ndarray:
    """Classic unsharp mask baseline."""
    f = img.astype(np.float32)
    return np.clip(f + amount * (f - cv2.GaussianBlur(f, (0, 0), sigma)), 0, 255).astype(np.uint8)


@dataclass
class EvalClip:
    kind: str
    blurred: list[np.ndarray]
    sharp: list[np.ndarray]
    flow: list[np.ndarray]
    box: tuple[int, int, int, int] | None


def clips_parser(description: str) -> argparse.ArgumentParser:
    """The options of the tools that score held-out clips (``tools/window_gain.py``,
    ``tools/degradation_budget.py``): ``--clips``, ``--weights``, ``--threads``, ``--json``."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=16, help="clips per kind, plates and video (default 16, as streamdeblur eval)")
    ap.add_argument("--weights", help="weights or checkpoint (default: the shipped weights)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the scores here")
    return ap


def make_clips(count: int, size: int, seed: int = 2024, held_out: bool = True,
               adjust: Callable[[SynthParams], SynthParams] | None = None) -> list[EvalClip]:
    """``count`` plate clips and ``count`` video clips from the held-out split (or the
    training split: to tune settings without the held-out data); ``adjust``: as ``sample_clip``'s."""
    sources = load_sources(held_out=held_out)
    plates = [s for s in sources if s.box is not None]
    video = [s for s in sources if s.box is None]
    rng = np.random.default_rng(seed)
    out = []
    for kind, pool, bias in (("plates", plates, 1.0), ("video", video, 0.0)):
        for i in range(count):
            src = pool[int(rng.integers(len(pool)))] if kind == "video" else pool[i % len(pool)]
            clip, box = sample_clip(src, rng, size, N_FRAMES, plate_bias=bias, adjust=adjust)
            out.append(EvalClip(kind, clip.blurred, clip.sharp, clip.flow, box))
    return out


def _run_engine(engine, frames: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    t = time.perf_counter()
    out = []
    for f in frames:
        out += engine.push("eval", f)
    out += engine.flush("eval")
    return out, (time.perf_counter() - t) / len(frames)


def _score(outputs: list[np.ndarray], clip: EvalClip) -> dict[str, float]:
    r = {
        "psnr": float(np.mean([psnr(outputs[i], clip.sharp[i]) for i in SCORED])),
        "ssim": float(np.mean([ssim(outputs[i], clip.sharp[i]) for i in SCORED])),
        "warp_err": float(np.mean([warping_error(outputs[i], outputs[i + 1], clip.flow[i]) for i in SCORED[:-1]])),
    }
    plate = plate_region(outputs[MIDDLE], clip)
    if plate is not None:
        r["plate_psnr"], r["plate_ssim"] = psnr(*plate), ssim(*plate)
    return r


def plate_region(output: np.ndarray, clip: EvalClip) -> tuple[np.ndarray, np.ndarray] | None:
    """The plate box of ``output`` (frame ``MIDDLE``) and of the sharp frame, or None for a
    clip without a plate or a box too small for SSIM's 11-pixel window."""
    if clip.box is None:
        return None
    x0, y0, x1, y1 = clip.box
    a, b = output[y0:y1, x0:x1], clip.sharp[MIDDLE][y0:y1, x0:x1]
    return (a, b) if min(a.shape[:2]) >= 11 else None


def flow_epe(model, clips: list[EvalClip], flow_refine: str = "none") -> dict[str, float]:
    """End-point error (px, full resolution) of frame 2 -> 3 flow on the blurred frames: the
    flow network's, OpenCV's DIS and Farneback flows, zero flow, and where ``flow_refine`` (a
    ``model.flow_refine`` setting, resolved for the model's device as the engine does) refines
    it, the flow the engine aligns with (the network's refined by DIS, ``models.refine``)."""
    from streamdeblur.models.deblur import split_state
    from streamdeblur.models.refine import FlowRefiner, grey, refine_preset

    dev = next(model.parameters()).device  # float32 wherever the engines moved it
    refine = refine_preset(flow_refine, dev)
    res: dict[str, list[float]] = {"raft (ours)": [], "opencv_dis": [], "opencv_farneback": [], "zero": []}
    refiner = FlowRefiner(refine) if refine != "none" else None
    if refiner:
        res[f"raft + dis {refine} (engine)"] = []
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    for c in clips:
        a, b, gt = c.blurred[2], c.blurred[3], c.flow[2]
        ga, gb = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), cv2.cvtColor(b, cv2.COLOR_BGR2GRAY)
        with torch.inference_mode():
            ta = torch.from_numpy(np.stack([a, b])).permute(0, 3, 1, 2).to(dev).float() / 255
            s = model.encode(ta)
            sa, sb = split_state(s)
            raw = model.pair_flow(sa, sb)
            f = resize_flow(raw, a.shape[:2])[0].permute(1, 2, 0).cpu().numpy()
        preds = {
            "raft (ours)": f,
            "opencv_dis": dis.calc(ga, gb, None),
            "opencv_farneback": cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 4, 15, 3, 5, 1.2, 0),
            "zero": np.zeros_like(gt),
        }
        if refiner:
            refined = refiner(grey(ta[:1]), grey(ta[1:]), raw)
            preds[f"raft + dis {refine} (engine)"] = refined[0].permute(1, 2, 0).cpu().numpy()
        for k, p in preds.items():
            res[k].append(float(np.linalg.norm(p - gt, axis=-1).mean()))
    return {k: float(np.mean(v)) for k, v in res.items()}


def evaluate(cfg: ModelConfig, clips: int = 24, size: tuple[int, int] = (256, 256), speed: bool = False, progress: bool = True,
             held_out: bool = True) -> dict:
    """Scores of the baselines and model variants (see module doc)."""
    from tqdm import tqdm

    from streamdeblur.models.engine import DeblurEngine
    from streamdeblur.models.weights import load_model

    if cfg.name == "none" and not cfg.weights:
        from streamdeblur.errors import ConfigError

        raise ConfigError("eval: model.name is 'none' (nothing to evaluate); pass --model raft-fusion-small or --weights FILE")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    model, meta = load_model(cfg.name, cfg.weights, cfg.flow, cfg.flow_scale)
    side = int(min(size))
    data = make_clips(clips, side, held_out=held_out)
    k = cfg.window or 2

    def variant(**over: object) -> ModelConfig:
        """The config with a k-window, not causal, and these fields changed."""
        return ModelConfig(**{**cfg.model_dump(), "window": k, "causal": False, **over})

    variants = {
        "model k=0 (single frame)": variant(window=0),
        f"model k={k} zero flow": variant(),
        f"model k={k} (full)": variant(),
        f"model k={k} causal": variant(causal=True),
    }
    for fuse in FUSE_MODES:  # the other places to fuse the window (model.fuse)
        if fuse != cfg.fuse:
            variants[f"model k={k} fuse: {fuse}"] = variant(fuse=fuse)
    if cfg.flow_refine != "none":  # the windows aligned by RAFT's flow alone
        variants[f"model k={k} flow_refine: none"] = variant(flow_refine="none")
    engines = {}
    for name, vc in variants.items():
        engines[name] = DeblurEngine(vc, model=model)
        engines[name].zero_flow = "zero flow" in name
    rows: dict[str, dict[str, list[float]]] = {}

    def add(name: str, kind: str, r: dict[str, float]) -> None:
        for key in (name, f"{name} [{kind}]"):
            for m, v in r.items():
                rows.setdefault(key, {}).setdefault(m, []).append(v)

    for clip in tqdm(data, desc="eval", unit="clip", disable=not progress):
        add("blurred input", clip.kind, _score(clip.blurred, clip))
        t = time.perf_counter()
        um = [unsharp(f) for f in clip.blurred]
        add("unsharp mask", clip.kind, {**_score(um, clip), "ms_per_frame": (time.perf_counter() - t) / N_FRAMES * 1000})
        add("sharp (ground truth)", clip.kind, {"warp_err": _score(clip.sharp, clip)["warp_err"]})
        for name, eng in engines.items():
            out, sec = _run_engine(eng, clip.blurred)
            add(name, clip.kind, {**_score(out, clip), "ms_per_frame": sec * 1000})
    table = {name: {m: float(np.mean(v)) for m, v in ms.items()} for name, ms in rows.items()}
    result = {"weights": meta, "clips_per_kind": clips, "split": "held-out" if held_out else "training", "size": side, "frames_per_clip": N_FRAMES, "variants": table,
              "flow_epe": flow_epe(model, data, cfg.flow_refine), "threads": torch.get_num_threads(),
              "flow": {"arch": model.flow.arch, "scale": model.flow_scale, "iters": model.flow.iters}}
    if speed:
        result["speed"] = speed_test(cfg, model)
    return result


def speed_test(cfg: ModelConfig, model=None, size: tuple[int, int] = (640, 360), frames: int = 40) -> dict[str, float]:
    """Steady-state frames/s of the engine on real held-out video frames at ``size``."""
    from streamdeblur.io.reader import first_frames
    from streamdeblur.models.engine import DeblurEngine
    from streamdeblur.train.splits import videos

    imgs = first_frames(str(videos(held_out=True)[0]), frames, size)
    out = {}
    for label, over in (("default", {}), ("k=0", {"window": 0}), ("causal", {"causal": True})):
        eng = DeblurEngine(ModelConfig(**{**cfg.model_dump(), **over}), model=model)
        for f in imgs[:5]:
            eng.push("warm", f)
        eng.flush("warm")
        t = time.perf_counter()
        n = 0
        for f in imgs:
            n += len(eng.push("s", f))
        n += len(eng.flush("s"))
        out[f"fps {label} {size[0]}x{size[1]}"] = n / (time.perf_counter() - t)
    out["threads"] = torch.get_num_threads()
    return out


def print_report(r: dict) -> None:
    """The results as text tables."""
    cols = ["psnr", "ssim", "plate_psnr", "plate_ssim", "warp_err", "ms_per_frame"]
    print(f"{r.get('split', 'held-out')} clips: {r['clips_per_kind']} plate + {r['clips_per_kind']} video, {r['size']}x{r['size']}, {r['frames_per_clip']} frames")
    print(f"{'variant':42s} " + " ".join(f"{c:>11s}" for c in cols))
    for name, ms in r["variants"].items():
        print(f"{name:42s} " + " ".join(f"{ms[c]:11.3f}" if c in ms else f"{'':>11s}" for c in cols))
    fl = r.get("flow", {})
    setting = f"; {fl['arch']} at x{fl['scale']}, {fl['iters']} iterations" if fl else ""
    print(f"flow EPE (px, frame 2->3, blurred frames{setting}): " + ", ".join(f"{k} {v:.3f}" for k, v in r["flow_epe"].items()))
    if "speed" in r:
        print("speed: " + ", ".join(f"{k} {v:.2f}" for k, v in r["speed"].items()))
