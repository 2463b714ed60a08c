"""A rendered clip cache: synthesize training clips once, train many steps on them.

Rendering a 5-frame 256x256 clip (sub-frame averaging, noise, an H.264 round trip) costs
about 0.2 s of one core, five times a CPU fusion step's share of it, so on a small machine
the renderer, not the network, sets the pace. The cache holds ``count`` clips rendered with
``sample_clip`` as uint8 frames and float16 flow in memory-mapped files; ``CachedClips``
draws random crops and flips from them, which yields the same batches as ``ClipDataset``.

A plate cache (``plate_width`` given) holds only plate photos, each clip centred on its
plate scaled to a surveillance-like width; ``MixedClips`` draws from several caches. With
``labels`` it also keeps each clip's plate box, and ``PlateTextClips`` draws crops
around the plates for the plate-text loss (``train.textloss``).

When the flow network is frozen (``cpu-cached-joint``), ``add_flows`` also
stores its consecutive flows for the first clips once, so a training step runs only the
fusion network; ``add_refined_flows`` stores instead each window's flows as the engine
aligns with them (composed, then refined by DIS: ``model.flow_refine``).
"""

from __future__ import annotations

import json
import multiprocessing as mp
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from streamdeblur.errors import StreamDeblurError
from streamdeblur.models.deblur import DeblurNet, cat_states, split_batch
from streamdeblur.models.refine import FlowRefiner, grey, refine_all
from streamdeblur.models.warp import resize_flow
from streamdeblur.synth import SynthParams
from streamdeblur.train.data import clip_tensors, load_sources, sample_clip, to_tensor

CLIP_SIZE = 256
"""Side of the square cached clips (training crops are at most this)."""

_FILES = {"blurred": np.uint8, "sharp": np.uint8, "flow": np.float16}


def _shapes(count: int, size: int, n_frames: int) -> dict[str, tuple[int, ...]]:
    return {"blurred": (count, n_frames, size, size, 3), "sharp": (count, n_frames, size, size, 3),
            "flow": (count, n_frames - 1, size, size, 2)}


def _open(root: Path, meta: dict, mode: str) -> dict[str, np.memmap]:
    shapes = _shapes(meta["count"], meta["size"], meta["n_frames"])
    out = {k: np.memmap(root / f"{k}.bin", dtype=dt, mode=mode, shape=shapes[k]) for k, dt in _FILES.items()}
    if meta.get("labels"):  # the centre frame's plate box (x0, y0, x1, y1; -1: not fully inside)
        out["plate_box"] = np.memmap(root / "plate_box.bin", dtype=np.int32, mode=mode, shape=(meta["count"], 4))
    return out


_worker_sources = None


def _render(args: tuple[Path, dict, int, int]) -> int:
    root, meta, start, stop = args
    global _worker_sources
    if _worker_sources is None:
        _worker_sources = load_sources(held_out=False)
    arrays = _open(root, meta, "r+")
    widths = meta.get("plate_width")
    sources = [s for s in _worker_sources if s.box is not None] if widths else _worker_sources
    plates = {"plate_bias": 1.0, "plate_width": tuple(widths)} if widths else {}
    share = meta.get("sharp", 0.0)
    for i in range(start, stop):
        rng = np.random.default_rng([meta["seed"], i])
        src = sources[rng.integers(len(sources))]
        # a clip's own random stream decides whether it is sharp, so the other clips stay those
        # of the same cache without a sharp share
        unblurred = bool(share) and np.random.default_rng([meta["seed"], i, 1]).random() < share
        clip, box = sample_clip(src, rng, meta["size"], meta["n_frames"], **plates,
                                adjust=SynthParams.unblurred if unblurred else None)
        if "plate_box" in arrays:
            arrays["plate_box"][i] = box if box is not None else (-1, -1, -1, -1)
        arrays["blurred"][i] = np.stack(clip.blurred)
        arrays["sharp"][i] = np.stack(clip.sharp)
        arrays["flow"][i] = np.stack(clip.flow).astype(np.float16)
    for a in arrays.values():
        a.flush()
    return stop - start


