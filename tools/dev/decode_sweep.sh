#!/usr/bin/env bash
# Decode-kernel tuning sweep (device machine). Times the split-KV decode
# variants selected by KVATTN_DECODE_VARIANT (src/cuda/decode/decode.cu,
# docs/decode-tuning.md) on the decode-heavy workloads, bf16 and e4m3 KV, one
# kvattn-bench process per variant (the variable is read once per process),
# and checks the non-default copy modes against the decode kernel's float64
# reference test. Writes $OUT/decode_sweep.txt (table) and $OUT/decode_sweep.log.
#
#   tools/dev/decode_sweep.sh     # (re)builds kvattn-bench + kvattn_gpu_tests in build-device/, then sweeps
#
# Env: BUILD_DIR (build-device), OUT ($BUILD_DIR/out), REPS (30), BUDGET_S (170:
# variants still queued after this many seconds are skipped), VARIANTS (space-
# separated name=spec list replacing the default one), JOBS (16), SKIP_BUILD=1.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root" || exit 2
BUILD_DIR="${BUILD_DIR:-build-device}"
OUT="${OUT:-$root/$BUILD_DIR/out}"
REPS="${REPS:-30}"
BUDGET_S="${BUDGET_S:-170}"
JOBS="${JOBS:-16}"
mkdir -p "$OUT"
LOG="$OUT/decode_sweep.log"
TABLE="$OUT/decode_sweep.txt"
: >"$LOG"
BENCH="$BUILD_DIR/bench/kvattn-bench"
GTESTS="$BUILD_DIR/tests/kvattn_gpu_tests"
WORKLOADS="decode_128_ctx4k,decode_32_ctx32k,decode_8_ctx128k,specdec_64x4_ctx4k,mixed_2k_128dec"

# name=spec; spec is the KVATTN_DECODE_VARIANT value ("-" = unset, the default).
# "base" is the baseline of the x column: here the wide (16-row) kernel, the default before the narrow one.
DEFAULT_VARIANTS="base=narrow=0 narrow=- n_s2=stages=2 n_s4=stages=4 n_s5=stages=5 base2=narrow=0"
VARIANTS="${VARIANTS:-$DEFAULT_VARIANTS}"

# GoogleTest staged by `tools/device_check.sh --stage-deps` (carry ".device").
if [ -d .device/prefix ]; then export CMAKE_PREFIX_PATH="$root/.device/prefix${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"; fi
# Always (incremental): a build dir kept from an earlier call may hold older code.
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "== building kvattn-bench and kvattn_gpu_tests in $BUILD_DIR" | tee -a "$LOG"
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      "-DKVATTN_CUDA_GENCODE=-gencode=arch=compute_90a,code=sm_90a" \
      "-DKVATTN_CUTLASS_DIR=$PWD/third_party/cutlass" \
      -DKVATTN_BUILD_TESTS=ON -DKVATTN_BUILD_BENCH=ON -DKVATTN_BUILD_PYTHON=OFF >>"$LOG" 2>&1
  fi
  if ! ninja -C "$BUILD_DIR" -j "$JOBS" kvattn-bench kvattn_gpu_tests >>"$LOG" 2>&1; then
    { echo "build failed (tail of $LOG):"; grep -E "error|FAILED" "$LOG" | head -20; } | tee "$TABLE"
    exit 1
  fi
