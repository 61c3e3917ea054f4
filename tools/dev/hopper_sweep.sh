#!/usr/bin/env bash
# Hopper prefill A/B in one device call: builds kvattn-bench in build-device/
# (sm_90a only, incremental), times the prefill workloads on the Hopper kernel
# under each variant (environment settings, one process each) and once on the
# portable kernel (the baseline of the same run), then profiles one Hopper launch
# with ncu per KV dtype. Writes $OUT/hopper_sweep.txt and $OUT/ncu_<kv>.txt.
#
#   tools/dev/hopper_sweep.sh       (device call: carry third_party/cutlass and .device)
# Env: BUILD_DIR (build-device), OUT, WORKLOADS, NCU_KV ("bf16 e4m3"; empty = no ncu), SKIP_BUILD=1,
#      VARIANTS: ';'-separated environment settings, "default" for none, e.g.
#      "default;KVATTN_HOPPER_PINGPONG=1;KVATTN_HOPPER_EXPERIMENT=noload"
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root" || exit 2
BUILD_DIR="${BUILD_DIR:-build-device}"
OUT="${OUT:-$root/$BUILD_DIR/out}"
WORKLOADS="${WORKLOADS:-prefill_4x8k,chunk_8x2k_ctx6k,prefill_d64,prefill_d256}"
VARIANTS="${VARIANTS:-default;KVATTN_HOPPER_PINGPONG=1}"
NCU_KV="${NCU_KV-bf16 e4m3}"
mkdir -p "$OUT"
if [ -d .device/prefix ]; then export CMAKE_PREFIX_PATH="$root/.device/prefix${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"; fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKVATTN_BUILD_BENCH=ON \
    "-DKVATTN_CUTLASS_DIR=$root/third_party/cutlass" \
    "-DKVATTN_CUDA_GENCODE=-gencode=arch=compute_90a,code=sm_90a" >"$OUT/hopper_sweep_build.log" 2>&1 &&
    cmake --build "$BUILD_DIR" -j "${JOBS:-16}" --target kvattn-bench >>"$OUT/hopper_sweep_build.log" 2>&1 ||
    { echo "build failed: $OUT/hopper_sweep_build.log"; exit 1; }
fi
bench="$BUILD_DIR/bench/kvattn-bench"
rows() { grep -E "^(workload|prefill|chunk|mixed|decode|ceiling|copy|cublas)" || true; }
{
  echo "== portable kernel (baseline), with ceilings"
  "$bench" --workload "$WORKLOADS" --backend portable --reps 20 2>/dev/null | rows
  IFS=';' read -r -a variants <<<"$VARIANTS"
  for v in "${variants[@]}"; do
    echo "== Hopper: $v"
    if [ "$v" = default ]; then
      "$bench" --workload "$WORKLOADS" --backend hopper --reps 20 --no-ceilings 2>&1 | rows
    else
      env $v "$bench" --workload "$WORKLOADS" --backend hopper --reps 20 --no-ceilings 2>&1 | rows
    fi
  done
} | tee "$OUT/hopper_sweep.txt"
for kv in $NCU_KV; do
  timeout 120 ncu --kernel-name regex:hopper_prefill --launch-skip 2 --launch-count 1 \
    --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section ComputeWorkloadAnalysis \
    --metrics sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active \
    "$bench" --workload prefill_4x8k --kv-dtype "$kv" --backend hopper --reps 3 --no-check --no-ceilings \
    >"$OUT/ncu_$kv.txt" 2>&1
  echo "ncu $kv: $(grep -E 'hmma_cycles_active|Issue Slots Busy' "$OUT/ncu_$kv.txt" | tr -s ' ' | paste -sd ';')" |
    tee -a "$OUT/hopper_sweep.txt"
done
