// FP8 (OCP 8-bit floating point v1.0) and 16-bit float codecs, usable from host
// and device code. Pure integer arithmetic on the bit patterns: no tables, no
// library calls, so the same functions serve the CPU backend, the tests and
// CUDA kernels. Semantics: docs/semantics.md S5.
//   e4m3fn: bias 7, no infinities, 0x7f/0xff NaN, max +-448, subnormals m * 2^-9.
//   e5m2:   bias 15, +-inf 0x7c/0xfc, 0x7d..0x7f NaN, max +-57344, subnormals m * 2^-16.
// Encoders round to nearest even (also into the subnormal range and at the
// overflow boundary). A value that rounds above max becomes +-max when
// saturating, else NaN (e4m3fn) or +-inf (e5m2); +-inf saturates to +-max;
// NaN stays NaN (sign kept: 0x7f/0xff for e4m3fn, 0x7e/0xfe for e5m2).
#pragma once
#include <cstdint>
#include <cstring>

#include "kvattn/tensor.h"

#ifndef KVATTN_HOST_DEVICE
#if defined(__CUDACC__)
#define KVATTN_HOST_DEVICE __host__ __device__
#else
#define KVATTN_HOST_DEVICE
#endif
#endif

namespace kvattn {
namespace bits {

KVATTN_HOST_DEVICE inline uint32_t float_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

KVATTN_HOST_DEVICE inline float bits_float(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

// v >> shift (1 <= shift <= 31) rounded to nearest, ties to even.
KVATTN_HOST_DEVICE inline uint32_t shift_right_rne(uint32_t v, uint32_t shift) {
  const uint32_t kept = v >> shift;
  const uint32_t rest = v & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  return kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
}

// Magnitude code (exponent and mantissa fields, no sign) of the finite,
// non-negative float whose bits are `a`, for a format with kMant mantissa bits
// and bias kBias, rounded to nearest even. May exceed the largest finite code
// (the caller decides what overflow means); stays below 2^12 for any float.
template <int kMant, int kBias>
KVATTN_HOST_DEVICE inline uint32_t fp8_magnitude_rne(uint32_t a) {
  const int exponent = static_cast<int>(a >> 23) - 127;  // unbiased; float subnormals land far below
  const int min_normal_exp = 1 - kBias;
  const uint32_t drop = 23u - kMant;  // float mantissa bits that do not fit
  if (exponent >= min_normal_exp) {
    // Re-biasing the exponent field turns the float bits into the fp8 code
    // shifted left by `drop`; rounding the shifted-out bits carries into the
    // exponent naturally.
    return shift_right_rne(a - (static_cast<uint32_t>(127 - kBias) << 23), drop);
  }
  // Subnormal in fp8: value = significand * 2^(exponent - 23), code = value / 2^(min_normal_exp - kMant).
  const uint32_t shift = drop + static_cast<uint32_t>(min_normal_exp - exponent);
  if (shift > 24u) return 0u;  // below half the smallest subnormal (significand < 2^24)
  const uint32_t significand = (a & 0x7fffffu) | 0x800000u;
  return shift_right_rne(significand, shift);  // rounding up to 1 << kMant gives the min normal
}

}  // namespace bits

namespace fp8 {

constexpr float kE4M3Max = 448.0f;
constexpr float kE5M2Max = 57344.0f;

KVATTN_HOST_DEVICE inline float e4m3_to_float(uint8_t code) {
  const uint32_t sign = static_cast<uint32_t>(code & 0x80u) << 24;
  const uint32_t exponent = (code >> 3) & 0xfu;
  const uint32_t mantissa = code & 0x7u;
  if ((code & 0x7fu) == 0x7fu) return bits::bits_float(sign | 0x7fc00000u);  // NaN
  if (exponent == 0) {
    // Subnormal (or zero): mantissa * 2^-9, exact in float.
    return bits::bits_float(sign | bits::float_bits(static_cast<float>(mantissa) * 0.001953125f));
  }
  return bits::bits_float(sign | ((exponent + 120u) << 23) | (mantissa << 20));
}

KVATTN_HOST_DEVICE inline float e5m2_to_float(uint8_t code) {
  const uint32_t sign = static_cast<uint32_t>(code & 0x80u) << 24;
  const uint32_t exponent = (code >> 2) & 0x1fu;
  const uint32_t mantissa = code & 0x3u;
  if (exponent == 0x1fu) return bits::bits_float(sign | (mantissa ? 0x7fc00000u : 0x7f800000u));
  if (exponent == 0) {
    // Subnormal (or zero): mantissa * 2^-16, exact in float.
    return bits::bits_float(sign | bits::float_bits(static_cast<float>(mantissa) * 1.52587890625e-05f));
  }
  return bits::bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 21));
}

KVATTN_HOST_DEVICE inline uint8_t float_to_e4m3(float x, bool saturate) {
  const uint32_t u = bits::float_bits(x);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint8_t>(sign | 0x7fu);                  // NaN
  if (a == 0x7f800000u) return static_cast<uint8_t>(sign | (saturate ? 0x7eu : 0x7fu));  // +-inf
  const uint32_t m = bits::fp8_magnitude_rne<3, 7>(a);
  if (m > 0x7eu) return static_cast<uint8_t>(sign | (saturate ? 0x7eu : 0x7fu));  // rounds above 448
  return static_cast<uint8_t>(sign | m);
}

KVATTN_HOST_DEVICE inline uint8_t float_to_e5m2(float x, bool saturate) {
  const uint32_t u = bits::float_bits(x);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint8_t>(sign | 0x7eu);                  // NaN
  if (a == 0x7f800000u) return static_cast<uint8_t>(sign | (saturate ? 0x7bu : 0x7cu));  // +-inf
  const uint32_t m = bits::fp8_magnitude_rne<2, 15>(a);
  if (m > 0x7bu) return static_cast<uint8_t>(sign | (saturate ? 0x7bu : 0x7cu));  // rounds above 57344
  return static_cast<uint8_t>(sign | m);
}

// Dispatch on the kvattn dtype: kFloat8E5M2 selects e5m2, anything else e4m3fn.
KVATTN_HOST_DEVICE inline float decode(DType dtype, uint8_t code) {
  return dtype == DType::kFloat8E5M2 ? e5m2_to_float(code) : e4m3_to_float(code);
}

KVATTN_HOST_DEVICE inline uint8_t encode(DType dtype, float x, bool saturate) {
  return dtype == DType::kFloat8E5M2 ? float_to_e5m2(x, saturate) : float_to_e4m3(x, saturate);
}

}  // namespace fp8

