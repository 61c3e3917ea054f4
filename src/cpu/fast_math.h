// Branch-free exp and tanh for the softmax loops. std::exp/std::tanh are
// library calls the compiler cannot vectorize without -ffast-math; these are
// plain arithmetic so loops over them vectorize. Accuracy: a few float ulp,
// far below the rounding of the 16-bit output.
#pragma once
#include <cstdint>

#include "kvattn/fp8.h"  // bits::float_bits / bits_float

namespace kvattn {
namespace cpu {

// e^x for x <= 88. Returns 0 for x < -87 (below the normal float range, and
// -inf), NaN for NaN.
inline float exp_approx(float x) {
  const float kLog2e = 1.44269504088896341f;
  const float kLn2Hi = 0.693359375f;  // few bits: n * kLn2Hi is exact for |n| < 2^15
  const float kLn2Lo = -2.12194440e-4f;
  const float kRoundMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float t = xc * kLog2e + kRoundMagic;
  const float n = t - kRoundMagic;
  const int32_t ni = static_cast<int32_t>(bits::float_bits(t) - bits::float_bits(kRoundMagic));
  const float r = (xc - n * kLn2Hi) - n * kLn2Lo;  // |r| <= ln2 / 2
  // Taylor series to degree 7: truncation < 6e-9 relative on |r| <= 0.35.
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float two_n = bits::bits_float(static_cast<uint32_t>(ni + 127) << 23);
  return x < -87.0f ? 0.0f : p * two_n;
}

// tanh(y): odd polynomial near 0 (where 1 - e^{-2|y|} would cancel), else
// (1 - e) / (1 + e) with e = e^{-2|y|}.
inline float tanh_approx(float y) {
  const float a = y < 0.0f ? -y : y;
  const float y2 = y * y;
  // Taylor series of tanh to y^11: truncation < 1e-9 relative for |y| < 1/4,
  // where (1 - e) / (1 + e) would lose up to ~1e-7 to cancellation.
  float poly = -1382.0f / 155925.0f;
  poly = poly * y2 + 62.0f / 2835.0f;
  poly = poly * y2 - 17.0f / 315.0f;
  poly = poly * y2 + 2.0f / 15.0f;
  poly = poly * y2 - 1.0f / 3.0f;
  const float small = y + y * y2 * poly;
  const float e = exp_approx(-2.0f * a);
  const float large_abs = (1.0f - e) / (1.0f + e);
  const float large = y < 0.0f ? -large_abs : large_abs;
  return a < 0.25f ? small : large;
}

}  // namespace cpu
}  // namespace kvattn
