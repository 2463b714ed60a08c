"""``eval-ocr``: how much of the plate-reading loss from blur does deblurring win back?

For each labelled plate the photo is scaled so the plate is ``plate_width`` pixels wide (a
surveillance-like size, so one blur strength means the same for every photo), a short
clip of a window around the plate is synthesized with :mod:`streamdeblur.synth` (motion,
shake, noise, H.264), the clip is restored by the deblurring engine, and the plate is read
on the centre frame's sharp, blurred and deblurred versions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from streamdeblur.config import ModelConfig
from streamdeblur.errors import StreamDeblurError
from streamdeblur.ocr.plates import PlateFormat, char_accuracy, edit_ops, normalise

CONDITIONS = ("sharp", "blurred", "deblurred")
REPEAT_STRIDE = 100_003
"""Seed offset between the repeats of one plate (more than any folder's plate count)."""
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
ROI_MARGIN = (0.15, 0.3)
"""The crop read around a plate box: this share of its width left and right, of its height above and below."""


@dataclass(frozen=True, slots=True)
class PlateLabel:
    """One plate: its photo, box ``(x, y, w, h)`` in pixels and normalised text."""

    image: Path
    box: tuple[int, int, int, int]
    text: str


@dataclass(slots=True)
class Sample:
    """The reads of one plate under each condition (and the crops, when kept)."""

    label: PlateLabel
    reads: dict[str, str] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    crops: dict[str, np.ndarray] = field(default_factory=dict)

    def char_acc(self, cond: str) -> float:
        return char_accuracy(self.reads.get(cond), self.label.text)

    def exact(self, cond: str) -> bool:
        return self.reads.get(cond) == self.label.text

    def edits(self, cond: str):
        return edit_ops(self.reads.get(cond) or "", self.label.text)


@dataclass(slots=True)
class EvalResult:
    samples: list[Sample]
    skipped_images: int = 0
    """Unreadable images (skipped, not fatal)."""
    bad_labels: int = 0
    """Label lines that are not ``image x y w h text``."""
    model: str = "none"
    ocr_seconds: float = 0.0
    ocr_crops: int = 0
    deblur_seconds: float = 0.0
    deblur_frames: int = 0

    def metrics(self) -> dict:
        """The numbers ``--json`` prints (accuracies in 0-1)."""
        n = len(self.samples)
        out: dict = {}
        for cond in CONDITIONS:
            out[f"char_acc_{cond}"] = round(sum(s.char_acc(cond) for s in self.samples) / n, 4) if n else None
            out[f"exact_{cond}"] = round(sum(s.exact(cond) for s in self.samples) / n, 4) if n else None
            out[f"edits_{cond}"] = edit_summary([s.edits(cond) for s in self.samples])
        out["gap_closed"] = gap_closed(out["char_acc_sharp"], out["char_acc_blurred"], out["char_acc_deblurred"])
        out["gap_closed_ci95"] = gap_interval(self.samples)
        out["n"] = n
        out["plates"] = len({s.label for s in self.samples})
        out["skipped_images"] = self.skipped_images
        out["bad_labels"] = self.bad_labels
        out["model"] = self.model
        out["ocr_ms_per_crop"] = round(1000 * self.ocr_seconds / self.ocr_crops, 1) if self.ocr_crops else None
        out["deblur_ms_per_frame"] = round(1000 * self.deblur_seconds / self.deblur_frames, 1) if self.deblur_frames else None
        return out


def edit_summary(edits: list) -> dict | None:
    """Per read: characters substituted, inserted and deleted, and the share of reads with
    an extra character before the plate's first (``plates.edit_ops``)."""
    if not edits:
        return None
    n = len(edits)
    return {"substituted": round(sum(e.substituted for e in edits) / n, 3), "inserted": round(sum(e.inserted for e in edits) / n, 3),
            "deleted": round(sum(e.deleted for e in edits) / n, 3),
            "leading_insert_share": round(sum(e.inserted_first > 0 for e in edits) / n, 4)}


def gap_closed(sharp: float | None, blurred: float | None, deblurred: float | None) -> float | None:
    """Share of the sharp-vs-blurred gap that deblurring closes; None without a gap."""
    if sharp is None or blurred is None or deblurred is None or sharp - blurred <= 1e-9:
        return None
    return round((deblurred - blurred) / (sharp - blurred), 4)


def gap_interval(samples: list[Sample], rounds: int = 2000, seed: int = 0) -> list[float] | None:
    """95% bootstrap interval of ``gap_closed``: plates drawn with replacement, each with all
    its blur draws (a plate's draws are not independent). With ~20 plates a set the interval
    is wide: single seeds of the same weights have read eu 42-62% (docs/BENCHMARKS.md)."""
    plates: dict[PlateLabel, list[list[float]]] = {}
    for s in samples:
        plates.setdefault(s.label, []).append([s.char_acc(c) for c in CONDITIONS])
    if len(plates) < 2:
        return None
    sums = np.array([np.sum(v, axis=0) for v in plates.values()])  # plates x (sharp, blurred, deblurred)
    counts = np.array([len(v) for v in plates.values()], dtype=float)
    pick = np.random.default_rng(seed).integers(0, len(plates), (rounds, len(plates)))
    acc = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)[:, None]
    gap = acc[:, 0] - acc[:, 1]
    ok = gap > 1e-9
    if ok.mean() < 0.95:
        return None  # the gap itself is not there in enough resamples
    ratios = (acc[ok, 2] - acc[ok, 1]) / gap[ok]
    return [round(float(v), 4) for v in np.percentile(ratios, [2.5, 97.5])]


