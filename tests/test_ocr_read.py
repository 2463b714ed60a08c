"""Real EasyOCR (offline weights) on real plate photos from ../shared/data, and eval-ocr."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from conftest import SHARED_DATA
from streamdeblur.ocr.__main__ import main as ocr_main
from streamdeblur.ocr.evaluate import _roi, load_labels, read_crop
from streamdeblur.ocr.plates import normalise, resolve_format

PLATES = SHARED_DATA / "plates"
pytestmark = pytest.mark.skipif(not PLATES.is_dir(), reason="shared plate photos not available")


@pytest.fixture(scope="module")
def reader():
    from streamdeblur.ocr.reader import PlateReader

    return PlateReader(device="cpu")  # EasyOCR is built once per process (cached)


def label(region: str, image: str):
    labels, _ = load_labels(PLATES / region)
    return next(lb for lb in labels if lb.image.name == image)


@pytest.mark.parametrize("region,image", [("br", "HPM9362.jpg"), ("br", "JQV5526.jpg"), ("eu", "eu10.jpg")])
def test_sharp_crop_reads_correctly(reader, region: str, image: str):
    lb = label(region, image)
    photo = cv2.imread(str(lb.image))
    x, y, w, h = lb.box
    x0, y0, x1, y1 = _roi((x, y, x + w, y + h), (photo.shape[1], photo.shape[0]))
    found = reader.read_plate(photo[y0:y1, x0:x1])
    assert found is not None and normalise(found.text) == lb.text
    assert 0.3 < found.confidence <= 1.0
    # the box is in crop pixels and covers most of the plate's width
    assert 0 <= found.box[0] < found.box[2] <= (x1 - x0) + 1 and found.width > 0.5 * w


def test_read_crop_takes_reading_options_and_the_format(reader):
    lb = label("br", "HPM9362.jpg")
    photo = cv2.imread(str(lb.image))
    x, y, w, h = lb.box
    x0, y0, x1, y1 = _roi((x, y, x + w, y + h), (photo.shape[1], photo.shape[0]))
    crop = photo[y0:y1, x0:x1]
    for options in ({}, {"height": 128}, {"decoder": "beamsearch"}):  # tools/reader_variants.py's knobs
        text, conf = read_crop(reader, crop, resolve_format("br"), **options)
        assert text == lb.text and conf > 0.3, options
    assert read_crop(reader, 0 * crop + 128) == ("", 0.0)  # a grey crop: nothing read


def test_read_frame_finds_the_plate_in_a_whole_photo(reader):
    lb = label("br", "JIT7463.jpg")
    photo = cv2.imread(str(lb.image))
    photo = cv2.resize(photo, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    boxes = reader.read_frame(photo)
    hits = [b for b in boxes if normalise(b.text) == lb.text]
    assert hits, [b.text for b in boxes]
    x, y, w, h = (v * 0.5 for v in lb.box)
    bx = hits[0].box
    assert bx[0] < x + w and bx[2] > x and bx[1] < y + h and bx[3] > y  # found where the label says


def test_eval_ocr_cli_json_report_and_skips(reader, tmp_path: Path, capsys):
    plates = tmp_path / "plates"
    plates.mkdir()
    lines = []
    for name in ("HPM9362.jpg", "JQV5526.jpg"):
        shutil.copy(PLATES / "br" / name, plates / name)
        lines.append((PLATES / "br" / name.replace(".jpg", ".txt")).read_text().strip())
    (plates / "broken.jpg").write_bytes(b"not a jpeg")
    lines.append("broken.jpg\t10\t10\t100\t30\tABC1234")
    (plates / "labels.txt").write_text("\n".join(lines) + "\nbad line\n")
    report = tmp_path / "report"
    rc = ocr_main(["eval-ocr", str(plates), "--json", "--report", str(report), "--model", "none", "--device", "cpu", "--plate-format", "br",
                   "--repeats", "2"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    m = json.loads(out)
    assert {"char_acc_sharp", "char_acc_blurred", "char_acc_deblurred", "exact_sharp", "exact_blurred",
            "exact_deblurred", "gap_closed", "n"} <= m.keys()
    assert m["n"] == 4 and m["plates"] == 2 and m["skipped_images"] == 1 and m["bad_labels"] == 1  # 2 blur draws each
    assert "broken.jpg" in err
    assert m["char_acc_sharp"] >= 0.8 and m["exact_sharp"] >= 0.5
    # the passthrough model returns the blurred frames: same reads, nothing of the gap closed
    assert m["char_acc_deblurred"] == m["char_acc_blurred"] and m["exact_deblurred"] == m["exact_blurred"]
    assert m["edits_deblurred"] == m["edits_blurred"] and set(m["edits_sharp"]) == {"substituted", "inserted", "deleted", "leading_insert_share"}
    assert m["gap_closed"] in (None, 0.0)
    md = (report / "report.md").read_text()
    assert "HPM9362" in md and "chart.png" in md and "crops.png" in md
    chart, grid = cv2.imread(str(report / "chart.png")), cv2.imread(str(report / "crops.png"))
    assert chart is not None and chart.shape[1] > 400 and grid is not None and grid.shape[0] > 2 * 72
    assert json.loads((report / "metrics.json").read_text())["n"] == 4


def test_eval_ocr_cli_errors(tmp_path: Path, capsys):
    assert ocr_main(["eval-ocr", str(tmp_path)]) == 2
    assert "no plate labels found" in capsys.readouterr().err
    assert ocr_main(["eval-ocr", str(tmp_path), "--limit", "0"]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err
    assert ocr_main(["eval-ocr", str(tmp_path), "--repeats", "0"]) == 2
    assert "--repeats must be at least 1" in capsys.readouterr().err
    (tmp_path / "x.txt").write_text("gone.jpg\t1\t1\t50\t20\tAB1234\ngone.jpg 1 1 50 AB1234\n")
    assert ocr_main(["eval-ocr", str(tmp_path), "--model", "none", "--device", "cpu"]) == 2
    assert "none of the labelled images could be read (1 skipped, 1 malformed label line(s) ignored)" in capsys.readouterr().err
    assert ocr_main(["eval-ocr", str(tmp_path), "--held-out", "--training"]) == 2
    assert "--held-out and --training exclude each other" in capsys.readouterr().err
    assert ocr_main(["eval-ocr", str(tmp_path), "--held-out"]) == 2  # a missing image is not held out
    assert "no held-out plates in this folder" in capsys.readouterr().err
