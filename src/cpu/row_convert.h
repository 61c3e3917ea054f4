// Contiguous row conversions between storage dtypes and float. The dtype
// switch happens once per row; each case is a plain loop the compiler
// vectorizes, so hot loops never dispatch per element.
#pragma once
#include <cstdint>
#include <cstring>

#include "kvattn/fp8.h"
#include "kvattn/tensor.h"

namespace kvattn {
namespace cpu {

// How a stored row decodes to float: 16/32-bit floats by bit conversion, fp8
// through a 256-entry table (cpu/fp8_table.h).
struct RowDecoder {
  DType dtype = DType::kFloat32;
  const float* fp8_table = nullptr;  // set for kFloat8E4M3 / kFloat8E5M2
};

// dst[0..n) = float(src[0..n)).
inline void decode_row(const RowDecoder& dec, const void* src, float* __restrict dst, int64_t n) {
  switch (dec.dtype) {
    case DType::kFloat8E4M3:
    case DType::kFloat8E5M2: {
      const uint8_t* s = static_cast<const uint8_t*>(src);
      const float* table = dec.fp8_table;
      for (int64_t i = 0; i < n; ++i) dst[i] = table[s[i]];
      return;
    }
    case DType::kBFloat16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = half_bits::bf16_to_float(s[i]);
      return;
    }
    case DType::kFloat16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = half_bits::fp16_to_float(s[i]);
      return;
    }
    default:  // kFloat32
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
  }
}

// dst[0..n) = dtype(src[0..n)), rounding to nearest even. dtype: fp32/fp16/bf16.
inline void encode_row(DType dtype, const float* __restrict src, void* dst, int64_t n) {
  switch (dtype) {
    case DType::kBFloat16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = half_bits::float_to_bf16(src[i]);
      return;
    }
    case DType::kFloat16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = half_bits::float_to_fp16(src[i]);
      return;
    }
    default:  // kFloat32
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
  }
}

// One scalar of a 16/32-bit float dtype (for per-head values such as sinks).
inline float load_scalar(DType dtype, const void* base, int64_t index) {
  switch (dtype) {
    case DType::kBFloat16: return half_bits::bf16_to_float(static_cast<const uint16_t*>(base)[index]);
    case DType::kFloat16: return half_bits::fp16_to_float(static_cast<const uint16_t*>(base)[index]);
    default: return static_cast<const float*>(base)[index];
  }
}

}  // namespace cpu
}  // namespace kvattn
