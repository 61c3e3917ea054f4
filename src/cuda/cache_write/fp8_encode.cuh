// Saturating quantization fp32 -> fp8 for the cache write (docs/semantics.md
// S5, S6): code = enc(x / scale), the division in fp32 (IEEE, round to nearest),
// enc rounding to nearest even, finite overflow and +-inf clamped to +-max.
// On sm_89+ cuda_fp8.h maps enc to cvt.rn.satfinite.{e4m3,e5m2}x2.f32 (two
// values per instruction); on sm_80 it uses its exact software path.
// NaN: the hardware gives one canonical NaN code; we write the NaN code of
// kvattn/fp8.h instead (0x7f/0xff e4m3fn, 0x7e/0xfe e5m2, the sign of x), so
// the CPU and CUDA backends fill the cache with identical bytes.
#pragma once
#include <cstdint>

#include <cuda_fp8.h>

namespace kvattn {
namespace cuda {

template <bool kE5M2>
__device__ __forceinline__ uint8_t fp8_nan_code(float x) {
  return static_cast<uint8_t>((signbit(x) ? 0x80u : 0u) | (kE5M2 ? 0x7eu : 0x7fu));
}

// Codes of x0 / scale and x1 / scale, packed little-endian (x0's in bits 0..7).
template <bool kE5M2>
__device__ __forceinline__ uint16_t quantize_fp8x2(float x0, float x1, float scale) {
  const float q0 = x0 / scale;
  const float q1 = x1 / scale;
  const uint16_t pair = static_cast<uint16_t>(
      __nv_cvt_float2_to_fp8x2(make_float2(q0, q1), __NV_SATFINITE, kE5M2 ? __NV_E5M2 : __NV_E4M3));
  const uint16_t lo = isnan(q0) ? fp8_nan_code<kE5M2>(x0) : static_cast<uint16_t>(pair & 0xffu);
  const uint16_t hi = isnan(q1) ? fp8_nan_code<kE5M2>(x1) : static_cast<uint16_t>(pair >> 8);
  return static_cast<uint16_t>(lo | (hi << 8));
}

template <bool kE5M2>
__device__ __forceinline__ uint8_t quantize_fp8(float x, float scale) {
  return static_cast<uint8_t>(quantize_fp8x2<kE5M2>(x, 0.0f, scale) & 0xffu);
}

}  // namespace cuda
}  // namespace kvattn
