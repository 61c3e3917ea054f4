// FP8 and 16-bit codecs (include/kvattn/fp8.h) against independent models
// written here: a field decoder built on std::ldexp and a brute-force nearest
// encoder over all finite codes (docs/semantics.md S5).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <vector>

#include "kvattn/fp8.h"

namespace {

struct Format {
  const char* name;
  int exp_bits;
  int mant_bits;
  int bias;
  bool has_inf;  // e5m2: IEEE-like; e4m3fn: only S.1111.111 is NaN
};

// gtest prints parameters with this instead of their raw bytes.
void PrintTo(const Format& f, std::ostream* os) { *os << f.name; }

constexpr Format kE4M3{"e4m3fn", 4, 3, 7, false};
constexpr Format kE5M2{"e5m2", 5, 2, 15, true};

// Independent decoder: reads the sign/exponent/mantissa fields and evaluates
// them with ldexp in double.
double model_decode(const Format& f, uint8_t code) {
  const int sign = code >> 7;
  const int exponent = (code >> f.mant_bits) & ((1 << f.exp_bits) - 1);
  const int mantissa = code & ((1 << f.mant_bits) - 1);
  const int max_exp = (1 << f.exp_bits) - 1;
  double magnitude;
  if (f.has_inf && exponent == max_exp) {
    magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity() : std::nan("");
  } else if (!f.has_inf && exponent == max_exp && mantissa == (1 << f.mant_bits) - 1) {
    magnitude = std::nan("");
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<double>(mantissa), 1 - f.bias - f.mant_bits);
  } else {
    magnitude = std::ldexp(1.0 + std::ldexp(static_cast<double>(mantissa), -f.mant_bits), exponent - f.bias);
  }
  return sign ? -magnitude : magnitude;
}

float decode(const Format& f, uint8_t code) {
  return f.has_inf ? kvattn::fp8::e5m2_to_float(code) : kvattn::fp8::e4m3_to_float(code);
}

uint8_t encode(const Format& f, float x, bool saturate) {
  return f.has_inf ? kvattn::fp8::float_to_e5m2(x, saturate) : kvattn::fp8::float_to_e4m3(x, saturate);
}

bool model_is_nan_code(const Format& f, uint8_t code) { return std::isnan(model_decode(f, code)); }

// Brute-force encoder: the nearest finite code, ties to the even code; the
// first step past max stands for "overflow" and takes part in the rounding
// with the parity of the code it would have (e4m3fn: 0x7f, odd; e5m2: 0x7c, even).
uint8_t model_encode(const Format& f, float x, bool saturate) {
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const uint8_t max_code = f.has_inf ? 0x7b : 0x7e;
  const uint8_t overflow_code = f.has_inf ? 0x7c : 0x7f;
  const uint8_t nan_code = f.has_inf ? 0x7e : 0x7f;
  const uint8_t overflow_result = saturate ? max_code : overflow_code;
  if (std::isnan(x)) return sign | nan_code;
  const double a = std::fabs(static_cast<double>(x));
  if (std::isinf(a)) return sign | overflow_result;
  const double max_value = model_decode(f, max_code);
  const double overflow_value = max_value + (max_value - model_decode(f, max_code - 1));
  if (a >= overflow_value) return sign | overflow_result;  // also avoids ties lost to double rounding
  int best = -1;
  double best_dist = 0.0;
  for (int code = 0; code <= overflow_code; ++code) {
    const double value = code == overflow_code ? overflow_value : model_decode(f, static_cast<uint8_t>(code));
    const double dist = std::fabs(value - a);
    if (best < 0 || dist < best_dist || (dist == best_dist && (code % 2) == 0)) {
      best = code;
      best_dist = dist;
    }
  }
  if (best == overflow_code) return sign | overflow_result;
  return static_cast<uint8_t>(sign | best);
}

float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

uint32_t to_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

class Fp8Codec : public ::testing::TestWithParam<Format> {};

TEST_P(Fp8Codec, DecodesAll256CodesLikeTheFieldModel) {
  const Format& f = GetParam();
  for (int c = 0; c < 256; ++c) {
    const uint8_t code = static_cast<uint8_t>(c);
    const double expected = model_decode(f, code);
    const float got = decode(f, code);
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(got)) << f.name << " code " << c;
    } else {
      EXPECT_EQ(static_cast<double>(got), expected) << f.name << " code " << c;
      EXPECT_EQ(std::signbit(got), std::signbit(expected)) << f.name << " code " << c;
    }
  }
}

