// The normalized problem descriptions. Validation (src/core/validate_*.cpp)
// turns the caller's views into these plain structs once; every backend (CPU,
// portable CUDA, Hopper) takes them and nothing else, so no backend parses
// arguments or writes error messages. All strides are in elements, 64-bit.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kvattn/attention.h"
#include "kvattn/tensor.h"

namespace kvattn {

// Per-(sequence, kv-head) fp32 scale; data == nullptr means 1.0.
struct DescaleView {
  const float* data = nullptr;
  int64_t stride_b = 0;
  int64_t stride_h = 0;
#if defined(__CUDACC__)
  __host__ __device__
#endif
  inline float at(int64_t b, int64_t h) const {
    return data ? data[b * stride_b + h * stride_h] : 1.0f;
  }
};

struct AttentionProblem {
  // Sizes.
  int64_t batch = 0;      // B
  int64_t total_q = 0;    // q.shape[0]
  int num_q_heads = 0;    // Hq
  int num_kv_heads = 0;   // Hkv (Hq % Hkv == 0)
  int head_dim = 0;       // D (same for V)
  int64_t max_seqlen_q = 0;  // host upper bounds (validated >= 0)
  int64_t max_seqlen_k = 0;

  DType q_dtype = DType::kBFloat16;   // bf16 or fp16; out has the same dtype
  DType kv_dtype = DType::kBFloat16;  // q_dtype, kFloat8E4M3 or kFloat8E5M2

  // Q: element (t, h, d) at q[t * q_stride_token + h * q_stride_head + d].
  const void* q = nullptr;
  int64_t q_stride_token = 0, q_stride_head = 0;

  // K/V. Paged: element (pos, h, d) of sequence b is at
  //   k[block * k_stride_block + (pos % page_size) * k_stride_token + h * k_stride_head + d]
  //   with block = block_table[b * block_table_stride + pos / page_size].
  // Contiguous: at k[(cu_seqlens_k[b] + pos) * k_stride_token + h * k_stride_head + d]
  //   (k_stride_block unused, page_size 0).
  bool paged = false;
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t k_stride_block = 0, k_stride_token = 0, k_stride_head = 0;
  int64_t v_stride_block = 0, v_stride_token = 0, v_stride_head = 0;
  int64_t num_blocks = 0;  // paged: k.shape[0]; contiguous: 0
  int64_t total_k = 0;     // contiguous: k.shape[0]; paged: 0
  int page_size = 0;       // paged only
  const int32_t* block_table = nullptr;
  int64_t block_table_stride = 0;  // row stride in elements
  int64_t max_blocks_per_seq = 0;

  // Lengths: q_len(b) = cu_seqlens_q[b+1] - cu_seqlens_q[b];
  // kv_len(b) = seqused_k[b] (paged) or cu_seqlens_k[b+1] - cu_seqlens_k[b] (contiguous).
  const int32_t* cu_seqlens_q = nullptr;
  const int32_t* cu_seqlens_k = nullptr;  // contiguous only
  const int32_t* seqused_k = nullptr;     // paged only

  DescaleView q_descale, k_descale, v_descale;  // indexed [b, kv_head]

  float softmax_scale = 0.0f;  // resolved (never 0)
  float softcap = 0.0f;        // 0 = off
  // Resolved window: key j visible to query i iff
  //   (window_left < 0 || j >= i + off - window_left) && (window_right < 0 || j <= i + off + window_right)
  // with off = kv_len - q_len. Causal is folded in as window_right = 0.
  int window_left = -1;
  int window_right = -1;
  bool causal = false;  // informational (window_right == 0 already says it)

  const void* sinks = nullptr;  // [Hq] contiguous-or-strided
  DType sinks_dtype = DType::kFloat32;
  int64_t sinks_stride = 1;

  void* out = nullptr;
  int64_t out_stride_token = 0, out_stride_head = 0;
  float* lse = nullptr;  // optional; element (h, t) at lse[h * lse_stride_head + t * lse_stride_token]
  int64_t lse_stride_head = 0, lse_stride_token = 0;

  // Resolved split count for short-query (decode) rows, >= 1: validation calls
  // cuda_attention_num_splits() and drops to 1 when no workspace was given.
  int num_splits = 1;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;

  Backend backend = Backend::kAuto;  // resolved by dispatch
  Device device;
  void* stream = nullptr;
};

struct CacheWriteProblem {
  int64_t num_tokens = 0;  // T' = slot_mapping.shape[0] (tokens read from key/value)
  int num_kv_heads = 0;
  int head_dim = 0;
  int page_size = 0;
  int64_t num_blocks = 0;
  DType src_dtype = DType::kBFloat16;    // key/value dtype: fp32, fp16, bf16
  DType cache_dtype = DType::kBFloat16;  // == src_dtype (copy) or fp8 e4m3 / e5m2 (quantize)
  const void* key = nullptr;
  const void* value = nullptr;
  int64_t key_stride_token = 0, key_stride_head = 0;
  int64_t value_stride_token = 0, value_stride_head = 0;
  void* key_cache = nullptr;
  void* value_cache = nullptr;
  int64_t kc_stride_block = 0, kc_stride_token = 0, kc_stride_head = 0;
  int64_t vc_stride_block = 0, vc_stride_token = 0, vc_stride_head = 0;
  const int64_t* slot_mapping = nullptr;  // slot = block * page_size + offset; < 0 skipped
  // Quantization scales: element for head h at k_scale[h * k_scale_stride]
  // (stride 0 when one value serves every head). nullptr for plain copies.
  const float* k_scale = nullptr;
  const float* v_scale = nullptr;
  int64_t k_scale_stride = 0, v_scale_stride = 0;
  Backend backend = Backend::kAuto;
  Device device;
  void* stream = nullptr;
};

struct MergeProblem {
  int64_t num_tokens = 0;
  int num_heads = 0;
  int head_dim = 0;
  DType dtype = DType::kFloat32;  // fp32, fp16 or bf16 for all three outputs
  void* out = nullptr;
  int64_t out_stride_token = 0, out_stride_head = 0;
  float* out_lse = nullptr;  // optional
  int64_t out_lse_stride_head = 0, out_lse_stride_token = 0;
  const void* prefix = nullptr;
  int64_t prefix_stride_token = 0, prefix_stride_head = 0;
  const float* prefix_lse = nullptr;
  int64_t prefix_lse_stride_head = 0, prefix_lse_stride_token = 0;
  const void* suffix = nullptr;
  int64_t suffix_stride_token = 0, suffix_stride_head = 0;
  const float* suffix_lse = nullptr;
  int64_t suffix_lse_stride_head = 0, suffix_lse_stride_token = 0;
  Backend backend = Backend::kAuto;
  Device device;
  void* stream = nullptr;
};

}  // namespace kvattn
