// Device-side data generation and output scans (bench/gpu/fill.cu).
#pragma once
#include <cstdint>

#include <cuda_runtime.h>

#include "kvattn/tensor.h"

namespace kvattn_bench {

// dst[i] = convert(scale * hash_normal(seed, i)) for i < count; dtype bf16,
// fp16, e4m3 or e5m2 (fp8 saturating, round to nearest even). Asynchronous.
void fill_normal_device(void* dst, kvattn::DType dtype, int64_t count, uint64_t seed, float scale, cudaStream_t stream);

// Number of NaN/inf values among `count` bf16 values (synchronizes `stream`).
int64_t count_nonfinite_bf16_device(const void* values, int64_t count, cudaStream_t stream);

}  // namespace kvattn_bench
