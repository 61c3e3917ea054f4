#!/usr/bin/env bash
# A/B of compile-time knobs in one device call: one sm_90a build of kvattn-bench per
# variant (build-var-<name>/, CMAKE_CUDA_FLAGS = the variant's flags), then ROUNDS
# rounds of the same benchmark over all variants, interleaved (card state drifts
# between minutes; compare within a round). Writes $OUT/variants.txt and the
# ptxas spill lines of each build.
#
#   VARIANTS="base: b8:-DKVATTN_DEV_WIDEN_BATCH=8" tools/dev/build_variants.sh
#   VARIANTS="old@.ab-base: new:" ...   (name@dir: build the source tree in dir, e.g. an
#   untracked `git archive HEAD | tar -x -C .ab-base` copy, to A/B against a commit)
#   VARIANTS="on: off:env:KVATTN_HOPPER_TMA_STORE=0"   (env:VAR=VAL flags are set for that
#   variant's bench runs, not passed to the compiler; variants with the same source tree
#   and compiler flags share one build)
# Env: VARIANTS (space-separated name[@srcdir]:flags, flags joined by ','), WORKLOADS, KV (bench --kv-dtype list),
#      ROUNDS (2), REPS (20), BENCH_EXTRA (more kvattn-bench flags, e.g. --no-check, --page-size 64),
#      CEILINGS (1: measure copy / GEMM ceilings once before the rounds), OUT.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root" || exit 2
OUT="${OUT:-$root/build-variants-out}"
WORKLOADS="${WORKLOADS:-prefill_4x8k,chunk_8x2k_ctx6k}"
KV="${KV:-bf16,e4m3,e5m2}"
ROUNDS="${ROUNDS:-2}"
REPS="${REPS:-20}"
mkdir -p "$OUT"
if [ -d .device/prefix ]; then export CMAKE_PREFIX_PATH="$root/.device/prefix${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"; fi
names=()
declare -A dir_of env_of built
for v in $VARIANTS; do
  name="${v%%:*}"
  all="${v#*:}"
  src=.
  if [[ "$name" == *@* ]]; then src="${name#*@}"; name="${name%%@*}"; fi
  flags=""
  envs=""
  for f in ${all//,/ }; do
    if [[ "$f" == env:* ]]; then envs+=" ${f#env:}"; else flags+=" $f"; fi
  done
  flags="${flags# }"
  names+=("$name")
  env_of[$name]="$envs"
  key="$src|$flags"
  if [ -n "${built[$key]:-}" ]; then
    dir_of[$name]="${built[$key]}"
    echo "$name [$flags;$envs]: build of ${built[$key]}" | tee -a "$OUT/variants.txt"
    continue
  fi
  dir="build-var-$name"
  dir_of[$name]="$dir"
  built[$key]="$dir"
  { cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKVATTN_BUILD_BENCH=ON \
      "-DKVATTN_CUTLASS_DIR=$root/third_party/cutlass" "-DCMAKE_CUDA_FLAGS=$flags" \
      "-DKVATTN_CUDA_GENCODE=-gencode=arch=compute_90a,code=sm_90a" &&
      cmake --build "$dir" -j "${JOBS:-16}" --target kvattn-bench; } >"$OUT/build-$name.log" 2>&1 ||
    { echo "build $name failed: $OUT/build-$name.log"; exit 1; }
  echo "$name [$flags;$envs]: $(grep -c 'bytes spill' "$OUT/build-$name.log") spill lines, nonzero: $(grep -E '[1-9][0-9]* bytes spill stores' "$OUT/build-$name.log" | sort | uniq -c | tr -s ' ' | paste -sd ';')" |
    tee -a "$OUT/variants.txt"
done
# Ceilings once per call (copy, cuBLAS GEMM rates), so the rounds' TFLOP/s can be read as
# a share of the same call's GEMM rate. CEILINGS=0 skips them.
if [ "${CEILINGS:-1}" = 1 ]; then
  "${dir_of[${names[0]}]}/bench/kvattn-bench" --workload decode_128_ctx4k --kv-dtype bf16 --reps 1 --no-check 2>&1 |
    grep -E "^ceiling" | tee -a "$OUT/variants.txt"
fi
for round in $(seq 1 "$ROUNDS"); do
  for name in "${names[@]}"; do
    echo "== round $round: $name"
    env ${env_of[$name]} "${dir_of[$name]}/bench/kvattn-bench" --workload "$WORKLOADS" --kv-dtype "$KV" --backend hopper --reps "$REPS" \
      --no-ceilings ${BENCH_EXTRA:-} 2>&1 | grep -E "^(prefill|chunk|mixed|decode|specdec|seqs)" || true
  done
done | tee -a "$OUT/variants.txt"
