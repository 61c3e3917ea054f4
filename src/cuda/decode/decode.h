// Split-KV ("flash-decoding") attention for short query rows, GQA-packed.
#pragma once
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "core/problem.h"

namespace kvattn {
namespace cuda {

// Split count for these host sizes (>= 1, <= kMaxSplits); `requested` 0 = heuristic.
int decode_num_splits(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim, int64_t max_seqlen_q,
                      int64_t max_seqlen_k, int requested, int sm_count);
// Workspace bytes for that split count (0 when it is 1).
size_t decode_workspace_bytes(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim,
                              int64_t max_seqlen_q, int num_splits);

// Computes the sequences of p with q_len <= kShortQueryMaxLen (others are skipped
// on the device), using p.num_splits (>= 1) and p.workspace. Asynchronous.
void launch_decode_splitkv(const AttentionProblem& p, cudaStream_t stream);

}  // namespace cuda
}  // namespace kvattn
