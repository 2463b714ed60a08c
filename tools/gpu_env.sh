# Sourced by tools/gpu_check.sh and tools/gpu_train.sh on a lent GPU machine: installs the
# carried wheels (.gpu/whl, from tools/gpu_carry.py) beside the image's own PyTorch.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl \
    >/dev/null 2>&1 || { echo "gpu_env: installing .gpu/whl failed (run tools/gpu_carry.py here and carry .gpu/whl)"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
