// The public entry points: validate into a problem, then dispatch.
// Everything that can throw for a bad argument happens before any backend runs,
// so a rejected call writes nothing.
#include <cstdint>

#include "core/backends.h"
#include "core/check.h"
#include "core/dispatch.h"
#include "core/validate.h"
#include "kvattn/attention.h"
#include "kvattn/cache.h"
#include "kvattn/merge.h"

namespace kvattn {

void varlen_attention_forward(const VarlenAttentionArgs& args) { run_attention(make_attention_problem(args)); }

size_t varlen_attention_workspace_size(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim,
                                       int64_t max_seqlen_q, int64_t max_seqlen_k, int num_splits, Device device) {
  using check::require_in_range;
  require_in_range(batch, "batch", 0, INT32_MAX);
  require_in_range(num_q_heads, "num_q_heads", 1, INT32_MAX);
  require_in_range(num_kv_heads, "num_kv_heads", 1, num_q_heads);
  require_in_range(head_dim, "head_dim", 1, INT32_MAX);
  require_in_range(max_seqlen_q, "max_seqlen_q", 0, INT32_MAX);
  require_in_range(max_seqlen_k, "max_seqlen_k", 0, INT32_MAX);
  require_in_range(num_splits, "num_splits", 0, INT32_MAX);
  if (device.type != DeviceType::kCUDA) return 0;  // the CPU backend never splits
  require_in_range(device.index, "device", 0, INT32_MAX);
  return plan_cuda_splits(batch, num_q_heads, num_kv_heads, head_dim, max_seqlen_q, max_seqlen_k, num_splits, device)
      .workspace_bytes;
}

size_t varlen_attention_workspace_size(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim,
                                       int64_t max_seqlen_q, int64_t max_seqlen_k, int num_splits, Device device,
                                       DType kv_dtype) {
  const size_t split_bytes = varlen_attention_workspace_size(batch, num_q_heads, num_kv_heads, head_dim,
                                                             max_seqlen_q, max_seqlen_k, num_splits, device);
  if (device.type != DeviceType::kCUDA) return split_bytes;
  return split_bytes +
         cuda_attention_prewiden_bytes(batch, num_kv_heads, head_dim, max_seqlen_q, max_seqlen_k, kv_dtype, device);
}

void reshape_and_cache_flash(const CacheWriteArgs& args) { run_cache_write(make_cache_write_problem(args)); }

void merge_attn_states(const MergeArgs& args) { run_merge(make_merge_problem(args)); }

}  // namespace kvattn