// IEEE binary16 and bfloat16 <-> float, bit-exact, round to nearest even.
// Branch-light so loops over them vectorize on the host.
namespace half_bits {

KVATTN_HOST_DEVICE inline float bf16_to_float(uint16_t h) {
  return bits::bits_float(static_cast<uint32_t>(h) << 16);
}

KVATTN_HOST_DEVICE inline uint16_t float_to_bf16(float x) {
  const uint32_t u = bits::float_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  // Adding 0x7fff plus the lowest kept bit rounds to nearest even; a carry
  // into the exponent (and up to inf) is the correct result.
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

KVATTN_HOST_DEVICE inline float fp16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  // Normal: re-bias 15 -> 127. Inf/NaN: all-ones exponent. Subnormal: m * 2^-24 (exact).
  const uint32_t normal = ((exponent + 112u) << 23) | (mantissa << 13);
  const uint32_t special = 0x7f800000u | (mantissa << 13);
  const uint32_t subnormal = bits::float_bits(static_cast<float>(mantissa) * 5.9604644775390625e-08f);
  const uint32_t magnitude = exponent == 0x1fu ? special : (exponent == 0 ? subnormal : normal);
  return bits::bits_float(sign | magnitude);
}

KVATTN_HOST_DEVICE inline uint16_t float_to_fp16(float x) {
  const uint32_t u = bits::float_bits(x);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN (quiet)
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65536: inf
  const int exponent = static_cast<int>(a >> 23) - 127;
  if (exponent >= -14) {
    return static_cast<uint16_t>(sign | bits::shift_right_rne(a - (112u << 23), 13));
  }
  const uint32_t shift = 13u + static_cast<uint32_t>(-14 - exponent);
  if (shift > 24u) return sign;  // below half the smallest subnormal
  return static_cast<uint16_t>(sign | bits::shift_right_rne((a & 0x7fffffu) | 0x800000u, shift));
}

}  // namespace half_bits
}  // namespace kvattn
