#!/usr/bin/env bash
# Everything a lent GPU machine can show, in one device call (about 9 min on an H100):
# the CUDA tests, model-only speed per precision and resolution (`bench model`), held-out
# quality at fp32 and fp16, reprocess with and without the DIS refinement, and where a frame's time goes (tools/cuda_profile.py).
# Carry .gpu/whl and .gpu/heldout (tools/gpu_carry.py); results land in $OUT.
set -u
cd "$(dirname "$0")/.."
. tools/gpu_env.sh
export STREAMDEBLUR_DATA=$PWD/.gpu/heldout
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision, av; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'av', av.__version__)"
echo "== CUDA tests"; timeout 150 python3 -m pytest -q -p no:cacheprovider -rs tests/test_model_cuda.py 2>&1 | tee "$OUT/pytest.log" | tail -3
echo "== bench model"; timeout 260 python3 -m streamdeblur bench model --device cuda --json > "$OUT/bench_model.json" 2> "$OUT/bench_model.err"
python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
for x in r['model_speed']: print(x['precision'], x['resolution'], 'k=%d' % x['k'], x['fps'], 'frames/s')
for k, v in r.get('cuda_fast_path', {}).items(): print('fast path', k, v['fps'], 'frames/s')" "$OUT/bench_model.json"
for p in fp32 fp16; do
  echo "== eval $p"; timeout 90 python3 -m streamdeblur eval --clips 24 --device cuda --precision $p --json "$OUT/eval_$p.json" \
    > "$OUT/eval_$p.txt" 2>&1; grep -E "^(blurred input|model k=0 \(single frame\)|model k=2 \(full\)) " "$OUT/eval_$p.txt"
done
echo "== profile"; timeout 120 python3 tools/cuda_profile.py > "$OUT/profile.txt" 2>&1; grep "frames/s" "$OUT/profile.txt"
for r in auto none; do  # reprocess refines on CUDA by default (offline_config); what it costs there
  echo "== reprocess flow_refine $r"; timeout 45 python3 -m streamdeblur reprocess data/car-detection.mp4 -o "$OUT/reprocess_$r.mp4" \
    --device cuda --flow-refine $r --quiet 2>&1 | tail -1; rm -f "$OUT/reprocess_$r.mp4"
done