def build_cache(root: Path, count: int, size: int = CLIP_SIZE, n_frames: int = 5, seed: int = 0, workers: int = 2,
                plate_width: tuple[float, float] | None = None, labels: bool = False, sharp: float = 0.0) -> Path:
    """Render ``count`` training clips into ``root`` (reused when it already holds the same set).

    ``plate_width`` (lo, hi): a plate cache (see the module doc); ``labels``: keep its plate
    boxes too; ``sharp``: share of the clips rendered without blur (``SynthParams.unblurred``:
    noise and H.264 only), so the network learns to leave a sharp camera's detail alone; the
    other clips are those of the same cache without it."""
    # version 2: exact colour conversions in the H.264 step (io.pixels); version 1 clips came
    # out 1-2.4 levels dark and green, and networks trained on them learned to brighten
    meta = {"count": count, "size": size, "n_frames": n_frames, "seed": seed, "version": 2}
    if sharp:
        meta["sharp"] = float(sharp)
    if plate_width is not None:
        meta["plate_width"] = [float(v) for v in plate_width]
        if labels:
            meta["labels"] = True
    root.mkdir(parents=True, exist_ok=True)
    done = root / "meta.json"
    if done.is_file() and json.loads(done.read_text()) == meta:
        return root
    for stale in root.glob("*.json"):  # meta.json and the flows stored for the old clips
        stale.unlink()
    _open(root, meta, "w+")  # allocate
    chunk = 16
    jobs = [(root, meta, s, min(count, s + chunk)) for s in range(0, count, chunk)]
    with tqdm(total=count, desc="render cache", unit="clip", dynamic_ncols=True) as bar:
        if workers <= 1:
            for j in jobs:
                bar.update(_render(j))
        else:
            with mp.get_context("spawn").Pool(workers) as pool:
                for n in pool.imap_unordered(_render, jobs):
                    bar.update(n)
    done.write_text(json.dumps(meta))
    return root


def _flow_file(root: Path, meta: dict, name: str, count: int, per_clip: int, mode: str) -> np.memmap:
    """``<name>.bin``: ``per_clip`` half-resolution float16 flows for each of ``count`` clips."""
    half = meta["size"] // 2
    return np.memmap(root / f"{name}.bin", dtype=np.float16, mode=mode, shape=(count, per_clip, 2, half, half))


def _store_flows(root: Path, model: torch.nn.Module, count: int, name: str, want: dict, per_clip: int,
                 compute: Callable[[torch.Tensor], torch.Tensor], batch: int) -> int:
    """Store ``compute(clips)`` (Bx``per_clip``x2xH/2xW/2) for the first ``count`` cached
    clips in ``<name>.bin``, described by ``<name>.json``; kept while that still says ``want``."""
    root = Path(root)
    meta = json.loads((root / "meta.json").read_text())
    count = min(count, meta["count"])
    done = root / f"{name}.json"
    want = {"count": count, **want}
    if done.is_file() and json.loads(done.read_text()) == want:
        return count
    done.unlink(missing_ok=True)
    arrays, out = _open(root, meta, "r"), _flow_file(root, meta, name, count, per_clip, "w+")
    was_training = model.training
    model.eval()
    for i in tqdm(range(0, count, batch), desc=f"{name} cache", unit="batch", dynamic_ncols=True):
        clips = torch.stack([to_tensor(c) for c in arrays["blurred"][i : i + batch]])
        out[i : i + clips.shape[0]] = compute(clips).numpy().astype(np.float16)
    out.flush()
    model.train(was_training)
    done.write_text(json.dumps(want))
    return count


@torch.no_grad()
def add_flows(root: Path, model: DeblurNet, count: int, batch: int = 8, tag: str = "") -> int:
    """Store ``model``'s consecutive flows (half resolution, as ``DeblurNet.pair_flow``) for
    the first ``count`` cached clips; ``tag`` names the flow weights (recomputed when it changes)."""
    t = json.loads((Path(root) / "meta.json").read_text())["n_frames"]

    def pair_flows(clips: torch.Tensor) -> torch.Tensor:
        n = clips.shape[0]
        per = split_batch(model.encode(clips.flatten(0, 1)), n, t)
        flows = model.pair_flow(cat_states(per[:-1]), cat_states(per[1:]))  # pair-major
        return flows.view(t - 1, n, *flows.shape[1:]).transpose(0, 1)

    return _store_flows(root, model, count, "pred_flow", {"tag": tag}, t - 1, pair_flows, batch)


