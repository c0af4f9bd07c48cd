#!/usr/bin/env bash
# The GPU path, proven on a machine with an NVIDIA GPU and no network:
#   1. build llama-cpp-python with CUDA for this GPU's architecture only, from a carried sdist;
#   2. install qwen-ls and its dependencies from a carried wheelhouse into a fresh venv;
#   3. write the 1.5B-shaped synthetic model, run `qwen-ls check` and `qwen-ls bench latency` with
#      all layers on the GPU (gpuLayers -1), and leave the JSON reports in OUT.
#
# Prepare the wheelhouse where PyPI is reachable (run from the repository root):
#   qwen_ls/bench/gpu_check.sh --prepare WHEELHOUSE
# Then on the GPU machine:
#   qwen_ls/bench/gpu_check.sh --wheelhouse WHEELHOUSE --out OUT [--dry-run]
# --dry-run does everything that needs no GPU (checks the wheelhouse, makes the venv, installs the
# dependencies, writes the model) and prints the CUDA build and the runs instead of doing them.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LLAMA_VERSION=0.3.36
WHEELHOUSE=""
OUT=${OUT:-$ROOT/gpu-out}
DRY=0
PREPARE=""
SHAPE=1.5b
JOBS=$(nproc 2>/dev/null || echo 8)

while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) PREPARE=$2; shift 2 ;;
    --wheelhouse) WHEELHOUSE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --shape) SHAPE=$2; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $1" >&2; exit 2 ;;
  esac
done

say() { echo "gpu_check: $*" >&2; }
run() { if [ "$DRY" = 1 ]; then echo "[dry-run] $*"; else "$@"; fi; }

if [ -n "$PREPARE" ]; then
  mkdir -p "$PREPARE"
  # the sdist (built there with CUDA), and wheels of everything else the project needs
  python3 -m pip download --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_VERSION" -d "$PREPARE"
  # trim the sdist to what the build needs (its git pack, vocab test files and docs are 60 MB of 77)
  python3 - "$PREPARE/llama_cpp_python-$LLAMA_VERSION.tar.gz" <<'PY'
import re, sys, tarfile
path = sys.argv[1]
drop = re.compile(r"^[^/]+/(\.git/|vendor/llama\.cpp/(models/.*\.gguf|docs/|\.git))")
with tarfile.open(path) as src:
    members = [(m, src.extractfile(m) if m.isfile() else None) for m in src if not drop.match(m.name)]
    with tarfile.open(path + ".tmp", "w:gz") as dst:
        for m, f in members:
            dst.addfile(m, f)
import os
os.replace(path + ".tmp", path)
PY
  python3 -m pip wheel --no-deps --wheel-dir "$PREPARE" "$ROOT"
  DEPS=$(python3 -c "
import tomllib
deps = tomllib.load(open('$ROOT/pyproject.toml', 'rb'))['project']['dependencies']
print(' '.join(d.replace(' ', '') for d in deps if not d.startswith('llama-cpp-python')))")
  # shellcheck disable=SC2086
  python3 -m pip download --only-binary :all: -d "$PREPARE" $DEPS \
    scikit-build-core cmake ninja setuptools wheel "numpy>=1.20" typing-extensions diskcache jinja2
  du -sh "$PREPARE" >&2
  say "wheelhouse ready in $PREPARE"
  exit 0
fi

[ -n "$WHEELHOUSE" ] || { say "--wheelhouse DIR is required (see --help)"; exit 2; }
SDIST=$(ls "$WHEELHOUSE"/llama_cpp_python-"$LLAMA_VERSION".tar.gz 2>/dev/null || true)
[ -n "$SDIST" ] || { say "no llama_cpp_python-$LLAMA_VERSION.tar.gz in $WHEELHOUSE"; exit 2; }
mkdir -p "$OUT"

# The GPU's compute capability, e.g. 9.0 for H100/H200 -> CMAKE_CUDA_ARCHITECTURES=90.
if command -v nvidia-smi >/dev/null 2>&1; then
  CC=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt"
elif [ "$DRY" = 1 ]; then
  CC=90
  say "no nvidia-smi here: dry run assumes compute capability 9.0"
else
  say "no nvidia-smi: this machine has no NVIDIA GPU"; exit 3
fi
if ! command -v nvcc >/dev/null 2>&1 && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  if [ "$DRY" = 1 ]; then say "no nvcc here (needed on the GPU machine)"; else say "no nvcc: install the CUDA toolkit"; exit 3; fi
fi
export PATH="/usr/local/cuda/bin:$PATH"

VENV="$OUT/venv"
python3 -m venv "$VENV"
PIP="$VENV/bin/pip"
"$PIP" install --quiet --no-index --find-links "$WHEELHOUSE" scikit-build-core cmake ninja setuptools wheel

# 1. llama-cpp-python with CUDA, for this architecture only (a fat build takes far longer)
export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$CC -DGGML_NATIVE=on"
export CMAKE_BUILD_PARALLEL_LEVEL=$JOBS
say "building llama-cpp-python $LLAMA_VERSION with CMAKE_ARGS=$CMAKE_ARGS"
run "$PIP" install --no-index --find-links "$WHEELHOUSE" --no-build-isolation --no-deps "$SDIST"

# 2. qwen-ls and its dependencies, from the wheelhouse
"$PIP" install --quiet --no-index --find-links "$WHEELHOUSE" --no-deps qwen-ls
"$PIP" install --quiet --no-index --find-links "$WHEELHOUSE" \
  $("$VENV/bin/python" -c "
import importlib.metadata as m
print(' '.join(r.split(';')[0].replace(' ', '') for r in (m.requires('qwen-ls') or [])
               if 'extra ==' not in r and not r.startswith('llama-cpp-python')))")
QWEN="$VENV/bin/qwen-ls"

# 3. the model, the check and the latency benchmark with every layer on the GPU
MODEL="$OUT/m-$SHAPE.gguf"
[ -f "$MODEL" ] || "$QWEN" bench make-model "$MODEL" --shape "$SHAPE"
if [ "$DRY" = 1 ]; then
  echo "[dry-run] $QWEN check --model $MODEL --gpu-layers -1 --max-tokens 16 > $OUT/check.txt"
  echo "[dry-run] $QWEN bench latency --model $MODEL --gpu-layers -1 --threads 4 ... > $OUT/latency-*.json"
  "$QWEN" bench latency --help > /dev/null
  say "dry run done: venv, dependencies and model ready; CUDA build and runs printed above"
  exit 0
fi
"$VENV/bin/python" -c "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())" \
  | tee "$OUT/system_info.txt" | grep -q "CUDA" || { say "llama-cpp-python was built without CUDA"; exit 4; }
"$QWEN" check --model "$MODEL" --gpu-layers -1 --max-tokens 16 > "$OUT/check.txt" 2>&1 || true
for tokens in 16 default; do
  extra=()
  [ "$tokens" = default ] || extra=(--max-tokens "$tokens")
  "$QWEN" bench latency --model "$MODEL" --gpu-layers -1 --threads 4 --workspace "$ROOT" \
    --file qwen_ls/engine/llama.py --chars 200 --floor-repeats 1 --json "${extra[@]}" \
    > "$OUT/latency-$tokens.json" 2> "$OUT/latency-$tokens.err" || true
done
say "done: $OUT/check.txt, $OUT/latency-16.json, $OUT/latency-default.json"
