// fp32 <-> fp32/fp16/bf16 element conversions (to fp32 is exact, NaN keeping
// its sign; from fp32 rounds to nearest even, as docs/semantics.md S4 asks of outputs).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace kvattn {
namespace cuda {

__device__ __forceinline__ float to_float(float x) { return x; }
// The hardware conversion may return a canonical (positive) NaN; the cache
// write keeps a NaN's sign (fp8_encode.cuh), so restore it from the fp16 bits.
__device__ __forceinline__ float to_float(__half x) {
  const float f = __half2float(x);
  const unsigned sign = (static_cast<unsigned>(__half_as_ushort(x)) & 0x8000u) << 16;
  return isnan(f) ? __uint_as_float(__float_as_uint(f) | sign) : f;
}
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

}  // namespace cuda
}  // namespace kvattn
