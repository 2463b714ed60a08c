"""Training: the rendered clip cache and the phased, resumable training loop."""

from __future__ import annotations

import json
import random
import shlex
from pathlib import Path

import pytest
import torch

from streamdeblur.models.warp import warp
from streamdeblur.train.cache import CachedClips, build_cache
from streamdeblur.train.loop import SCHEDULES, Schedule, Trainer


def test_cached_crops_keep_flow_consistent_through_flips(tmp_path) -> None:
    """A cached crop's ground-truth flow still maps frame 1 onto frame 0 after the random
    mirrorings, and the opposite sign does not (a wrong sign would go unnoticed in training)."""
    root = build_cache(tmp_path / "cache", 3, size=96, n_frames=3, seed=5, workers=1)
    assert json.loads((root / "meta.json").read_text())["count"] == 3
    assert build_cache(root, 3, size=96, n_frames=3, seed=5, workers=1) == root  # reused, not re-rendered
    # flows stored for the clips (add_flows / add_refined_flows) go when the clips are rendered again
    (root / "refined_flow.json").write_text("{}")
    build_cache(root, 3, size=96, n_frames=3, seed=6, workers=1)
    assert not (root / "refined_flow.json").exists()
    build_cache(root, 3, size=96, n_frames=3, seed=5, workers=1)
    items = iter(CachedClips(root, 64, seed=1))
    right = wrong = still = 0.0
    for _ in range(16):
        item = next(items)
        assert item["blurred"].shape == item["sharp"].shape == (3, 3, 64, 64)
        assert item["flow"].shape == (2, 2, 64, 64)
        a, b, f = item["sharp"][0:1], item["sharp"][1:2], item["flow"][0:1]
        inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
        right += (warp(b, f)[0] - a)[inner].abs().mean().item()
        wrong += (warp(b, -f)[0] - a)[inner].abs().mean().item()
        still += (b - a)[inner].abs().mean().item()
    assert right < 0.7 * still, (right, still)
    assert right < 0.7 * wrong, (right, wrong)


def test_a_sharp_share_of_the_cache_leaves_out_the_blur_only(tmp_path) -> None:
    """``build_cache(sharp=...)``: the chosen clips keep their ground truth (same paths) but
    lose the blur, so their input is closer to it; the other clips are the plain cache's."""
    import numpy as np

    from streamdeblur.train.cache import _open

    def arrays(root):
        return _open(root, json.loads((root / "meta.json").read_text()), "r")

    plain = arrays(build_cache(tmp_path / "plain", 8, size=96, n_frames=3, seed=5, workers=1))
    mixed = arrays(build_cache(tmp_path / "mixed", 8, size=96, n_frames=3, seed=5, workers=1, sharp=0.5))
    err = lambda a, i: np.abs(a["blurred"][i].astype(float) - a["sharp"][i]).mean()  # noqa: E731
    unblurred = 0
    for i in range(8):
        assert np.array_equal(plain["sharp"][i], mixed["sharp"][i])
        if np.array_equal(plain["blurred"][i], mixed["blurred"][i]):
            continue
        unblurred += 1
        assert err(mixed, i) < err(plain, i), i
    assert 0 < unblurred < 8


def test_phased_training_runs_and_resumes(tmp_path) -> None:
    """flow -> single-frame fusion -> joint with the flow frozen and its flows cached;
    a second run with more joint steps resumes from ``last.pt``."""
    sched = Schedule(flow_steps=2, fusion_steps=2, joint_steps=2, crop=128, batch=2, flow_batch=1, cache=4, flow_cache=4,
                     flow_grad_every=0, val_clips=2, val_every=100, threads=1, workers=0)
    out = tmp_path / "run"
    Trainer(sched, out).run()
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert {r["phase"] for r in rows if "val_psnr" in r} == {"flow", "fusion", "joint"}
    ck = torch.load(out / "last.pt", weights_only=False)
    assert (ck["phase"], ck["step"]) == ("joint", 2)
    assert json.loads((tmp_path / "cache-4" / "pred_flow.json").read_text())["count"] == 4
    before = {k: v.clone() for k, v in ck["model"].items()}

    again = Trainer(Schedule(**{**sched.__dict__, "joint_steps": 4}), out)
    assert (again.phase, again.step) == ("joint", 2)
    again.run()
    ck = torch.load(out / "last.pt", weights_only=False)
    assert (ck["phase"], ck["step"]) == ("joint", 4)
    assert all(torch.equal(ck["model"][k], v) for k, v in before.items() if k.startswith("flow.")), "the frozen flow changed"
    assert any(not torch.equal(ck["model"][k], v) for k, v in before.items() if k.startswith("fusion.")), "fusion did not train"


