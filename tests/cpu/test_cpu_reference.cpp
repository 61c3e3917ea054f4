// Self-checks of the float64 reference and its codecs against values worked
// out by hand, so a reference bug cannot hide behind agreeing backends.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "reference/ref_attention.h"
#include "reference/ref_formats.h"
#include "reference/ref_merge.h"

namespace kvref {
namespace {

TEST(CpuReferenceFormats, KnownCodes) {
  EXPECT_EQ(decode_bits(Format::kE4M3, 0x7e), 448.0);
  EXPECT_EQ(decode_bits(Format::kE4M3, 0x01), std::ldexp(1.0, -9));
  EXPECT_EQ(decode_bits(Format::kE4M3, 0x08), std::ldexp(1.0, -6));
  EXPECT_EQ(decode_bits(Format::kE4M3, 0x38), 1.0);
  EXPECT_EQ(decode_bits(Format::kE4M3, 0xb8), -1.0);
  EXPECT_TRUE(std::isnan(decode_bits(Format::kE4M3, 0x7f)));
  EXPECT_TRUE(std::isnan(decode_bits(Format::kE4M3, 0xff)));
  EXPECT_EQ(decode_bits(Format::kE4M3, 0x78), 256.0);  // exponent all ones is a normal binade in e4m3fn
  EXPECT_EQ(decode_bits(Format::kE5M2, 0x7b), 57344.0);
  EXPECT_EQ(decode_bits(Format::kE5M2, 0x01), std::ldexp(1.0, -16));
  EXPECT_EQ(decode_bits(Format::kE5M2, 0x3c), 1.0);
  EXPECT_EQ(decode_bits(Format::kE5M2, 0x7c), std::numeric_limits<double>::infinity());
  EXPECT_EQ(decode_bits(Format::kE5M2, 0xfc), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(decode_bits(Format::kE5M2, 0x7d)));
  EXPECT_EQ(decode_bits(Format::kBF16, 0x3f80), 1.0);
  EXPECT_EQ(decode_bits(Format::kBF16, 0xc040), -3.0);
  EXPECT_EQ(decode_bits(Format::kF16, 0x3c00), 1.0);
  EXPECT_EQ(decode_bits(Format::kF16, 0x7bff), 65504.0);
  EXPECT_EQ(decode_bits(Format::kF16, 0x0001), std::ldexp(1.0, -24));
}

TEST(CpuReferenceFormats, RoundTripEveryCode) {
  for (Format f : {Format::kE4M3, Format::kE5M2, Format::kF16, Format::kBF16}) {
    const uint32_t codes = 1u << (8 * format_bytes(f));
    for (uint32_t code = 0; code < codes; ++code) {
      const double v = decode_bits(f, code);
      if (std::isnan(v)) continue;
      ASSERT_EQ(encode_bits(f, v, false), code) << format_name(f) << " code " << code << " value " << v;
    }
  }
}

TEST(CpuReferenceFormats, RoundingTiesSaturationAndOverflow) {
  EXPECT_EQ(encode_bits(Format::kE4M3, 1.0625, false), 0x38u);  // tie between 1 and 1.125 -> even (1)
  EXPECT_EQ(encode_bits(Format::kE4M3, 1.1875, false), 0x3au);  // tie between 1.125 and 1.25 -> even (1.25)
  EXPECT_EQ(encode_bits(Format::kE4M3, std::ldexp(1.0, -10), false), 0x00u);  // half the smallest subnormal -> 0
  EXPECT_EQ(encode_bits(Format::kE4M3, std::ldexp(3.0, -10), false), 0x02u);  // 1.5 ulps -> even (2)
  EXPECT_EQ(encode_bits(Format::kE4M3, -std::ldexp(1.0, -12), false), 0x80u);  // -0
  EXPECT_EQ(encode_bits(Format::kE4M3, 464.0, false), 0x7eu);   // tie 448/480 -> 448
  EXPECT_EQ(encode_bits(Format::kE4M3, 470.0, false), 0x7fu);   // overflow -> NaN
  EXPECT_EQ(encode_bits(Format::kE4M3, 470.0, true), 0x7eu);    // saturates
  EXPECT_EQ(encode_bits(Format::kE4M3, -1e9, true), 0xfeu);
  EXPECT_EQ(encode_bits(Format::kE4M3, -std::numeric_limits<double>::infinity(), true), 0xfeu);
  EXPECT_EQ(encode_bits(Format::kE5M2, 61440.0, false), 0x7cu);  // tie 57344/65536 -> even -> inf
  EXPECT_EQ(encode_bits(Format::kE5M2, 61439.0, false), 0x7bu);
  EXPECT_EQ(encode_bits(Format::kE5M2, 1e9, true), 0x7bu);
  EXPECT_EQ(encode_bits(Format::kE5M2, std::numeric_limits<double>::infinity(), false), 0x7cu);
  EXPECT_TRUE(std::isnan(decode_bits(Format::kE5M2, encode_bits(Format::kE5M2, NAN, true))));
  EXPECT_TRUE(std::isnan(decode_bits(Format::kE4M3, encode_bits(Format::kE4M3, NAN, true))));
  EXPECT_EQ(encode_bits(Format::kF16, 65520.0, false), 0x7c00u);  // tie -> inf
  EXPECT_EQ(encode_bits(Format::kBF16, 1.0 + std::ldexp(1.0, -8), false), 0x3f80u);  // tie -> even
  EXPECT_EQ(encode_bits(Format::kBF16, 1.0 + std::ldexp(3.0, -8), false), 0x3f82u);  // tie -> even (up)
}

// One query row over a contiguous bf16 sequence; returns out (D = 2 values packed in
// a D=64 head whose other entries are zero) and LSE.
struct TinyAttention {
  std::vector<uint16_t> q, k, v;
  std::vector<int32_t> cu_q, cu_k;
  RefAttentionInput in;
  TinyAttention(int q_len, int kv_len) : q(q_len * 64, 0), k(kv_len * 64, 0), v(kv_len * 64, 0), cu_q{0, q_len}, cu_k{0, kv_len} {
    in.batch = 1;
    in.num_q_heads = in.num_kv_heads = 1;
    in.head_dim = 64;
    in.cu_seqlens_q = cu_q.data();
    in.cu_seqlens_k = cu_k.data();
    in.q = q.data();
    in.k = k.data();
    in.v = v.data();
    in.q_stride_token = in.k_stride_token = in.v_stride_token = 64;
    in.q_stride_head = in.k_stride_head = in.v_stride_head = 64;
    in.softmax_scale = 1.0;
  }
  static uint16_t bf(double x) { return static_cast<uint16_t>(encode_bits(Format::kBF16, x, false)); }
};

TEST(CpuReferenceAttention, TwoKeysClosedForm) {
  TinyAttention t(1, 2);
  t.q[0] = TinyAttention::bf(1.0);
  t.k[0] = TinyAttention::bf(2.0);        // s0 = 2
  t.k[64] = TinyAttention::bf(-1.0);      // s1 = -1
  t.v[0] = TinyAttention::bf(3.0);
  t.v[64 + 1] = TinyAttention::bf(5.0);
  const RefAttentionResult r = reference_attention(t.in);
  const double p0 = std::exp(2.0) / (std::exp(2.0) + std::exp(-1.0));
  EXPECT_NEAR(r.out[0], 3.0 * p0, 1e-12);
  EXPECT_NEAR(r.out[1], 5.0 * (1 - p0), 1e-12);
  EXPECT_NEAR(r.lse[0], std::log(std::exp(2.0) + std::exp(-1.0)), 1e-12);
}

TEST(CpuReferenceAttention, SinkSoftcapAndDescales) {
  TinyAttention t(1, 1);
  t.q[0] = TinyAttention::bf(2.0);
  t.k[0] = TinyAttention::bf(1.5);  // raw dot 3
  t.v[0] = TinyAttention::bf(4.0);
  const float sink = 0.5f;
  const float k_descale = 2.0f, v_descale = 0.25f;
  t.in.sinks = &sink;
  t.in.k_descale = {&k_descale, 0, 0};
  t.in.v_descale = {&v_descale, 0, 0};
  t.in.softcap = 5.0;
  t.in.softmax_scale = 0.5;
  const RefAttentionResult r = reference_attention(t.in);
  const double s = 5.0 * std::tanh(3.0 * 0.5 * 2.0 / 5.0);
  const double p = std::exp(s) / (std::exp(s) + std::exp(0.5));
  EXPECT_NEAR(r.out[0], 4.0 * 0.25 * p, 1e-12);
  EXPECT_NEAR(r.lse[0], std::log(std::exp(s) + std::exp(0.5)), 1e-12);
}

TEST(CpuReferenceAttention, BottomRightCausalAndWindow) {
  // q_len 3, kv_len 5: off = 2, row i sees keys j <= i + 2 (causal);
  // with left window 1, also j >= i + 1.
  TinyAttention t(3, 5);
  t.in.causal = true;
  RefAttentionResult r = reference_attention(t.in);
  EXPECT_EQ(r.keys_seen[0], 3);
  EXPECT_EQ(r.keys_seen[1], 4);
  EXPECT_EQ(r.keys_seen[2], 5);
  t.in.window_left = 1;
  r = reference_attention(t.in);
  EXPECT_EQ(r.keys_seen[0], 2);
  EXPECT_EQ(r.keys_seen[2], 2);
  // q_len > kv_len: 4 queries on 2 keys, causal: rows 0, 1 see nothing.
  TinyAttention u(4, 2);
  u.in.causal = true;
  r = reference_attention(u.in);
  EXPECT_EQ(r.keys_seen[0], 0);
  EXPECT_EQ(r.lse[0], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.keys_seen[1], 0);
  EXPECT_EQ(r.keys_seen[2], 1);
  EXPECT_EQ(r.keys_seen[3], 2);
}

TEST(CpuReferenceMerge, InfinitiesAndWeights) {
  const float op[2] = {1.0f, 10.0f}, os[2] = {3.0f, 20.0f};
  const float lp[2] = {0.0f, std::numeric_limits<float>::infinity()};
  const float ls[2] = {std::log(3.0f), -std::numeric_limits<float>::infinity()};
  RefMergeInput in;
  in.num_tokens = 2;
  in.num_heads = 1;
  in.head_dim = 1;
  in.format = Format::kF32;
  in.prefix = op;
  in.suffix = os;
  in.prefix_stride_token = in.suffix_stride_token = 1;
  in.prefix_stride_head = in.suffix_stride_head = 1;
  in.prefix_lse = lp;
  in.suffix_lse = ls;
  in.prefix_lse_stride_token = in.suffix_lse_stride_token = 1;
  const RefMergeResult r = reference_merge(in);
  EXPECT_NEAR(r.out[0], (1.0 * 1 + 3.0 * 3) / 4.0, 1e-6);
  EXPECT_NEAR(r.lse[0], std::log(4.0), 1e-6);
  EXPECT_EQ(r.out[1], 0.0);  // +inf counts as -inf: both empty
  EXPECT_EQ(r.lse[1], -std::numeric_limits<double>::infinity());
}

}  // namespace
}  // namespace kvref
