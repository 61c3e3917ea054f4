#!/bin/bash
# Builds the standalone prefill test. usage: build.sh OUTDIR GENCODE [extra nvcc flags...]
set -e
cd "$(dirname "$0")/../.."
out=$1; gen=$2; shift 2
mkdir -p "$out"
NVCC="nvcc -std=c++17 -O3 -DNDEBUG --expt-relaxed-constexpr -Iinclude -Isrc $gen $*"
pids=()
for f in src/cuda/prefill/*.cu; do
  $NVCC -c $f -o "$out/$(basename $f .cu).o" & pids+=($!)
done
$NVCC -DKVATTN_PREFILL_STANDALONE -DKVATTN_PREFILL_SHAPE_BENCH -c tests/gpu/test_prefill_kernel.cu -o "$out/test.o" & pids+=($!)
g++ -std=c++17 -O2 -Iinclude -Isrc -c src/core/tensor.cpp -o "$out/tensor.o"
for p in "${pids[@]}"; do wait $p; done
nvcc $gen "$out"/*.o -o "$out/prefill_test" -Xcompiler -static-libstdc++ -Xcompiler -static-libgcc