def test_a_run_stopped_by_its_time_budget_resumes_as_finished(tmp_path) -> None:
    """Running a finished schedule again (tools/train_shipped.sh after an interruption)
    takes no further step: the weights and the log stay as they were."""
    sched = Schedule(flow_steps=0, fusion_steps=50, joint_steps=0, crop=96, batch=1, val_clips=1, val_every=100,
                     threads=1, workers=0, minutes=1e-4)
    out = tmp_path / "run"
    Trainer(sched, out).run()
    ck = torch.load(out / "last.pt", weights_only=False)
    assert (ck["phase"], ck["step"]) == ("fusion", 1)
    log = (out / "log.jsonl").read_text()
    assert '"stopped": "time budget"' in log
    Trainer(sched, out).run()
    again = torch.load(out / "last.pt", weights_only=False)
    assert again["step"] == 1 and (out / "log.jsonl").read_text() == log
    assert all(torch.equal(again["model"][k], v) for k, v in ck["model"].items())


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_keeps_its_steps(tmp_path, sig: str) -> None:
    """Ctrl-C (SIGINT) or SIGTERM (a scheduler, ``timeout``) saves ``last.pt`` at the step
    reached, between validations, so the re-run resumes there instead of at the last one."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    tool = Path(__file__).resolve().parents[1] / "tools" / "train.py"
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(tool), "--schedule", "cpu-quick", "--out", str(out), "--flow-steps", "0",
                             "--joint-steps", "1000", "--crop", "64", "--batch", "1", "--workers", "0", "--threads", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and '"step": 10,' not in ((out / "log.jsonl").read_text() if (out / "log.jsonl").is_file() else ""):
        time.sleep(0.5)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "train: interrupted (re-run the same command to resume)" in err, err
    ck = torch.load(out / "last.pt", weights_only=False)
    assert ck["phase"] == "joint" and 10 <= ck["step"] < 200, ck["step"]  # validation (and a save) only every 200 steps


def test_another_seed_renders_its_own_cache(tmp_path) -> None:
    """A run with another seed renders its own clips; it used to re-render (and so destroy)
    the cache that earlier runs were trained on."""
    sched = Schedule(flow_steps=0, fusion_steps=1, joint_steps=0, crop=64, batch=1, cache=2, flow_cache=0,
                     val_clips=1, val_every=100, threads=1, workers=0)
    Trainer(sched, tmp_path / "a").run()
    Trainer(sched, tmp_path / "b", seed=3).run()
    assert json.loads((tmp_path / "cache-2" / "meta.json").read_text())["seed"] == 0
    assert json.loads((tmp_path / "cache-2-seed3" / "meta.json").read_text())["seed"] == 3


def test_bad_training_arguments_end_in_one_line_errors(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    tool = Path(__file__).resolve().parents[1] / "tools" / "train.py"
    cases = {
        ("--schedule", "nope"): "unknown schedule 'nope'",
        ("--schedule", "cpu-cached", "--crop", "264"): "crop 264: larger than the cached clips (256)",
        ("--schedule", "cpu", "--batch", "0"): "batch must be at least 1",
        ("--schedule", "cpu", "--out", str(tmp_path / "run"), "--init", str(tmp_path / "missing.pt")): "missing.pt not found",
        ("--schedule", "cpu-window-refined", "--cache", "0", "--out", str(tmp_path / "run")): "flow_refine needs a cache",
        ("--export", str(tmp_path / "none.pt"), "--to", str(tmp_path / "w.pt")): "none.pt not found",
        ("--export", str(tool), "--to", str(tmp_path / "w.pt"), "--flow-from", str(tmp_path / "flow.pt")): "flow.pt not found",
        ("--export", str(tool), "--to", str(tmp_path / "w.pt"), "--name", "x"): "(write --to inside it to register a name)",
    }
    for args, reason in cases.items():
        proc = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("train: error: ") and reason in lines[0], (args, proc.stderr)
    assert not (tmp_path / "run").exists(), "a run that failed to start left its folder behind"
    assert not (tmp_path / "w.pt").exists(), "an export that could not be registered was written anyway"


def test_plate_clips_show_the_plate_at_the_asked_width() -> None:
    """``plate_width`` scales a plate photo so its plate has that width and puts it in view."""
    import numpy as np

    from streamdeblur.train.data import load_sources, sample_clip

    plates = [s for s in load_sources() if s.box is not None][:40:5]
    rng = np.random.default_rng(3)
    widths = []
    for src in plates:
        _, box = sample_clip(src, rng, 256, 2, plate_bias=1.0, plate_width=(64, 96))
        if box is not None:
            widths.append(box[2] - box[0])
    assert len(widths) >= 6, widths
    assert sum(62 <= w <= 98 for w in widths) >= 6, widths  # small photos may force a larger scale


def test_clips_rendered_on_the_fly_mix_in_plate_clips() -> None:
    """``plate_clips`` (the gpu schedules, no cache): that share of the clips is centred on a
    plate photo's plate, the rest come from any source."""
    import numpy as np

    from streamdeblur.train.data import ClipDataset, Source

    photo = np.random.default_rng(0).integers(0, 256, (400, 600, 3), dtype=np.uint8)
    flat = np.full((400, 600, 3), 128, np.uint8)  # no plate: its clips are flat
    for share, lo, hi in ((1.0, 40, 40), (0.0, 2, 18), (0.5, 15, 35)):  # the photo: 1 source in 4
        ds = ClipDataset(crop=64, n_frames=2, seed=1, plate_clips=share)
        ds._sources = [Source(photo, (250, 180, 120, 40)), *[Source(flat, None)] * 3]
        it = iter(ds)
        textured = sum(float(next(it)["sharp"].std()) > 0.05 for _ in range(40))
        assert lo <= textured <= hi, (share, textured)


