#!/usr/bin/env python
"""Prepare ``.gpu/`` for a lent GPU machine (the tool library's ``device``): what its image
lacks, within the 64 MiB that travel with a call.

    python tools/gpu_carry.py [--ray]    # writes .gpu/whl, .gpu/heldout, .gpu/train [.gpu/ray-a, .gpu/ray-b]
    # then, on the device: bash tools/gpu_check.sh (carry .gpu/whl .gpu/heldout)
    #                  or: bash tools/gpu_train.sh SECONDS (carry .gpu/whl .gpu/train)

- ``whl``: wheels for Python 3.12 of PyAV, pyzmq and pydantic (the image has torch,
  torchvision, OpenCV, NumPy, PyYAML, tqdm). Ray's wheel (79 MB) does not fit one call;
  ``--ray`` splits it into ``ray-a`` and ``ray-b`` (with jsonschema's wheels, which the image
  lacks) for three calls in a row on one warm machine: carrying ``.gpu/ray-a``, then
  ``.gpu/ray-b``, each running ``. tools/gpu_env.sh`` (the first parks its half in /tmp, the
  second joins and installs Ray into /tmp/site), then the pipeline's call (``.gpu/whl``, and
  ``streamdeblur bench --device cuda``). Without it the device runs the model, its tests,
  ``bench model``, ``eval`` and training, not the pipeline.
- ``heldout`` / ``train``: one split of ../shared/data each (both together are over the
  limit). File names are kept, since the split is by position in the sorted folder
  (``train.splits``); the other split's photos are empty placeholders that the loaders skip.
  Training photos are shrunk to ``load_sources``' 1000 px (its INTER_AREA resize) and saved
  as JPEG quality 85, labels rescaled: 16 MB instead of 32 MB; the training video is a link to
  the bundled demo clip (the same file).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamdeblur.train.splits import IMAGE_EXTS, data_root, is_held_out  # noqa: E402

WHEELS = ["av==18.1.0", "pyzmq==27.3.0", "pydantic==2.14.3", "pydantic_core==2.50.4", "annotated-types==0.8.0",
          "typing-inspection==0.4.5"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
RAY_WHEELS = ["ray==2.60.0", "jsonschema==4.26.0", "jsonschema-specifications==2025.9.1", "referencing==0.37.0",
              "rpds-py==2026.9.1"]
MAX_SIDE = 1000


def wheels(dst: Path, names: list[str] = WHEELS) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    plat = [a for p in PLATFORMS for a in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--isolated", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *plat, "-d", str(dst), *names], check=True)


def ray_halves(out: Path) -> None:
    """Ray's wheel in two halves, ``ray-a/NAME.part0`` and ``ray-b/NAME.part1`` (its
    dependencies beside the second), for ``tools/gpu_env.sh`` to join on the device."""
    tmp = out / "ray-download"
    wheels(tmp, RAY_WHEELS)
    whl = next(tmp.glob("ray-*.whl"))
    data = whl.read_bytes()
    for part, d in enumerate(("ray-a", "ray-b")):
        shutil.rmtree(out / d, ignore_errors=True)
        (out / d).mkdir()
        half = data[: len(data) // 2] if part == 0 else data[len(data) // 2:]
        (out / d / f"{whl.name}.part{part}").write_bytes(half)
    for dep in tmp.glob("*.whl"):
        if dep != whl:
            shutil.move(str(dep), out / "ray-b" / dep.name)
    shutil.rmtree(tmp)


def split(dst: Path, held_out: bool) -> None:
    src = data_root()
    shutil.rmtree(dst, ignore_errors=True)
    for region in ("eu", "br"):
        (dst / "plates" / region).mkdir(parents=True)
        for f in sorted((src / "plates" / region).iterdir()):
            if not f.name.lower().endswith(IMAGE_EXTS):
                continue
            out = dst / "plates" / region / f.name
            if is_held_out(f) != held_out:
                out.touch()  # keeps every name's position
            elif held_out:
                shutil.copy(f, out)
                shutil.copy(f.with_suffix(".txt"), out.with_suffix(".txt"))
            else:
                img = cv2.imread(str(f))
                s = min(1.0, MAX_SIDE / max(img.shape[:2]))
                if s < 1:
                    img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
                cv2.imwrite(str(out), img, [cv2.IMWRITE_JPEG_QUALITY, 85] if out.suffix.lower() in (".jpg", ".jpeg") else [])
                parts = f.with_suffix(".txt").read_text(encoding="utf-8").strip().split("\t")
                box = [str(round(int(v) * s)) for v in parts[1:5]]
                out.with_suffix(".txt").write_text("\t".join([parts[0], *box, *parts[5:]]) + "\n", encoding="utf-8")
    (dst / "video").mkdir()
    for v in sorted((src / "video").glob("*.mp4")):
        bundled = ROOT / "data" / v.name  # the demo clip travels anyway: a link inside the checkout
        if is_held_out(v) != held_out:
            continue
        if bundled.is_file() and bundled.read_bytes() == v.read_bytes():
            (dst / "video" / v.name).symlink_to(Path("../../..") / "data" / v.name)
        else:
            shutil.copy(v, dst / "video" / v.name)


def main() -> int:
    out = ROOT / ".gpu"  # git-ignored: travels only where a device call names it in ``carry``
    wheels(out / "whl")
    if "--ray" in sys.argv[1:]:
        ray_halves(out)
    split(out / "heldout", held_out=True)
    split(out / "train", held_out=False)
    for d in sorted(out.iterdir()):
        size = sum(p.stat().st_size for p in d.rglob("*") if p.is_file() and not p.is_symlink())
        print(f"{d.relative_to(ROOT)}: {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