TEST_P(Fp8Codec, DispatcherMatchesFormatFunctions) {
  const Format& f = GetParam();
  const kvattn::DType dtype = f.has_inf ? kvattn::DType::kFloat8E5M2 : kvattn::DType::kFloat8E4M3;
  for (int c = 0; c < 256; ++c) {
    const float a = decode(f, static_cast<uint8_t>(c));
    const float b = kvattn::fp8::decode(dtype, static_cast<uint8_t>(c));
    EXPECT_EQ(to_bits(a), to_bits(b)) << c;
  }
  for (float x : {0.0f, -1.5f, 3.14159f, 1e6f, -1e-7f}) {
    EXPECT_EQ(kvattn::fp8::encode(dtype, x, true), encode(f, x, true)) << x;
    EXPECT_EQ(kvattn::fp8::encode(dtype, x, false), encode(f, x, false)) << x;
  }
}

TEST_P(Fp8Codec, RoundTripsEveryNonNanCode) {
  const Format& f = GetParam();
  for (int c = 0; c < 256; ++c) {
    const uint8_t code = static_cast<uint8_t>(c);
    if (model_is_nan_code(f, code)) continue;
    // Infinities round-trip only without saturation (saturation maps them to max).
    EXPECT_EQ(encode(f, decode(f, code), false), code) << f.name << " code " << c;
    if (!std::isinf(decode(f, code))) {
      EXPECT_EQ(encode(f, decode(f, code), true), code) << f.name << " code " << c;
    }
  }
}

// Midpoints between neighbouring codes (ties), quarter points, and the values
// one float ulp either side of every midpoint.
TEST_P(Fp8Codec, EncodesTiesAndNeighboursLikeBruteForce) {
  const Format& f = GetParam();
  const uint8_t max_code = f.has_inf ? 0x7b : 0x7e;
  for (int c = 0; c < max_code; ++c) {
    const double lo = model_decode(f, static_cast<uint8_t>(c));
    const double hi = model_decode(f, static_cast<uint8_t>(c + 1));
    const float mid = static_cast<float>((lo + hi) / 2);  // exact: fp8 values are coarse
    ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
    for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f), static_cast<float>(lo + (hi - lo) / 4),
                    static_cast<float>(lo + 3 * (hi - lo) / 4)}) {
      for (bool saturate : {false, true}) {
        EXPECT_EQ(encode(f, x, saturate), model_encode(f, x, saturate)) << f.name << " x=" << x;
        EXPECT_EQ(encode(f, -x, saturate), model_encode(f, -x, saturate)) << f.name << " x=" << -x;
      }
    }
  }
}

