#!/usr/bin/env bash
# The README's main job: build kvattn-bench and run the standard serving
# workloads — on the GPU when there is one, otherwise scaled down on the CPU backend.
# Extra arguments go to kvattn-bench (e.g. --workload decode_128_ctx4k --json out.json).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
BUILD_DIR="${BUILD_DIR:-build}"
tools/fetch_cutlass.sh >/dev/null 2>&1 || true
gen=(); command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
cmake -S . -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release ${KVATTN_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target kvattn-bench
exec "$BUILD_DIR/bench/kvattn-bench" "$@"
