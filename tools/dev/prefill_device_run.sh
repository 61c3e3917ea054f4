#!/bin/bash
# One device call: correctness (sm_90a SASS and the sm_80 code path via compute_80
# PTX JIT), timings, memcheck and racecheck. Logs go to $OUT.
cd "$(dirname "$0")/../.."
D=build-prefill/dev
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
exec > >(tee $OUT/all.log) 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv
$D/sm90/prefill_test --only __none__; rc=$?
if [ $rc -ne 0 ]; then
  echo "== prebuilt binary failed to start (rc $rc): rebuilding on the device"
  t0=$(date +%s)
  bash $D/build.sh $D/sm90 "-gencode=arch=compute_90a,code=sm_90a" || exit 1
  bash $D/build.sh $D/sm80ptx "-gencode=arch=compute_80,code=compute_80" & rebuild_pid=$!
  echo "rebuild took $(( $(date +%s) - t0 )) s"
fi
echo "== correctness sm_90a"
timeout 60 $D/sm90/prefill_test; rc=$?
if [ $rc -eq 2 ] || [ $rc -ge 124 ]; then
  echo "== a CUDA error/timeout (rc $rc): each case on its own"
  $D/sm90/prefill_test --list | while read -r name; do timeout 20 $D/sm90/prefill_test --only "$name" 2>&1 | grep -v "^device"; done
fi
echo "== timings sm_90a"
timeout 60 $D/sm90/prefill_test --only __none__ --bench
# (a bare `wait` would also wait for the tee above and hang)
[ -n "$rebuild_pid" ] && wait $rebuild_pid
echo "== correctness of the sm_80 code path (compute_80 PTX, JIT on this GPU)"
timeout 60 $D/sm80ptx/prefill_test --quick
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
echo "== memcheck ($CS)"
timeout 45 $CS --tool memcheck --leak-check no $D/sm90/prefill_test --only page 2>&1 | tail -25
echo "== racecheck"
timeout 30 $CS --tool racecheck $D/sm90/prefill_test --only gqa71 2>&1 | tail -12
echo "== done"
