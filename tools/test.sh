#!/usr/bin/env bash
# The README's test command: builds everything and runs every test suite.
#   C++ (GoogleTest via ctest): contract, FP8 codecs, CPU backend vs float64
#   reference, and — when a GPU is present — the GPU matrix.
#   Python (pytest): the kvattn package on the CPU backend; torch/GPU tests
#   run when torch and a GPU are present, and skip with a reason otherwise.
# Installs what it needs itself (PyPI for Python tools, nothing at build time).
# Env: BUILD_DIR (default build), JOBS (default nproc), KVATTN_PY_CUDA=auto|ON|OFF.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"
has_gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then has_gpu=1; fi

step() { printf '\n== %s\n' "$*"; }

step "Python tools"
need=()
for mod in nanobind scikit_build_core numpy ml_dtypes pytest; do
  python3 -c "import $mod" 2>/dev/null || need+=("$mod")
done
if [ ${#need[@]} -gt 0 ]; then
  pkgs=("${need[@]/scikit_build_core/scikit-build-core}")
  python3 -m pip install -q "${pkgs[@]}"
fi

step "CUTLASS headers"
tools/fetch_cutlass.sh || echo "warning: CUTLASS headers unavailable; the Hopper path is not built"

step "Configure + build (C++)"
gen=(); command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
cmake -S . -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release ${KVATTN_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$JOBS"

step "C++ tests (ctest)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 900

step "Python package"
py_cuda="${KVATTN_PY_CUDA:-auto}"
if [ "$py_cuda" = auto ]; then py_cuda=$([ $has_gpu = 1 ] && echo ON || echo OFF); fi
python3 -m pip install -q --no-build-isolation --no-deps . \
  -C build-dir="$BUILD_DIR/python" \
  -C cmake.define.KVATTN_ENABLE_CUDA="$py_cuda" ${KVATTN_PIP_ARGS:-}

step "Python tests (pytest)"
cd "$root/tests/python" && python3 -m pytest -q -rs .