TEST_P(Fp8Codec, EncodesRandomFloatsLikeBruteForce) {
  const Format& f = GetParam();
  std::mt19937 rng(1234);
  // Log-uniform magnitudes spanning underflow to overflow, plus raw bit patterns.
  std::uniform_real_distribution<float> log2_mag(-30.0f, 20.0f);
  std::uniform_int_distribution<uint32_t> any_bits;
  for (int i = 0; i < 20000; ++i) {
    float x = std::exp2(log2_mag(rng));
    if (i % 2) x = -x;
    const float y = from_bits(any_bits(rng));
    for (float v : {x, y}) {
      for (bool saturate : {false, true}) {
        const uint8_t got = encode(f, v, saturate);
        const uint8_t want = model_encode(f, v, saturate);
        if (std::isnan(v)) {
          EXPECT_TRUE(model_is_nan_code(f, got)) << v;
        } else {
          ASSERT_EQ(got, want) << f.name << " x=" << v << " saturate=" << saturate;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fp8Formats, Fp8Codec, ::testing::Values(kE4M3, kE5M2),
                         [](const ::testing::TestParamInfo<Format>& info) {
                           return std::string(info.param.has_inf ? "E5M2" : "E4M3");
                         });

using kvattn::fp8::float_to_e4m3;
using kvattn::fp8::float_to_e5m2;

TEST(Fp8E4M3, ExplicitValues) {
  EXPECT_EQ(float_to_e4m3(0.0f, true), 0x00);
  EXPECT_EQ(float_to_e4m3(-0.0f, true), 0x80);
  EXPECT_EQ(float_to_e4m3(1.0f, true), 0x38);
  EXPECT_EQ(float_to_e4m3(448.0f, false), 0x7e);
  EXPECT_EQ(float_to_e4m3(-448.0f, false), 0xfe);
  // Ties to even: 1 + 1/16 lies between 1 (0x38, even) and 1.125 (0x39).
  EXPECT_EQ(float_to_e4m3(1.0625f, true), 0x38);
  // 1.1875 lies between 1.125 (0x39) and 1.25 (0x3a, even).
  EXPECT_EQ(float_to_e4m3(1.1875f, true), 0x3a);
  // Subnormals: m * 2^-9, exact; ties between them go to even.
  EXPECT_EQ(float_to_e4m3(std::ldexp(1.0f, -9), true), 0x01);
  EXPECT_EQ(float_to_e4m3(std::ldexp(7.0f, -9), true), 0x07);
  EXPECT_EQ(float_to_e4m3(std::ldexp(2.5f, -9), true), 0x02);
  EXPECT_EQ(float_to_e4m3(std::ldexp(3.5f, -9), true), 0x04);
  EXPECT_EQ(float_to_e4m3(std::ldexp(0.5f, -9), true), 0x00);  // half the smallest: tie to 0
  EXPECT_EQ(float_to_e4m3(std::ldexp(0.5f, -9) * 1.0001f, true), 0x01);
  EXPECT_EQ(float_to_e4m3(-std::ldexp(0.25f, -9), true), 0x80);  // underflow keeps the sign
  EXPECT_EQ(float_to_e4m3(std::ldexp(7.5f, -9), true), 0x08);    // rounds up into the min normal 2^-6
  // Overflow boundary: 464 is the tie between 448 and (absent) 480 -> even -> 448.
  EXPECT_EQ(float_to_e4m3(464.0f, false), 0x7e);
  EXPECT_EQ(float_to_e4m3(std::nextafter(464.0f, 1e9f), false), 0x7f);
  EXPECT_EQ(float_to_e4m3(std::nextafter(464.0f, 1e9f), true), 0x7e);
  EXPECT_EQ(float_to_e4m3(-500.0f, false), 0xff);
  EXPECT_EQ(float_to_e4m3(-500.0f, true), 0xfe);
  EXPECT_EQ(float_to_e4m3(3.0e38f, true), 0x7e);
  EXPECT_EQ(float_to_e4m3(std::numeric_limits<float>::infinity(), true), 0x7e);
  EXPECT_EQ(float_to_e4m3(-std::numeric_limits<float>::infinity(), true), 0xfe);
  EXPECT_EQ(float_to_e4m3(std::numeric_limits<float>::infinity(), false), 0x7f);
  EXPECT_EQ(float_to_e4m3(std::numeric_limits<float>::quiet_NaN(), true) & 0x7f, 0x7f);
  EXPECT_EQ(float_to_e4m3(std::numeric_limits<float>::quiet_NaN(), false) & 0x7f, 0x7f);
  EXPECT_EQ(float_to_e4m3(std::numeric_limits<float>::denorm_min(), true), 0x00);
  EXPECT_TRUE(std::isnan(kvattn::fp8::e4m3_to_float(0x7f)));
  EXPECT_TRUE(std::isnan(kvattn::fp8::e4m3_to_float(0xff)));
  EXPECT_EQ(kvattn::fp8::e4m3_to_float(0x7e), kvattn::fp8::kE4M3Max);
}

TEST(Fp8E5M2, ExplicitValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(float_to_e5m2(0.0f, true), 0x00);
  EXPECT_EQ(float_to_e5m2(-0.0f, false), 0x80);
  EXPECT_EQ(float_to_e5m2(1.0f, true), 0x3c);
  EXPECT_EQ(float_to_e5m2(57344.0f, false), 0x7b);
  // Ties to even: 1.125 lies between 1 (0x3c, even) and 1.25 (0x3d).
  EXPECT_EQ(float_to_e5m2(1.125f, true), 0x3c);
  EXPECT_EQ(float_to_e5m2(1.375f, true), 0x3e);
  // Subnormals: m * 2^-16.
  EXPECT_EQ(float_to_e5m2(std::ldexp(1.0f, -16), true), 0x01);
  EXPECT_EQ(float_to_e5m2(std::ldexp(3.0f, -16), true), 0x03);
  EXPECT_EQ(float_to_e5m2(std::ldexp(1.5f, -16), true), 0x02);
  EXPECT_EQ(float_to_e5m2(std::ldexp(2.5f, -16), true), 0x02);
  EXPECT_EQ(float_to_e5m2(std::ldexp(0.5f, -16), true), 0x00);
  EXPECT_EQ(float_to_e5m2(std::ldexp(3.5f, -16), true), 0x04);  // min normal 2^-14
  // Overflow boundary: 61440 is the tie between 57344 (odd mantissa) and 65536 -> inf.
  EXPECT_EQ(float_to_e5m2(std::nextafter(61440.0f, 0.0f), false), 0x7b);
  EXPECT_EQ(float_to_e5m2(61440.0f, false), 0x7c);
  EXPECT_EQ(float_to_e5m2(61440.0f, true), 0x7b);
  EXPECT_EQ(float_to_e5m2(-1e6f, false), 0xfc);
  EXPECT_EQ(float_to_e5m2(-1e6f, true), 0xfb);
  EXPECT_EQ(float_to_e5m2(inf, false), 0x7c);
  EXPECT_EQ(float_to_e5m2(-inf, false), 0xfc);
  EXPECT_EQ(float_to_e5m2(inf, true), 0x7b);
  EXPECT_EQ(float_to_e5m2(-inf, true), 0xfb);
  EXPECT_TRUE(std::isnan(kvattn::fp8::e5m2_to_float(float_to_e5m2(std::nanf(""), true))));
  EXPECT_TRUE(std::isnan(kvattn::fp8::e5m2_to_float(float_to_e5m2(-std::nanf(""), false))));
  EXPECT_EQ(kvattn::fp8::e5m2_to_float(0x7c), inf);
  EXPECT_EQ(kvattn::fp8::e5m2_to_float(0xfc), -inf);
  for (int c : {0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff}) EXPECT_TRUE(std::isnan(kvattn::fp8::e5m2_to_float(c))) << c;
  EXPECT_EQ(kvattn::fp8::e5m2_to_float(0x7b), kvattn::fp8::kE5M2Max);
}

// ---- 16-bit helpers -------------------------------------------------------

using kvattn::half_bits::bf16_to_float;
using kvattn::half_bits::float_to_bf16;
using kvattn::half_bits::float_to_fp16;
using kvattn::half_bits::fp16_to_float;

TEST(Fp8HalfHelpers, Bf16) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_bf16(-0.0f), 0x8000);
  // Ties: 1 + 2^-8 is halfway between 1 (even) and 1 + 2^-7 -> 1.
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even) -> up.
  EXPECT_EQ(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(float_to_bf16(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)), 0x3f81);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds to inf
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(from_bits(0x7f800001u)))));  // payload only in low bits
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float x = bf16_to_float(static_cast<uint16_t>(h));
    if (std::isnan(x)) continue;
    ASSERT_EQ(float_to_bf16(x), h);
    ASSERT_EQ(to_bits(x), h << 16);
  }
}