@torch.no_grad()
def refined_flows(model: DeblurNet, refiner: FlowRefiner, clips: torch.Tensor, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """The flows centre -> centre+offset for each of ``pairs`` of each clip (BxTx3xHxW), as
    the engine aligns a window with them: the flow network's consecutive flows, composed
    (``DeblurNet.chain``), refined by DIS at full resolution. Bx len(pairs) x2xH/2xW/2."""
    b, t = clips.shape[:2]
    per = split_batch(model.encode(clips.flatten(0, 1)), b, t)
    forward = list(model.pair_flow(cat_states(per[:-1]), cat_states(per[1:])).split(b))  # pair-major
    half = per[0].feat[0].shape[-2:]
    greys = [[grey(clips[i, f : f + 1]) for f in range(t)] for i in range(b)]
    where, jobs = [], []
    for p, (c, o) in enumerate(pairs):
        composed = DeblurNet.chain(forward, c, [o])[0]
        for i in range(b):
            where.append((i, p))
            jobs.append((greys[i][c], greys[i][c + o], composed[i : i + 1]))
    out = clips.new_zeros(b, len(pairs), 2, *half)
    for (i, p), flow in zip(where, refine_all(refiner, jobs)):
        out[i, p] = resize_flow(flow, half)[0]
    return out


@torch.no_grad()
def add_refined_flows(root: Path, model: DeblurNet, count: int, pairs: list[tuple[int, int]], preset: str, batch: int = 8,
                      tag: str = "") -> int:
    """Store ``refined_flows`` (half resolution, float16) for the first ``count`` cached clips;
    recomputed when the flow weights (``tag``), its iterations, the pairs or the DIS preset change."""
    refiner = FlowRefiner(preset)
    want = {"tag": tag, "iters": model.flow.iters, "pairs": [list(p) for p in pairs], "preset": preset}
    return _store_flows(root, model, count, "refined_flow", want, len(pairs), lambda clips: refined_flows(model, refiner, clips, pairs), batch)


class CachedClips(torch.utils.data.IterableDataset):
    """Endless random ``crop``-sized windows of cached clips, flipped at random; the same
    dict as ``ClipDataset`` (flow signs follow the flips), plus ``pair_flows`` (the stored
    flows of ``add_flows``) when ``with_pred``, or ``window_flows`` (``add_refined_flows``'s)
    when ``with_refined`` (clips drawn from those that have them)."""

    def __init__(self, root: Path, crop: int, seed: int = 0, with_pred: bool = False, with_refined: bool = False) -> None:
        self.root, self.crop, self.seed = Path(root), crop, seed
        self.meta = json.loads((self.root / "meta.json").read_text())
        if crop > self.meta["size"] or crop % 8:
            raise StreamDeblurError(f"crop {crop}: must be a multiple of 8, at most the cached clips' {self.meta['size']}")
        self.pred_count = json.loads((self.root / "pred_flow.json").read_text())["count"] if with_pred else 0
        self.refined = json.loads((self.root / "refined_flow.json").read_text()) if with_refined else None

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        arrays = _open(self.root, self.meta, "r")
        t = self.meta["n_frames"]
        pred = _flow_file(self.root, self.meta, "pred_flow", self.pred_count, t - 1, "r") if self.pred_count else None
        ref = self.refined
        refined = _flow_file(self.root, self.meta, "refined_flow", ref["count"], len(ref["pairs"]), "r") if ref else None
        n, size, c = self.pred_count or (ref["count"] if ref else self.meta["count"]), self.meta["size"], self.crop
        while True:
            i = int(rng.integers(n))
            y, x = (2 * int(v) for v in rng.integers(0, (size - c) // 2 + 1, 2))  # even: half-resolution flows line up
            win = (i, slice(None), slice(y, y + c), slice(x, x + c))
            item = clip_tensors(arrays["blurred"][win], arrays["sharp"][win], arrays["flow"][win])
            for key, stored in (("pair_flows", pred), ("window_flows", refined)):  # half resolution: the crop halved
                if stored is not None:
                    item[key] = torch.from_numpy(np.array(stored[i, :, :, y // 2 : (y + c) // 2, x // 2 : (x + c) // 2], dtype=np.float32))
            for axis, flip in ((-1, rng.random() < 0.5), (-2, rng.random() < 0.5)):  # mirror left-right, top-bottom
                if flip:
                    item = {k: v.flip(axis) for k, v in item.items()}
                    for k in ("flow", "pair_flows", "window_flows"):
                        if k in item:
                            item[k][:, -1 - axis] *= -1
            yield {k: v.contiguous() for k, v in item.items()}


class PlateTextClips(torch.utils.data.IterableDataset):
    """Endless ``crop``-sized windows of a labelled plate cache, each holding its whole plate
    (not flipped: the text must read the right way): ``CachedClips``'s items (with the refined
    window flows when ``with_refined``), plus ``box`` (x0, y0, x1, y1 in the window)."""

    def __init__(self, root: Path, crop: int, seed: int = 0, with_refined: bool = True) -> None:
        self.root, self.crop, self.seed = Path(root), crop, seed
        self.meta = json.loads((self.root / "meta.json").read_text())
        if not self.meta.get("labels"):
            raise StreamDeblurError(f"{root}: not a labelled plate cache (build_cache(labels=True))")
        self.refined = json.loads((self.root / "refined_flow.json").read_text()) if with_refined else None
        count = self.refined["count"] if self.refined else self.meta["count"]
        boxes = np.asarray(_open(self.root, self.meta, "r")["plate_box"][:count])
        fits = (boxes[:, 0] >= 0) & (boxes[:, 2] - boxes[:, 0] <= crop - 8) & (boxes[:, 3] - boxes[:, 1] <= crop - 8)
        self.usable = np.flatnonzero(fits)
        if not len(self.usable):
            raise StreamDeblurError(f"{root}: no plate fits a {crop}-pixel window")

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0, 11])
        arrays = _open(self.root, self.meta, "r")
        ref = self.refined
        refined = _flow_file(self.root, self.meta, "refined_flow", ref["count"], len(ref["pairs"]), "r") if ref else None
        size, c = self.meta["size"], self.crop
        while True:
            i = int(self.usable[rng.integers(len(self.usable))])
            x0, y0, x1, y1 = (int(v) for v in arrays["plate_box"][i])
            # an even window offset (half-resolution flows line up) that keeps the plate inside
            x, y = (2 * int(rng.integers(-(-max(0, hi - c) // 2), min(lo, size - c) // 2 + 1)) for lo, hi in ((x0, x1), (y0, y1)))
            win = (i, slice(None), slice(y, y + c), slice(x, x + c))
            item = clip_tensors(arrays["blurred"][win], arrays["sharp"][win], arrays["flow"][win])
            if refined is not None:
                item["window_flows"] = torch.from_numpy(np.array(refined[i, :, :, y // 2 : (y + c) // 2, x // 2 : (x + c) // 2], dtype=np.float32))
            item["box"] = torch.tensor([x0 - x, y0 - y, x1 - x, y1 - y], dtype=torch.float32)
            yield item


class MixedClips(torch.utils.data.IterableDataset):
    """Items drawn from several endless datasets, each with its probability."""

    def __init__(self, parts: list[tuple[torch.utils.data.IterableDataset, float]], seed: int = 0) -> None:
        self.parts, self.seed = parts, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0, 7])
        its = [iter(d) for d, _ in self.parts]
        p = np.array([w for _, w in self.parts], dtype=np.float64)
        p /= p.sum()
        while True:
            yield next(its[int(rng.choice(len(its), p=p))])
