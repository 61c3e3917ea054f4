// What the prefill kernel reads: the problem's pointers and strides plus the
// few values the host resolves once per launch (fast page divisor, log2 scale,
// alignment). Passed by value as the kernel parameter.
#pragma once
#include <cstdint>

#include "core/problem.h"
#include "cuda/common/fast_divmod.h"

namespace kvattn {
namespace cuda {

struct PrefillParams {
  const void* q = nullptr;
  int64_t q_stride_token = 0, q_stride_head = 0;
  void* out = nullptr;
  int64_t out_stride_token = 0, out_stride_head = 0;
  float* lse = nullptr;  // optional
  int64_t lse_stride_head = 0, lse_stride_token = 0;

  // K/V element (pos, kv head, d): see AttentionProblem. Contiguous KV uses row
  // index cu_seqlens_k[b] + pos with k_stride_token and no block.
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t k_stride_block = 0, k_stride_token = 0, k_stride_head = 0;
  int64_t v_stride_block = 0, v_stride_token = 0, v_stride_head = 0;
  bool paged = false;
  FastDivmod page_size;
  const int32_t* block_table = nullptr;
  int64_t block_table_stride = 0;

  const int32_t* cu_seqlens_q = nullptr;
  const int32_t* cu_seqlens_k = nullptr;
  const int32_t* seqused_k = nullptr;

  int num_q_heads = 0;
  int group_size = 1;  // Hq / Hkv

  DescaleView q_descale, k_descale, v_descale;
  float softmax_scale = 1.0f;
  float softcap = 0.0f;
  int window_left = -1, window_right = -1;

  const void* sinks = nullptr;
  DType sinks_dtype = DType::kFloat32;
  int64_t sinks_stride = 1;

  bool skip_short_queries = false;  // leave q_len <= kShortQueryMaxLen to the decode family
  bool kv_e5m2 = false;             // fp8 KV format (ignored for 16-bit KV)
  bool aligned16 = true;            // every Q/K/V/out row start is 16-byte aligned
};

// Host: the kernel parameters for p.
PrefillParams make_prefill_params(const AttentionProblem& p, bool skip_short_queries);

}  // namespace cuda
}  // namespace kvattn
