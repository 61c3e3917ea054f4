#include "host_data.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>

#include "random.h"

namespace kvattn_bench {

BatchLayout make_layout(const Workload& w, uint64_t seed) {
  const std::vector<SeqLens> seqs = sequences(w);
  BatchLayout l;
  l.batch = static_cast<int64_t>(seqs.size());
  l.cu_seqlens_q.push_back(0);
  for (const SeqLens& s : seqs) {
    const int64_t blocks = (s.kv_len + w.page_size - 1) / w.page_size;
    l.total_q += s.q_len;
    l.num_blocks += blocks;
    l.max_seqlen_q = std::max(l.max_seqlen_q, s.q_len);
    l.max_seqlen_k = std::max(l.max_seqlen_k, s.kv_len);
    l.max_blocks_per_seq = std::max(l.max_blocks_per_seq, blocks);
    l.cu_seqlens_q.push_back(static_cast<int32_t>(l.total_q));
    l.seqused_k.push_back(static_cast<int32_t>(s.kv_len));
  }
  std::vector<int32_t> perm(static_cast<size_t>(l.num_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(perm.begin(), perm.end(), rng);

  l.block_table.assign(static_cast<size_t>(l.batch * l.max_blocks_per_seq), 0);
  size_t next = 0;
  for (int64_t b = 0; b < l.batch; ++b) {
    const int64_t blocks = (seqs[b].kv_len + w.page_size - 1) / w.page_size;
    for (int64_t j = 0; j < blocks; ++j) l.block_table[b * l.max_blocks_per_seq + j] = perm[next++];
  }
  return l;
}

std::vector<float> make_descales(int64_t batch, int num_kv_heads, uint64_t seed) {
  std::vector<float> d(static_cast<size_t>(batch * num_kv_heads));
  for (size_t i = 0; i < d.size(); ++i) d[i] = hash_uniform(seed, i, 0.5f, 2.0f);
  return d;
}

uint16_t float_to_bf16_bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if (std::isnan(x)) return static_cast<uint16_t>((bits >> 16) | 0x0040);  // keep it a quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);                                   // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

float bf16_bits_to_float(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float x;
  std::memcpy(&x, &wide, 4);
  return x;
}

// Both OCP formats as (mantissa bits, exponent bias, largest finite value).
// Codes are laid out so that bits = ((exp - min_exp) << M) + m for the integer
// significand m, which covers subnormals (m < 2^M at min_exp) and normals alike.
uint8_t float_to_fp8_bits(float x, kvattn::DType fp8_dtype) {
  int mant_bits, bias;
  float max_finite;
  if (fp8_dtype == kvattn::DType::kFloat8E4M3) {
    mant_bits = 3, bias = 7, max_finite = 448.0f;
  } else if (fp8_dtype == kvattn::DType::kFloat8E5M2) {
    mant_bits = 2, bias = 15, max_finite = 57344.0f;
  } else {
    throw std::invalid_argument("float_to_fp8_bits: dtype must be float8_e4m3fn or float8_e5m2");
  }
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  if (std::isnan(x)) return sign | 0x7f;  // a NaN code in both formats
  const float a = std::min(std::fabs(x), max_finite);
  if (a == 0.0f) return sign;
  const int min_exp = 1 - bias;
  int e;
  std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1): unbiased exponent e - 1
  int exp = std::max(e - 1, min_exp);
  float m = std::nearbyint(std::ldexp(a, mant_bits - exp));  // ties to even
  if (m >= static_cast<float>(2 << mant_bits)) {             // rounding carried into the next binade
    ++exp;
    m *= 0.5f;
  }
  return sign | static_cast<uint8_t>(((exp - min_exp) << mant_bits) + static_cast<int>(m));
}

void fill_normal_host(void* dst, kvattn::DType dtype, int64_t count, uint64_t seed, float scale) {
  if (dtype == kvattn::DType::kBFloat16) {
    uint16_t* out = static_cast<uint16_t*>(dst);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) out[i] = float_to_bf16_bits(scale * hash_normal(seed, i));
  } else if (dtype == kvattn::DType::kFloat8E4M3 || dtype == kvattn::DType::kFloat8E5M2) {
    uint8_t* out = static_cast<uint8_t*>(dst);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) out[i] = float_to_fp8_bits(scale * hash_normal(seed, i), dtype);
  } else {
    throw std::invalid_argument(std::string("fill_normal_host: unsupported dtype ") + kvattn::dtype_name(dtype));
  }
}

}  // namespace kvattn_bench
