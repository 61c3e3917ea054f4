// Float64 reference of varlen attention (docs/semantics.md S1-S4): naive loops
// over plain host buffers, addressed from this file's own description struct.
#pragma once
#include <cstdint>
#include <vector>

#include "reference/ref_formats.h"

namespace kvref {

// Per-(sequence, kv-head) fp32 scale; data == nullptr means 1.0.
struct RefScale {
  const float* data = nullptr;
  int64_t stride_b = 0;
  int64_t stride_h = 0;
  double at(int64_t b, int64_t h) const { return data ? static_cast<double>(data[b * stride_b + h * stride_h]) : 1.0; }
};

struct RefAttentionInput {
  int batch = 0;
  int num_q_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  const int32_t* cu_seqlens_q = nullptr;  // [batch + 1]

  Format q_format = Format::kBF16;
  const void* q = nullptr;  // element (t, h, d) at q[t * q_stride_token + h * q_stride_head + d]
  int64_t q_stride_token = 0, q_stride_head = 0;

  Format kv_format = Format::kBF16;
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t k_stride_block = 0, k_stride_token = 0, k_stride_head = 0;
  int64_t v_stride_block = 0, v_stride_token = 0, v_stride_head = 0;
  bool paged = false;
  // Paged: kv_len = seqused_k[b]; position pos lives in physical block
  // block_table[b * block_table_stride + pos / page_size] at row pos % page_size.
  int page_size = 0;
  const int32_t* seqused_k = nullptr;
  const int32_t* block_table = nullptr;
  int64_t block_table_stride = 0;
  // Contiguous: kv_len = cu_seqlens_k[b+1] - cu_seqlens_k[b]; row cu_seqlens_k[b] + pos.
  const int32_t* cu_seqlens_k = nullptr;

  RefScale q_descale, k_descale, v_descale;
  double softmax_scale = 0.0;  // 0 = 1/sqrt(head_dim)
  double softcap = 0.0;
  bool causal = false;
  int window_left = -1;
  int window_right = -1;

  const void* sinks = nullptr;  // [num_q_heads] elements of sinks_format, or nullptr
  Format sinks_format = Format::kF32;
  int64_t sinks_stride = 1;
};

struct RefAttentionResult {
  int64_t total_q = 0;  // cu_seqlens_q[batch]
  int num_q_heads = 0;
  int head_dim = 0;
  // out[(t * Hq + h) * D + d]: exact output before the cast to q's dtype.
  std::vector<double> out;
  // out_magnitude[...] = v_descale * sum_j p_j |v_j[d]|: the scale against which
  // rounding P (or accumulating P.V) in lower precision makes errors.
  std::vector<double> out_magnitude;
  // lse[h * total_q + t]; -inf for rows that see no key.
  std::vector<double> lse;
  std::vector<int> keys_seen;  // [h * total_q + t]: number of visible keys

  int64_t out_index(int64_t t, int h, int d) const { return (t * num_q_heads + h) * head_dim + d; }
  int64_t row_index(int h, int64_t t) const { return static_cast<int64_t>(h) * total_q + t; }
};

RefAttentionResult reference_attention(const RefAttentionInput& in);

}  // namespace kvref
