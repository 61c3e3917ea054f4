// Host-side inputs: the batch layout (lengths, random block tables) both runs
// use, and host fills for the CPU run (bf16 / fp8 encoders written here so the
// bench depends on nothing but the public API).
#pragma once
#include <cstdint>
#include <vector>

#include "kvattn/tensor.h"
#include "workloads.h"

namespace kvattn_bench {

// The int32 metadata of one paged batch.
struct BatchLayout {
  int64_t batch = 0;
  int64_t total_q = 0;
  int64_t max_seqlen_q = 0;
  int64_t max_seqlen_k = 0;
  int64_t num_blocks = 0;  // physical blocks: exactly what the sequences use
  int64_t max_blocks_per_seq = 0;
  std::vector<int32_t> cu_seqlens_q;  // [B + 1]
  std::vector<int32_t> seqused_k;     // [B]
  std::vector<int32_t> block_table;   // [B, max_blocks_per_seq]; padding entries are 0
};

// Block ids are a random permutation of [0, num_blocks), as in a cache that has
// been allocated from and freed to for a while.
BatchLayout make_layout(const Workload& w, uint64_t seed);

// Per-(sequence, kv-head) descales, uniform in [0.5, 2], row-major [B, Hkv].
std::vector<float> make_descales(int64_t batch, int num_kv_heads, uint64_t seed);

// Raw-bit encoders (round to nearest even; fp8 saturates to the finite max).
uint16_t float_to_bf16_bits(float x);
float bf16_bits_to_float(uint16_t bits);
uint8_t float_to_fp8_bits(float x, kvattn::DType fp8_dtype);

// Multiplier applied to N(0,1) before fp8 encoding: codes land in the normal
// range of both formats (e4m3: >= 2^-6, max 448), far from saturation.
constexpr float kFp8CodeScale = 4.0f;

// Fills `count` elements of `dtype` (bf16, e4m3 or e5m2) with N(0,1) * scale
// samples of stream `seed`. Parallel (OpenMP).
void fill_normal_host(void* dst, kvattn::DType dtype, int64_t count, uint64_t seed, float scale);

}  // namespace kvattn_bench
