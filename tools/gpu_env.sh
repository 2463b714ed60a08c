# Sourced by tools/gpu_check.sh and tools/gpu_train.sh on a lent GPU machine: installs the
# carried wheels (.gpu/whl, from tools/gpu_carry.py) beside the image's own PyTorch into
# /tmp/site. Ray travels in two halves (gpu_carry.py --ray): a call carrying .gpu/ray-a parks
# its half in /tmp (kept while the machine stays warm), the next one, carrying .gpu/ray-b,
# joins them and installs Ray.
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT" /tmp/site
pip_target() { python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$@" >/dev/null 2>&1; }
if [ -d .gpu/whl ]; then
  pip_target .gpu/whl/*.whl || { echo "gpu_env: installing .gpu/whl failed (run tools/gpu_carry.py here and carry .gpu/whl)"; exit 1; }
fi
if [ -d .gpu/ray-a ]; then
  cp .gpu/ray-a/*.part0 /tmp/ && echo "gpu_env: Ray's first half parked in /tmp; next call: carry .gpu/ray-b"
fi
if [ -d .gpu/ray-b ]; then
  half=$(ls .gpu/ray-b/*.part1); name=$(basename "$half" .part1)
  [ -f "/tmp/$name.part0" ] || { echo "gpu_env: /tmp/$name.part0 missing (the machine was given back: carry .gpu/ray-a again first)"; exit 1; }
  cat "/tmp/$name.part0" "$half" > "/tmp/$name" && pip_target "/tmp/$name" .gpu/ray-b/*.whl \
    && echo "gpu_env: Ray installed in /tmp/site" || { echo "gpu_env: installing Ray failed"; exit 1; }
fi
