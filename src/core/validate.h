// Validation: turns the caller's arguments into the normalized problems of
// core/problem.h, or throws kvattn::Error naming the offending argument.
// Reads shapes, strides, dtypes and devices only, never tensor data (CUDA
// tensors may be under graph capture; data-dependent bounds are the CPU
// backend's job). The backend is resolved here too (core/dispatch.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/problem.h"
#include "kvattn/attention.h"
#include "kvattn/cache.h"
#include "kvattn/merge.h"

namespace kvattn {

AttentionProblem make_attention_problem(const VarlenAttentionArgs& args);
CacheWriteProblem make_cache_write_problem(const CacheWriteArgs& args);
MergeProblem make_merge_problem(const MergeArgs& args);

// The split-KV plan for one CUDA call: the backend's split count for these host
// sizes (requested 0 = heuristic, capped at kMaxSplits) and the workspace bytes
// it needs (0 when splits == 1). Shared by validation and
// varlen_attention_workspace_size so both always agree.
struct SplitPlan {
  int splits = 1;
  size_t workspace_bytes = 0;
};
SplitPlan plan_cuda_splits(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim, int64_t max_seqlen_q,
                           int64_t max_seqlen_k, int requested_splits, Device device);

// The split count a call runs with, given the caller's request (already capped),
// the plan, and the optional workspace: a heuristic split without a workspace
// quietly runs unsplit; an explicit split (requested > 1) without enough
// workspace throws naming "workspace".
int resolve_num_splits(int requested_splits, const SplitPlan& plan, const TensorView& workspace);

}  // namespace kvattn
