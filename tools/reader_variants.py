"""How much of ``eval-ocr``'s result is the reader's? The same crops, read several ways.

    python tools/reader_variants.py ../shared/data/plates/eu --training --limit 45
    python tools/reader_variants.py ../shared/data/plates/br --held-out --plate-format br --repeats 3 --seeds 0 1000

Runs ``eval-ocr``'s protocol once per seed (synthesis, deblurring, the shipped reading) with
the crops kept, reads the same sharp, blurred and deblurred crops again with each variant of
``VARIANTS`` (``PlateReader.read_plate`` options), and prints a Markdown row per variant:
character accuracy per condition (mean over the seeds), gap closed, exact matches.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VARIANTS: dict[str, dict] = {
    "shipped": {},  # crop scaled to 96 px high, greedy decoder, EasyOCR's detector thresholds 0.7 / 0.4
    "beam": {"decoder": "beamsearch"},
    "detector": {"text_threshold": 0.5, "low_text": 0.3},
    "crop128": {"height": 128},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("plates_dir")
    split = ap.add_mutually_exclusive_group()
    split.add_argument("--held-out", action="store_true")
    split.add_argument("--training", action="store_true")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--plate-format", help="a preset (br, sk, ...) or a regular expression")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = ap.parse_args()

    from streamdeblur.errors import report

    return report("reader_variants", lambda: run(args))


def run(args: argparse.Namespace) -> None:
    import torch

    from streamdeblur.ocr.evaluate import CONDITIONS, EvalResult, Sample, evaluate, gap_closed, read_crop
    from streamdeblur.ocr.plates import resolve_format
    from streamdeblur.ocr.reader import PlateReader

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="easyocr")  # beam search's float overflow
    fmt = resolve_format(args.plate_format)
    runs = [evaluate(args.plates_dir, limit=args.limit, plate_format=fmt, held_out=args.held_out, training=args.training,
                     seed=seed, repeats=args.repeats, keep_crops=True, ocr_device="cpu") for seed in args.seeds]
    reader = PlateReader(device="cpu")
    print("| reading | sharp / blurred / deblurred | gap closed | exact sharp / blurred / deblurred | reads |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.variants:
        options = VARIANTS[name]
        # each seed scored by eval-ocr's own metrics, then pooled like docs/BENCHMARKS.md
        # (accuracies averaged over the seeds, then the gap)
        scores = [EvalResult([s if not options else Sample(s.label, {c: read_crop(reader, s.crops[c], fmt, **options)[0]
                                                                      for c in CONDITIONS})
                              for s in result.samples]).metrics() for result in runs]
        mean = {k: sum(m[k] for m in scores) / len(scores) for k in scores[0] if k.startswith(("char_acc_", "exact_"))}
        gap = gap_closed(*(mean["char_acc_" + c] for c in CONDITIONS))
        acc = " / ".join(f"{100 * mean['char_acc_' + c]:.1f}" for c in CONDITIONS)
        exact = " / ".join(f"{100 * mean['exact_' + c]:.1f}" for c in CONDITIONS)
        print(f"| {name} | {acc}% | {'n/a' if gap is None else f'{100 * gap:.1f}%'} | {exact}% | {sum(m['n'] for m in scores)} |",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
