// The hardware ceilings measured in the same run as the attention timings, so
// the percentages compare like with like (same card, clocks, driver).
#pragma once
#include <cuda_runtime.h>

#include "results.h"

namespace kvattn_bench {

// Device-to-device copy bandwidth (bytes read + written per second).
double measure_copy_tbps(cudaStream_t stream);
// cublasGemmEx, 8192^3, bf16 inputs and output, fp32 compute.
double measure_bf16_gemm_tflops(cudaStream_t stream);
// cublasLtMatmul, 8192^3, e4m3 x e4m3 -> bf16, fp32 compute (A transposed: the
// layout Hopper's fp8 GEMMs require).
double measure_fp8_gemm_tflops(cudaStream_t stream);

// All three; a ceiling that fails is left NaN with a warning on stderr.
Ceilings measure_ceilings(cudaStream_t stream);

}  // namespace kvattn_bench
