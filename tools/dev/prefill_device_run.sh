#!/bin/bash
# One device call: correctness (sm_90a SASS and the sm_80 code path via compute_80
# PTX JIT), timings, memcheck and racecheck. Expects binaries built here with
# prefill_build.sh under $D/sm90 and $D/sm80ptx (D defaults to build-pperf/dev).
# Logs go to $OUT.
cd "$(dirname "$0")/../.."
D=${D:-build-pperf/dev}
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
exec > >(tee $OUT/all.log) 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv
echo "== correctness sm_90a"
timeout ${CHECK_S:-100} $D/sm90/prefill_test; rc=$?
if [ $rc -eq 2 ] || [ $rc -ge 124 ]; then
  echo "== a CUDA error/timeout (rc $rc): each case on its own"
  $D/sm90/prefill_test --list | while read -r name; do timeout 20 $D/sm90/prefill_test --only "$name" 2>&1 | grep -v "^device"; done
fi
echo "== timings sm_90a"
timeout ${BENCH_S:-90} $D/sm90/prefill_test --only __none__ --bench --rounds ${ROUNDS:-5} | tee $OUT/bench.log
echo "== correctness of the sm_80 code path (compute_80 PTX, JIT on this GPU)"
[ -x $D/sm80ptx/prefill_test ] && timeout 60 $D/sm80ptx/prefill_test --quick
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
echo "== memcheck ($CS)"
timeout 40 $CS --tool memcheck --leak-check no $D/sm90/prefill_test --only "page1 e4m3" 2>&1 | tail -8
echo "== racecheck (full reports in \$OUT/race_*.log)"
timeout 40 $CS --tool racecheck $D/sm90/prefill_test --only "gqa71" > $OUT/race_default.log 2>&1; tail -3 $OUT/race_default.log
timeout 40 $CS --tool racecheck $D/sm90/prefill_test --only "widen-before e4m3" > $OUT/race_before.log 2>&1; tail -3 $OUT/race_before.log
echo "== done"
