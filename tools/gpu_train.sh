#!/usr/bin/env bash
# Train a schedule (default gpu-continue) on a lent GPU machine for SECONDS, then stop it with
# SIGINT (the trainer saves last.pt on it); a later call resumes runs/gpu-continue (still on
# a warm machine, or carried back). Carry .gpu/whl and .gpu/train (tools/gpu_carry.py).
#   bash tools/gpu_train.sh 540 [SCHEDULE]
set -u
cd "$(dirname "$0")/.."
. tools/gpu_env.sh
export STREAMDEBLUR_DATA=$PWD/.gpu/train
SCHED=${2:-gpu-continue}
nvidia-smi dmon -s u -d 10 > "$OUT/dmon.txt" 2>&1 &
timeout -s INT "$1" python3 tools/train.py --schedule "$SCHED" --out "runs/$SCHED" > "$OUT/train.log" 2>&1
cp "runs/$SCHED/last.pt" "runs/$SCHED/log.jsonl" "$OUT/"
grep -oE "(flow|fusion|joint) step [0-9]+: .*" "$OUT/train.log" | tail -5
awk 'NR > 2 { s += $2; n++ } END { if (n) printf "GPU busy (SM) %.0f%% on average\n", s / n }' "$OUT/dmon.txt"
