"""``eval-ocr --report DIR``: Markdown report, bar chart and example-crop grid (OpenCV)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from streamdeblur.ocr.evaluate import CONDITIONS, EvalResult, format_table

COLOURS = {"sharp": (96, 160, 64), "blurred": (64, 64, 200), "deblurred": (200, 130, 40)}  # BGR
FONT = cv2.FONT_HERSHEY_SIMPLEX
CELL = (240, 72)
"""Width, height of one crop in the grid."""


def bar_chart(metrics: dict, size: tuple[int, int] = (720, 420)) -> np.ndarray:
    """Grouped bars: character accuracy and exact match for sharp / blurred / deblurred."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 60, 20, 40, 60
    ph = h - top - bottom
    cv2.putText(img, "Plate OCR: sharp vs blurred vs deblurred", (left, 26), FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    for pct in range(0, 101, 20):
        y = top + ph - int(ph * pct / 100)
        cv2.line(img, (left, y), (w - right, y), (225, 225, 225), 1)
        cv2.putText(img, f"{pct}%", (10, y + 5), FONT, 0.45, (80, 80, 80), 1, cv2.LINE_AA)
    groups = [("character accuracy", "char_acc"), ("exact match", "exact")]
    gw = (w - left - right) // len(groups)
    bw = gw // (len(CONDITIONS) + 1)
    for g, (title, key) in enumerate(groups):
        x0 = left + g * gw + bw // 2
        for i, cond in enumerate(CONDITIONS):
            v = metrics.get(f"{key}_{cond}") or 0.0
            x = x0 + i * bw
            y = top + ph - int(ph * v)
            cv2.rectangle(img, (x + 4, y), (x + bw - 4, top + ph), COLOURS[cond], -1)
            cv2.putText(img, f"{100 * v:.0f}", (x + bw // 2 - 12, y - 6), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, title, (x0, top + ph + 22), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    lx = left
    for cond in CONDITIONS:
        cv2.rectangle(img, (lx, h - 22), (lx + 14, h - 8), COLOURS[cond], -1)
        cv2.putText(img, cond, (lx + 20, h - 9), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        lx += 130
    cv2.line(img, (left, top + ph), (w - right, top + ph), (0, 0, 0), 1)
    return img


def _cell(crop: np.ndarray, caption: str, ok: bool) -> np.ndarray:
    cw, ch = CELL
    cell = np.full((ch + 24, cw, 3), 255, np.uint8)
    if crop.size:
        scale = min(cw / crop.shape[1], ch / crop.shape[0])
        resized = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))), interpolation=cv2.INTER_CUBIC)
        y, x = (ch - resized.shape[0]) // 2, (cw - resized.shape[1]) // 2
        cell[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    cv2.putText(cell, caption or "(none)", (4, ch + 18), FONT, 0.55, (20, 140, 20) if ok else (30, 30, 200), 1, cv2.LINE_AA)
    return cell


def crop_grid(result: EvalResult, rows: int = 12) -> np.ndarray:
    """Example plates, one per row: truth, then sharp / blurred / deblurred with their reads.

    Rows are chosen to show the effect: plates deblurring fixed first, then the rest."""
    samples = [s for s in result.samples if s.crops]
    samples.sort(key=lambda s: -(s.char_acc("deblurred") - s.char_acc("blurred")))
    samples = samples[:rows]
    header = np.full((28, 140 + CELL[0] * 3, 3), 255, np.uint8)
    for i, title in enumerate(("truth", *CONDITIONS)):
        cv2.putText(header, title, (6 if i == 0 else 140 + (i - 1) * CELL[0] + 6, 20), FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    lines = [header]
    for s in samples:
        truth = np.full((CELL[1] + 24, 140, 3), 255, np.uint8)
        cv2.putText(truth, s.label.text, (6, CELL[1] // 2 + 8), FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        cells = [_cell(s.crops[c], s.reads.get(c, ""), s.exact(c)) for c in CONDITIONS]
        lines.append(np.hstack([truth, *cells]))
    return np.vstack(lines)


def write_report(result: EvalResult, out_dir: str | Path, title: str = "Plate OCR") -> Path:
    """Write ``report.md``, ``chart.png``, ``crops.png`` and ``metrics.json``; returns the .md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = result.metrics()
    cv2.imwrite(str(out / "chart.png"), bar_chart(metrics))
    if any(s.crops for s in result.samples):
        cv2.imwrite(str(out / "crops.png"), crop_grid(result))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    md = [f"# {title}", "", "```", format_table(metrics), "```", "", "![bar chart](chart.png)", ""]
    if (out / "crops.png").exists():
        md += ["Examples (green: exact read, red: wrong):", "", "![example crops](crops.png)", ""]
    md += ["| plate | image | sharp | blurred | deblurred |", "|---|---|---|---|---|"]
    for s in result.samples:
        reads = [f"{s.reads.get(c) or '-'} ({s.char_acc(c):.2f})" for c in CONDITIONS]
        md.append(f"| {s.label.text} | {s.label.image.name} | " + " | ".join(reads) + " |")
    path = out / "report.md"
    path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return path