def load_labels(plates_dir: str | Path) -> tuple[list[PlateLabel], int]:
    """Every ``image x y w h text`` line of the ``.txt`` files in a folder (duplicates
    removed) and the number of malformed lines; a folder without labels is an error."""
    root = Path(plates_dir)
    if not root.is_dir():
        raise StreamDeblurError(f"{root}: not a directory")
    labels: dict[tuple, PlateLabel] = {}
    bad = 0
    for txt in sorted(root.glob("*.txt"), key=_natural):
        try:
            lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            bad += 1
            continue
        for line in lines:
            if not line.strip():
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            try:
                name, x, y, w, h = parts[0].strip(), *(int(float(p)) for p in parts[1:5])
                text = normalise("".join(parts[5:]))
            except (ValueError, IndexError):
                bad += 1
                continue
            if w <= 0 or h <= 0 or not text or not name.lower().endswith(IMAGE_SUFFIXES):
                bad += 1
                continue
            label = PlateLabel(txt.parent / name, (x, y, w, h), text)
            labels.setdefault((label.image, label.box, label.text), label)
    if not labels:
        raise StreamDeblurError(f"{root}: no plate labels found (expected .txt files with 'image x y w h text' lines)")
    return list(labels.values()), bad


def _natural(p: Path) -> tuple:
    import re

    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name))


def read_crop(reader, crop: np.ndarray, fmt: PlateFormat | None = None, **options) -> tuple[str, float]:
    """The normalised (and, with a format, fixed) plate text of a crop, and its confidence;
    ``("", 0.0)`` when nothing is read. ``options``: ``PlateReader.read_plate``'s."""
    found = reader.read_plate(crop, **options)
    if found is None:
        return "", 0.0
    norm = normalise(found.text)
    return ((fmt.fix(norm) or norm) if fmt is not None else norm), round(found.confidence, 4)


