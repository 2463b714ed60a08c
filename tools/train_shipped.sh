#!/usr/bin/env bash
# Train the shipped weights (streamdeblur/weights/raft_fusion_small.pt) from scratch: the twelve
# stages of streamdeblur/weights/MODEL_CARD.md ("Schedule actually run") in order, about 10.9 h
# on 2 CPU cores. Each stage is resumable: run the script again after an interruption and the
# finished stages resume at their end (their last.pt) and move on. The CPU schedules stop on
# a time budget, so another machine runs more or fewer steps than the logged run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
train() { "$PY" tools/train.py "$@"; }
export_to_weights() { "$PY" tools/train.py --export "$@" --to streamdeblur/weights/raft_fusion_small.pt --name raft-fusion-small; }

train --schedule cpu-quick --out runs/cpu-quick --minutes 72
train --schedule cpu-cached --out runs/cpu-cached                  # from runs/cpu-quick/last.pt
train --schedule cpu-plates --out runs/cpu-plates                  # from runs/cpu-cached/last.pt
train --schedule cpu-deep --out runs/cpu-deep
train --schedule cpu-deep-plates --out runs/cpu-deep-plates
train --schedule cpu-cached-flow --out runs/cpu-cached-flow        # flow network only, from runs/cpu-cached/last.pt
train --schedule cpu-window-oracle --out runs/oracle --seed 1      # stage 6, from runs/cpu-deep-plates/last.pt
export_to_weights runs/oracle/last.pt --flow-from runs/cpu-cached-flow/last.pt
train --schedule cpu-flow-shipped --out runs/flow-shipped --seed 2 # stage 7, from the stage-6 file
export_to_weights runs/flow-shipped/last.pt
train --schedule cpu-window-refined --out runs/window-refined --seed 3   # stage 8
train --schedule cpu-window-refined-more --out runs/window-refined-more --seed 3
train --schedule cpu-window-refined-plates --out runs/window-refined-plates --seed 3   # stage 9
train --schedule cpu-window-refined-plates-more --out runs/window-refined-plates-more --seed 3
train --schedule cpu-window-refined-plates-ocr --out runs/window-refined-plates-ocr --seed 3   # stage 10
export_to_weights runs/window-refined-plates-ocr/last.pt
train --schedule cpu-window-colour --out runs/window-colour --seed 3   # stage 11: clips with exact colour conversions
export_to_weights runs/window-colour/last.pt
train --schedule cpu-flow-colour --out runs/flow-colour --seed 3      # stage 12: its flow network on the true flows
train --schedule cpu-flow-colour-more --out runs/flow-colour-more --seed 4
export_to_weights runs/flow-colour-more/last.pt
