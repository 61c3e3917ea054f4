#!/bin/bash
# Builds the standalone prefill test. usage: prefill_build.sh OUTDIR GENCODE [extra nvcc flags...]
# With BASELINE=DIR (made by prefill_baseline.sh) the old kernel is linked in and timed too.
set -e
cd "$(dirname "$0")/../.."
out=$1; gen=$2; shift 2
mkdir -p "$out"
NVCC="nvcc -std=c++17 -O3 -DNDEBUG --expt-relaxed-constexpr -Iinclude -Isrc $gen $*"
test_flags="-DKVATTN_PREFILL_STANDALONE -DKVATTN_PREFILL_SHAPE_BENCH"
pids=()
for f in src/cuda/prefill/*.cu; do
  $NVCC -c $f -o "$out/$(basename $f .cu).o" & pids+=($!)
done
if [ -n "$BASELINE" ]; then
  mkdir -p "$out/base"
  for f in "$BASELINE"/cuda_base/prefill/*.cu "$BASELINE"/baseline_launch.cu; do
    $NVCC -I"$BASELINE" -c $f -o "$out/base/$(basename $f .cu).o" & pids+=($!)
  done
  test_flags="$test_flags -DKVATTN_PREFILL_BASELINE_BENCH"
fi
$NVCC $test_flags -c tests/gpu/test_prefill_kernel.cu -o "$out/test.o" & pids+=($!)
g++ -std=c++17 -O2 -Iinclude -Isrc -c src/core/tensor.cpp -o "$out/tensor.o"
for p in "${pids[@]}"; do wait $p; done
objs=("$out"/*.o)
[ -n "$BASELINE" ] && objs+=("$out"/base/*.o)
nvcc $gen "${objs[@]}" -o "$out/prefill_test" -Xcompiler -static-libstdc++ -Xcompiler -static-libgcc