fi
[ -x "$BENCH" ] || { echo "no $BENCH (see $LOG)" | tee "$TABLE"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader >>"$LOG" 2>&1

start=$SECONDS
ran=()
for item in $VARIANTS; do
  name="${item%%=*}"
  spec="${item#*=}"
  if [ $((SECONDS - start)) -ge "$BUDGET_S" ]; then
    echo "== $name: skipped (budget ${BUDGET_S}s spent)" | tee -a "$LOG"
    continue
  fi
  flags=(--workload "$WORKLOADS" --kv-dtype bf16,e4m3 --reps "$REPS" --json "$OUT/sweep_$name.json")
  # Ceilings once (first variant); the CPU check for the baseline and the default.
  [ ${#ran[@]} -gt 0 ] && flags+=(--no-ceilings)
  case "$name" in base | narrow) ;; *) flags+=(--no-check) ;; esac
  echo "== $name: KVATTN_DECODE_VARIANT=${spec} ($((SECONDS - start))s)" | tee -a "$LOG"
  if [ "$spec" = "-" ]; then
    timeout 90 env -u KVATTN_DECODE_VARIANT "$BENCH" "${flags[@]}" >>"$LOG" 2>&1
  else
    timeout 90 env KVATTN_DECODE_VARIANT="$spec" "$BENCH" "${flags[@]}" >>"$LOG" 2>&1
  fi
  echo "   rc $?" >>"$LOG"
  ran+=("$name=$spec")
done

# Correctness of the non-default copy paths against the float64 reference
# (page sizes 1/16/32, contiguous and unaligned KV, windows, splits, GQA up to 71).
if [ -x "$GTESTS" ]; then
  for spec in "narrow=1" "narrow=0" "stages=2" "copy=pairs,stages=4" "narrow=0,copy=rows,prefetch=256,stages=3"; do
    if [ $((SECONDS - start)) -ge $((BUDGET_S + 40)) ]; then
      echo "== gtest DecodeKernel.* with $spec: skipped (budget)" | tee -a "$LOG"
      continue
    fi
    echo "== gtest DecodeKernel.* with KVATTN_DECODE_VARIANT=$spec" | tee -a "$LOG"
    KVATTN_DECODE_VARIANT="$spec" timeout 60 "$GTESTS" \
      --gtest_filter='DecodeKernel.*:GpuAttentionPaths.Decode:GpuAttentionPaths.SpecVerify:GpuAttentionPaths.MixedBatch' \
      >>"$LOG" 2>&1
    echo "   rc $? (gtest $spec)" | tee -a "$LOG"
  done
fi

python3 - "$OUT" "${ran[@]}" >"$TABLE" <<'EOF'
import json, os, sys
out, ran = sys.argv[1], sys.argv[2:]
rows, copy = {}, None
for item in ran:
    name = item.split("=", 1)[0]
    path = os.path.join(out, f"sweep_{name}.json")
    try:
        d = json.load(open(path))
    except Exception as e:
        print(f"{name}: no results ({e})")
        continue
    if copy is None and d.get("ceilings", {}).get("copy_tbps"):
        copy = d["ceilings"]["copy_tbps"]
    for r in d["rows"]:
        if r.get("impl", "kvattn").endswith("+graph"):
            continue
        rows.setdefault((name, r["workload"], r["kv_dtype"]), r)  # first backend row (the default, auto)
copy = copy or 3.01
names = [i.split("=", 1)[0] for i in ran]
specs = dict(i.split("=", 1) for i in ran)
wls = []
for (n, w, k) in rows:
    if w not in wls:
        wls.append(w)
print(f"decode sweep: ms (TB/s, % of copy {copy:.2f} TB/s); x = baseline ms / variant ms; '!' = check failed/error")
for n in names:
    print(f"  {n:11s} KVATTN_DECODE_VARIANT={specs[n]}")
for kv in ("bf16", "e4m3"):
    print(f"\n[{kv}]")
    print(f"{'variant':11s} " + " ".join(f"{w[:22]:>24s}" for w in wls))
    for n in names:
        cells = []
        for w in wls:
            r = rows.get((n, w, kv))
            b = rows.get(("base", w, kv))
            if r is None or r.get("ms") in (None, 0):
                cells.append(f"{'-':>24s}")
                continue
            bad = "!" if r.get("status") != "ok" else " "
            x = f"x{b['ms'] / r['ms']:.2f}" if b and b.get("ms") else ""
            cells.append(f"{r['ms']:7.3f} {100 * r['tbps'] / copy:3.0f}% {x:>6s}{bad}".rjust(24))
        print(f"{n:11s} " + " ".join(cells))
bad = [(k, r.get("message", "")) for k, r in rows.items() if r.get("status") != "ok"]
for k, m in bad:
    print("FAILED", *k, m[:200])
EOF
grep -E "^   rc .*gtest|\[  FAILED  \]|FAILED" "$LOG" | head -20 >>"$TABLE"
echo "sweep took $((SECONDS - start)) s" >>"$TABLE"
cat "$TABLE"
