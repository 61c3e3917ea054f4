#!/usr/bin/env bash
# One command on a GPU machine: build kvattn-bench, run it and bench/compare.py,
# record bench/results/<gpu-slug>.json (+ .peers.json, .peers.png) and rewrite
# README.md's performance table. Stops (leaving the README alone) if kvattn fails
# its correctness check. Set KVATTN_COMMIT when the tree has no .git.
# Extra arguments go to kvattn-bench (e.g. --graph, --workload decode_128_ctx4k).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
BUILD_DIR="${BUILD_DIR:-build}"
gen=(); command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
cmake -S . -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DKVATTN_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target kvattn-bench

"$BUILD_DIR/bench/kvattn-bench" --json bench/results/ "$@"
# Peers (and kvattn through its Python package, as a cross-check): skipped rows say why.
python3 bench/compare.py --json bench/results/ ${COMPARE_ARGS:-}
python3 tools/update_perf_table.py