def test_mixed_clips_draw_from_each_part_at_its_rate() -> None:
    from streamdeblur.train.cache import MixedClips

    class Endless(torch.utils.data.IterableDataset):
        def __init__(self, tag: int) -> None:
            self.tag = tag

        def __iter__(self):
            while True:
                yield self.tag

    it = iter(MixedClips([(Endless(0), 0.25), (Endless(1), 0.75)], seed=2))
    ones = sum(next(it) for _ in range(800))
    assert 540 <= ones <= 660, ones


def test_edge_loss_sees_blur_that_the_mean_hides() -> None:
    """Blur and a brightness shift of the same pixel L1: the edge term sees only the blur."""
    import torch.nn.functional as F

    from streamdeblur.train.losses import edge_loss

    torch.manual_seed(0)
    sharp = (torch.rand(1, 3, 64, 64) > 0.5).float()  # hard edges everywhere
    blurred = F.avg_pool2d(F.pad(sharp, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    shifted = sharp + (blurred - sharp).abs().mean()
    assert edge_loss(sharp, sharp) < 1e-2
    assert edge_loss(blurred, sharp) > 5 * edge_loss(shifted, sharp)


def test_a_deeper_network_starts_from_the_smaller_ones_function(tmp_path) -> None:
    """``fusion_blocks`` and ``fine_blocks``: the blocks that the init checkpoint lacks (at
    1/4, 1/8 and 1/2 resolution) start as the identity, so the grown network restores exactly
    what the smaller one did, and then trains; a checkpoint that does not fit is refused."""
    import pytest

    from streamdeblur.errors import StreamDeblurError
    from streamdeblur.models.deblur import DeblurNet
    from streamdeblur.models.fusion import FusionSpec, grow

    torch.manual_seed(0)
    small = DeblurNet(flow_scale=0.5).eval()
    for p in small.fusion.parameters():  # a trained-looking network: nothing zero
        torch.nn.init.normal_(p, std=0.05)
    torch.save({"model": small.state_dict()}, tmp_path / "small.pt")
    sched = Schedule(flow_steps=0, fusion_steps=2, joint_steps=0, crop=64, batch=1, val_clips=1, val_every=100, threads=1,
                     workers=0, init=str(tmp_path / "small.pt"), fusion_blocks=(2, 4), fine_blocks=1)
    trainer = Trainer(sched, tmp_path / "run")
    big = trainer.model.eval()
    assert len(big.fusion.down2) == 2 + 4 and len(big.fusion.down1) == 2 + 2 and len(big.fusion.dec1) == 2 + 1
    clip = torch.rand(1, 5, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(small(clip, 2, [-2, -1, 1, 2])[0], big(clip, 2, [-2, -1, 1, 2])[0])
    trainer.run()
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["config"]["fusion"]["blocks"] == (2, 4) and ck["config"]["fusion"]["fine_blocks"] == 1
    for block in ("down2.5", "dec1.2"):
        assert ck["model"][f"fusion.{block}.body.2.weight"].abs().sum() > 0, f"the new block {block} did not train"
    with pytest.raises(StreamDeblurError, match="does not fit"):
        grow(DeblurNet(fusion=FusionSpec(widths=(16, 32, 64)), flow_scale=0.5), small.state_dict())


def test_oracle_windows_use_the_true_flow_and_never_the_flow_network(tmp_path) -> None:
    """``true_flow``: the true flows, brought to half resolution by ``half_flows``, align
    consecutive half-resolution frames; training and validation use them and never run the
    flow network."""
    import torch.nn.functional as F

    from streamdeblur.train.loop import half_flows

    root = build_cache(tmp_path / "cache-2", 2, seed=0, workers=1)
    item = next(iter(CachedClips(root, 128, seed=2)))
    half = half_flows(item["flow"][None])[0]
    a, b = (F.avg_pool2d(item["sharp"][i : i + 1], 2) for i in (0, 1))
    inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))
    aligned = (warp(b, half[0:1])[0] - a)[inner].abs().mean()
    assert aligned < 0.7 * (b - a)[inner].abs().mean()
    assert aligned < 0.7 * (warp(b, 2 * half[0:1])[0] - a)[inner].abs().mean()  # the scale matters

    sched = Schedule(flow_steps=0, fusion_steps=0, joint_steps=2, crop=64, batch=2, cache=2, flow_cache=0,
                     flow_grad_every=0, true_flow=True, val_clips=1, val_every=100, threads=1, workers=0)
    trainer = Trainer(sched, tmp_path / "run")
    calls = []
    encode = trainer.model.flow.encode
    trainer.model.flow.encode = lambda img: calls.append(img.shape) or encode(img)
    trainer.run()
    assert not calls, "the flow network ran"
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r for r in rows if "val_psnr" in r and "val_epe" not in r]