def _roi(box: tuple[float, float, float, float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A crop around a plate box (``ROI_MARGIN``), inside the frame."""
    x0, y0, x1, y1 = box
    mx, my = ROI_MARGIN[0] * (x1 - x0), ROI_MARGIN[1] * (y1 - y0)
    w, h = size
    return max(0, int(x0 - mx)), max(0, int(y0 - my)), min(w, int(math.ceil(x1 + mx))), min(h, int(math.ceil(y1 + my)))


def _box_in_frame(box: tuple[int, int, int, int], affine: np.ndarray) -> tuple[float, float, float, float]:
    x, y, w, h = box
    pts = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]], dtype=np.float64)
    mapped = pts @ np.asarray(affine, dtype=np.float64).T
    return float(mapped[:, 0].min()), float(mapped[:, 1].min()), float(mapped[:, 0].max()), float(mapped[:, 1].max())


def evaluate(
    plates_dir: str | Path,
    *,
    limit: int | None = None,
    model: ModelConfig | None = None,
    plate_format: PlateFormat | None = None,
    held_out: bool = False,
    training: bool = False,
    n_frames: int | None = None,
    plate_width: int = 128,
    strength: float = 1.0,
    seed: int = 0,
    repeats: int = 1,
    keep_crops: bool = False,
    ocr_device: str = "auto",
    model_dir: str | None = None,
    progress: bool = True,
    on_skip: Callable[[Path, str], None] | None = None,
) -> EvalResult:
    """Read every labelled plate sharp, blurred and deblurred (see the module docstring).

    ``repeats``: synthesize each plate this many times with different blur draws (seed
    ``seed + index + r * REPEAT_STRIDE``); with ~20 plates a set, one draw moves the
    result by several points, and more draws make two models comparable."""
    from tqdm import tqdm

    from streamdeblur.models import build_engine
    from streamdeblur.ocr.reader import PlateReader
    from streamdeblur.synth import SynthParams, render_clip

    labels, bad = load_labels(plates_dir)
    if held_out and training:
        raise StreamDeblurError("--held-out and --training exclude each other")
    if held_out or training:
        try:
            from streamdeblur.train.splits import is_held_out
        except ImportError:
            raise StreamDeblurError("--held-out/--training: the training split (streamdeblur.train.splits) is not available") from None
        labels = [lb for lb in labels if is_held_out(lb.image) == held_out]
        if not labels:
            raise StreamDeblurError(f"{plates_dir}: no {'held-out' if held_out else 'training'} plates in this folder")
    if limit is not None:
        labels = labels[:limit]
    engine = build_engine(model or ModelConfig())
    reader = PlateReader(model_dir, ocr_device)
    params = SynthParams(strength=strength)
    result = EvalResult(samples=[], bad_labels=bad, model=engine.name)
    if n_frames is None:  # the centre frame gets its whole window, as inside a stream
        n_frames = max(5, 2 * engine.delay + 1)
    centre = (n_frames - 1) // 2
    cache: tuple[Path, np.ndarray | None] | None = None
    jobs = [(r, idx, label) for r in range(repeats) for idx, label in enumerate(labels)]
    for r, idx, label in tqdm(jobs, desc="eval-ocr", unit="plate", disable=not progress):
        if cache is None or cache[0] != label.image:
            cache = (label.image, cv2.imread(str(label.image), cv2.IMREAD_COLOR) if label.image.is_file() else None)
        image = cache[1]
        if image is None:
            if r == 0:  # counted once, not once per repeat
                result.skipped_images += 1
                if on_skip:
                    on_skip(label.image, "missing or unreadable image")
            continue
        x, y, w, h = label.box
        s = plate_width / w
        scaled = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        sbox = (round(x * s), round(y * s), max(1, round(w * s)), max(1, round(h * s)))
        rw = _round16(sbox[2] * 2.5)
        rh = _round16(max(sbox[3] * 6, 128))
        cx, cy = sbox[0] + sbox[2] / 2, sbox[1] + sbox[3] / 2
        base = np.array([[1.0, 0.0, rw / 2 - cx], [0.0, 1.0, rh / 2 - cy]])
        rng = np.random.default_rng(seed + idx + r * REPEAT_STRIDE)
        clip = render_clip(scaled, (rw, rh), base, n_frames, rng, params, with_flow=False)
        t0 = time.perf_counter()
        stream = f"eval-{r}-{idx}"
        restored = [out for frame in clip.blurred for out in engine.push(stream, frame)] + engine.flush(stream)
        result.deblur_seconds += time.perf_counter() - t0
        result.deblur_frames += n_frames
        if len(restored) != n_frames:
            raise StreamDeblurError(f"deblurring engine returned {len(restored)} frames for {n_frames}")
        frames = {"sharp": clip.sharp[centre], "blurred": clip.blurred[centre], "deblurred": restored[centre]}
        x0, y0, x1, y1 = _roi(_box_in_frame(sbox, clip.transforms[centre]), (rw, rh))
        sample = Sample(label)
        for cond, frame in frames.items():
            crop = frame[y0:y1, x0:x1]
            t0 = time.perf_counter()
            sample.reads[cond], sample.confidence[cond] = read_crop(reader, crop, plate_format)
            result.ocr_seconds += time.perf_counter() - t0
            result.ocr_crops += 1
            if keep_crops:
                sample.crops[cond] = np.ascontiguousarray(crop)
        result.samples.append(sample)
    if not result.samples:
        malformed = f", {bad} malformed label line(s) ignored" if bad else ""
        raise StreamDeblurError(f"{plates_dir}: none of the labelled images could be read ({result.skipped_images} skipped{malformed})")
    return result


def _round16(v: float) -> int:
    return int(math.ceil(v / 16) * 16)


def format_table(metrics: dict) -> str:
    """The human-readable result of ``eval-ocr``."""
    rows = [f"{'':<12}{'char acc':>10}{'exact':>10}   characters per read: substituted / inserted / deleted (reads with an extra first)"]
    for cond in CONDITIONS:
        e = metrics.get(f"edits_{cond}")
        edits = f"   {e['substituted']:.2f} / {e['inserted']:.2f} / {e['deleted']:.2f} ({100 * e['leading_insert_share']:.0f}%)" if e else ""
        rows.append(f"{cond:<12}{100 * metrics[f'char_acc_{cond}']:>9.1f}%{100 * metrics[f'exact_{cond}']:>9.1f}%{edits}")
    gap = metrics["gap_closed"]
    ci = metrics.get("gap_closed_ci95")
    spread = f" (95% interval over plates: {100 * ci[0]:.0f}-{100 * ci[1]:.0f}%)" if gap is not None and ci else ""
    rows.append(f"gap closed: {'n/a (no sharp-vs-blurred gap)' if gap is None else f'{100 * gap:.1f}%'} of the character-accuracy gap{spread}")
    rows.append(
        f"plates: {metrics['plates']}, reads per condition: {metrics['n']}, skipped images: {metrics['skipped_images']}, "
        f"bad label lines: {metrics['bad_labels']}, "
        f"model: {metrics['model']}, OCR {metrics['ocr_ms_per_crop']} ms/crop, deblur {metrics['deblur_ms_per_frame']} ms/frame"
    )
    return "\n".join(rows)