TEST(Fp8HalfHelpers, Fp16) {
  EXPECT_EQ(float_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(float_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_fp16(65519.99f), 0x7bff);
  EXPECT_EQ(float_to_fp16(65520.0f), 0x7c00);  // tie with odd max -> inf
  EXPECT_EQ(float_to_fp16(-1e9f), 0xfc00);
  // Ties: 1 + 2^-11 -> 1 (even); 1 + 3 * 2^-11 -> 1 + 2^-9.
  EXPECT_EQ(float_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(float_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  // Subnormals m * 2^-24, ties to even, and the min normal 2^-14.
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(float_to_fp16(std::ldexp(0.5f, -24)), 0x0000);
  EXPECT_EQ(float_to_fp16(std::ldexp(1.5f, -24)), 0x0002);
  EXPECT_EQ(float_to_fp16(std::ldexp(2.5f, -24)), 0x0002);
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_EQ(float_to_fp16(std::ldexp(1023.5f, -24)), 0x0400);  // rounds up into the min normal
  EXPECT_EQ(fp16_to_float(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fp16_to_float(0x7e00)));
  EXPECT_TRUE(std::isnan(fp16_to_float(float_to_fp16(std::nanf("")))));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t code = static_cast<uint16_t>(h);
    const float x = fp16_to_float(code);
    const int exponent = (h >> 10) & 0x1f;
    const int mantissa = h & 0x3ff;
    if (exponent == 0x1f && mantissa) {
      ASSERT_TRUE(std::isnan(x)) << h;
      continue;
    }
    // Independent value of the code.
    double expected = exponent == 0x1f ? std::numeric_limits<double>::infinity()
                      : exponent == 0  ? std::ldexp(static_cast<double>(mantissa), -24)
                                       : std::ldexp(1024.0 + mantissa, exponent - 25);
    if (h & 0x8000) expected = -expected;
    ASSERT_EQ(static_cast<double>(x), expected) << h;
    ASSERT_EQ(float_to_fp16(x), code) << h;
  }
}

}  // namespace