def test_refined_windows_see_the_flows_the_engine_aligns_with(tmp_path) -> None:
    """``flow_refine``: the cache stores, for every window of ``MODES``, the flow the CPU
    engine aligns that window with (the flow network's consecutive flows composed, then
    refined by DIS at full resolution), and the crops carry them with the right sign."""
    import numpy as np

    from streamdeblur.config import ModelConfig
    from streamdeblur.models.engine import DeblurEngine
    from streamdeblur.models.refine import grey
    from streamdeblur.models.warp import resize_flow
    from streamdeblur.models.weights import load_model
    from streamdeblur.train.cache import _flow_file, _open, add_refined_flows
    from streamdeblur.train.data import to_tensor
    from streamdeblur.train.loop import window_pairs

    root = build_cache(tmp_path / "cache", 1, size=96, n_frames=5, seed=3, workers=1)
    meta = json.loads((root / "meta.json").read_text())
    frames = [np.array(f) for f in _open(root, meta, "r")["blurred"][0]]
    model, _ = load_model("raft-fusion-small")
    model.flow.iters = ModelConfig().flow_iters
    pairs = window_pairs()
    assert pairs == [(2, -2), (2, -1), (2, 1), (2, 2), (4, -2), (4, -1)]
    add_refined_flows(root, model, 1, pairs, "fast")
    stored = torch.from_numpy(np.array(_flow_file(root, meta, "refined_flow", 1, len(pairs), "r")[0], dtype=np.float32))

    engine = DeblurEngine(ModelConfig(window=2, fuse="features", flow_refine="fast", device="cpu"), model=model)
    greys = [grey(to_tensor([f])) for f in frames]
    seen = {}
    refine = engine._refiner

    def recording(source, target, flow):
        out = refine(source, target, flow)
        c, j = (next(i for i, g in enumerate(greys) if np.array_equal(g, x)) for x in (source, target))
        seen[c, j] = out
        return out

    engine._refiner = recording
    for f in frames:
        engine.push("cam", f)
    engine.flush("cam")
    for p, (c, o) in enumerate(pairs):
        mine = resize_flow(seen[c, c + o], (48, 48))[0]
        assert torch.allclose(stored[p], mine, atol=0.02), (c, o, (stored[p] - mine).abs().max())
    assert stored[:, :, 8:-8, 8:-8].abs().mean() > 0.1  # the clip moves: not a trivially equal zero flow

    items = iter(CachedClips(root, 64, seed=4, with_refined=True))
    for _ in range(4):
        item = next(items)
        assert item["window_flows"].shape == (len(pairs), 2, 32, 32)
        f = item["window_flows"][pairs.index((2, 1))][None]  # centre 2 -> 3 aligns frame 3 with frame 2
        a, b = (torch.nn.functional.avg_pool2d(item["sharp"][i : i + 1], 2) for i in (2, 3))
        inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))
        assert (warp(b, f)[0] - a)[inner].abs().mean() < (warp(b, -f)[0] - a)[inner].abs().mean()


