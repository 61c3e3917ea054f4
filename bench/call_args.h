// Builds the public-API call for one batch from raw buffers, so the CPU run,
// the GPU run and the GPU run's CPU check all describe a batch the same way.
#pragma once
#include <cstddef>
#include <cstdint>

#include "host_data.h"
#include "kvattn/attention.h"
#include "workloads.h"

namespace kvattn_bench {

// Pointers on one device, laid out as make_layout() says.
struct BatchBuffers {
  const void* q = nullptr;  // [total_q, Hq, D] bf16
  const void* k = nullptr;  // [num_blocks, page, Hkv, D] kv dtype
  const void* v = nullptr;
  void* out = nullptr;                    // [total_q, Hq, D] bf16
  const int32_t* cu_seqlens_q = nullptr;  // [B + 1]
  const int32_t* seqused_k = nullptr;     // [B]
  const int32_t* block_table = nullptr;   // [B, max_blocks_per_seq]
  const float* k_descale = nullptr;       // [B, Hkv] or nullptr (= 1)
  const float* v_descale = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

kvattn::VarlenAttentionArgs make_call_args(const Workload& w, const BatchLayout& layout, kvattn::DType kv_dtype,
                                           const BatchBuffers& buf, kvattn::Device device, kvattn::Backend backend);

// Element counts of the buffers above.
inline int64_t q_elems(const Workload& w, const BatchLayout& l) {
  return l.total_q * w.num_q_heads * w.head_dim;
}
inline int64_t kv_elems(const Workload& w, const BatchLayout& l) {
  return l.num_blocks * w.page_size * w.num_kv_heads * w.head_dim;
}

using kvattn::is_fp8;

}  // namespace kvattn_bench
