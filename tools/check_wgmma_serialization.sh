#!/usr/bin/env bash
# Fails when ptxas reports that it serialized the WGMMAs of a Hopper kernel
# (C7510-C7520 "Potential Performance Loss: wgmma.mma_async instructions are
# serialized ..."): the kernel still computes the right result, ~2x slower, so
# no correctness test can see it. Compiles one translation unit to a cubin
# (device code only, about a minute on one core) with the library's flags.
#
#   tools/check_wgmma_serialization.sh NVCC CUTLASS_DIR SOURCE [extra nvcc flags...]
# Registered as a ctest (hopper_wgmma_not_serialized) when the Hopper kernels are built.
set -uo pipefail
nvcc="$1" cutlass="$2" src="$3"
shift 3
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$nvcc" -cubin -gencode=arch=compute_90a,code=sm_90a -O3 -DNDEBUG --expt-relaxed-constexpr -std=c++17 \
  -DKVATTN_HAVE_CUTLASS=1 -DKVATTN_HAVE_HOPPER_KERNELS=1 -DKVATTN_WITH_CUDA=1 \
  -I"$root/include" -I"$root/src" -isystem "$cutlass/include" -Xptxas=-v "$@" \
  -o "$out/kernel.cubin" "$src" >"$out/ptxas.log" 2>&1
rc=$?
if [ "$rc" != 0 ]; then
  cat "$out/ptxas.log"
  echo "FAIL: nvcc exited with $rc"
  exit 1
fi
if grep -E "wgmma.mma_async instructions are serialized" "$out/ptxas.log"; then
  echo "FAIL: ptxas serialized WGMMAs in $src (see the lines above)"
  exit 1
fi
kernels=$(grep -c "Compiling entry function" "$out/ptxas.log")
echo "ok: $kernels kernels of $(basename "$src"), no serialized WGMMA"