def test_the_shipped_chain_trains_each_stage_from_what_an_earlier_line_wrote() -> None:
    """tools/train_shipped.sh names real schedules, and each one's ``init`` is a run folder
    or the weights file that a line before it writes (so the chain runs from scratch)."""
    script = Path(__file__).parents[1] / "tools" / "train_shipped.sh"
    written: set[str] = set()
    runs = 0
    for line in script.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["train"]:
            name, out = words[words.index("--schedule") + 1], words[words.index("--out") + 1]
            assert name in SCHEDULES, name
            init = SCHEDULES[name].init
            assert init is None or init in written, f"{name} starts from {init}, which no earlier line writes"
            written.add(f"{out}/last.pt")
            runs += 1
        elif words[:1] == ["export_to_weights"]:
            assert words[1] in written, f"exports {words[1]} before it is trained"
            written.add("streamdeblur/weights/raft_fusion_small.pt")
    assert runs == 16 and "runs/flow-colour-more/last.pt" in written


def _plate_crop(width: int = 128, side: int = 160):
    """A training plate photo scaled so its plate is ``width`` px wide: a ``side`` crop around
    it (1x3xHxW BGR in [0, 1]) and the plate box in the crop."""
    import cv2

    from streamdeblur.train.splits import plate_box, plate_images

    path = plate_images(held_out=False)[0]
    x, y, w, h, _ = plate_box(path)
    s = width / w
    img = cv2.resize(cv2.imread(str(path)), None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    x0 = min(max(0, int((x + w / 2) * s) - side // 2), img.shape[1] - side)
    y0 = min(max(0, int((y + h / 2) * s) - side // 2), img.shape[0] - side)
    crop = torch.from_numpy(img[y0 : y0 + side, x0 : x0 + side].copy()).permute(2, 0, 1)[None].float() / 255
    return crop, torch.tensor([[x * s - x0, y * s - y0, (x + w) * s - x0, (y + h) * s - y0]])


def test_plate_text_loss_grows_with_blur_and_is_zero_for_the_sharp_plate() -> None:
    """The real english_g2 recognizer: the sharp plate scores 0, more blur scores more, a
    plate box off the plate sees less of the blur, and the gradient reaches the pixels."""
    from streamdeblur.train.textloss import PlateTextLoss

    loss = PlateTextLoss()
    sharp, box = _plate_crop()
    blur = [torch.nn.functional.avg_pool2d(sharp, k, 1, k // 2) for k in (3, 7)]
    assert loss(sharp, sharp, box).item() < 1e-4
    mild, strong = (loss(b, sharp, box).item() for b in blur)
    assert 0.5 < mild < strong, (mild, strong)
    away = box.clone()
    away[:, 1::2] = torch.tensor([2.0, 12.0])  # a strip at the top of the crop, above the plate
    assert loss(blur[1], sharp, away).item() < strong
    x = blur[1].clone().requires_grad_(True)
    loss(x, sharp, box).backward()
    inside = x.grad[..., int(box[0, 1]) : int(box[0, 3]), int(box[0, 0]) : int(box[0, 2])].abs().mean()
    assert inside > 10 * x.grad[..., :8, :].abs().mean() and inside > 0


def test_plate_text_clips_hold_the_whole_plate_and_train(tmp_path) -> None:
    """A labelled plate cache keeps each clip's plate box; ``PlateTextClips`` windows hold the
    whole plate at the box they report; a run with ``text_weight`` trains on them and logs the term."""
    import numpy as np

    from streamdeblur.train.cache import PlateTextClips, _open

    sched = Schedule(flow_steps=0, joint_steps=3, crop=96, val_crop=96, batch=2, cache=2, plate_cache=2, plate_share=0.5,
                     flow_cache=2, flow_grad_every=0, flow_refine="fast", plate_width=(48.0, 72.0), text_weight=1e-3,
                     text_cache=4, text_batch=2, val_clips=1, val_every=100, threads=1, workers=0,
                     fusion_blocks=(2, 6), init="streamdeblur/weights/raft_fusion_small.pt")
    out = tmp_path / "run"
    trainer = Trainer(sched, out)
    trainer.run()
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert (out / "last.pt").is_file() and any("val_psnr" in r for r in rows)
    row = trainer._joint_step(trainer._batch(iter(torch.utils.data.DataLoader(trainer._dataset("joint"), batch_size=2))), random.Random(0))
    assert row["text"].item() > 0 and row["text"].requires_grad
    root = tmp_path / "cache-platetext-4"
    meta = json.loads((root / "meta.json").read_text())
    arrays = _open(root, meta, "r")
    boxes = np.asarray(arrays["plate_box"])
    assert meta["labels"] and (boxes[:, 0] >= 0).any()
    items = iter(PlateTextClips(root, 96, seed=2))
    for _ in range(6):
        item = next(items)
        x0, y0, x1, y1 = (int(v) for v in item["box"])
        assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 96
        assert item["window_flows"].shape == (6, 2, 48, 48)
        # the reported box is where the cached plate is: find the clip and window it came from
        hits = [i for i in range(4) if boxes[i, 0] >= 0 and boxes[i, 2] - boxes[i, 0] == x1 - x0 and boxes[i, 3] - boxes[i, 1] == y1 - y0]
        sharp = (item["sharp"][2].permute(1, 2, 0) * 255).round().byte().numpy()
        assert any(np.array_equal(sharp[y0:y1, x0:x1], np.asarray(arrays["sharp"][i, 2, boxes[i, 1] : boxes[i, 3], boxes[i, 0] : boxes[i, 2]]))
                   for i in hits)


def test_the_plate_text_term_also_trains_with_the_flow_network_running(tmp_path) -> None:
    """Without refined flows (the GPU recipe, ``gpu-text``: the flow network runs every step)
    the plate crops come without window flows and the network aligns them itself."""
    sched = Schedule(flow_steps=0, joint_steps=1, crop=64, batch=1, cache=2, plate_cache=2, flow_grad_every=1,
                     plate_width=(32.0, 48.0), text_weight=1e-3, text_cache=2, text_batch=1, val_clips=1, val_every=100,
                     threads=1, workers=0)
    trainer = Trainer(sched, tmp_path / "run")
    trainer.run()
    assert trainer._text_it is not None
    t = next(trainer._text_it)
    assert "window_flows" not in t and t["box"].shape == (1, 4)
    row = trainer._joint_step(trainer._batch(iter(torch.utils.data.DataLoader(trainer._dataset("joint"), batch_size=1))), random.Random(1))
    assert row["text"].requires_grad and row["text"].item() >= 0
    assert SCHEDULES["gpu-text"].text_weight and SCHEDULES["gpu-text"].cache and SCHEDULES["gpu-text"].flow_grad_every == 1
