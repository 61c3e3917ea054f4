// The backend entry points dispatch (src/core/dispatch.cpp) calls. Each takes a
// validated problem. The CUDA ones are defined in src/cuda/ when CUDA is built,
// else in src/core/no_cuda/cuda_unavailable.cpp (which throws kNotImplemented).
#pragma once
#include <cstddef>

#include "core/problem.h"

namespace kvattn {

// CPU backend (src/cpu/). May check data-dependent bounds (block ids, lengths
// vs max_seqlen) before writing anything and throw kvattn::Error.
void cpu_varlen_attention(const AttentionProblem& p);
void cpu_cache_write(const CacheWriteProblem& p);
void cpu_merge(const MergeProblem& p);

// CUDA backend (src/cuda/). Asynchronous on p.stream; no allocation, no sync.
// p.backend is kCudaPortable or kCudaHopper (the latter may fall back when a
// shape is not covered by the Hopper kernels).
void cuda_varlen_attention(const AttentionProblem& p);
void cuda_cache_write(const CacheWriteProblem& p);
void cuda_merge(const MergeProblem& p);
// Split count the CUDA launch will use (1 = no split) and the workspace bytes it needs.
int cuda_attention_num_splits(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim,
                              int64_t max_seqlen_q, int64_t max_seqlen_k, int requested_splits,
                              Device device);
size_t cuda_attention_workspace_size(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim,
                                     int64_t max_seqlen_q, int64_t max_seqlen_k, int num_splits,
                                     Device device);
// Extra workspace bytes for the FP8 prewiden scratch (src/cuda/prewiden/prewiden.h),
// 0 when such a call would not use it (also: not a Hopper device). Placed after the
// split-KV bytes.
size_t cuda_attention_prewiden_bytes(int64_t batch, int num_kv_heads, int head_dim, int64_t max_seqlen_q,
                                     int64_t max_seqlen_k, DType kv_dtype, Device device);
bool cuda_device_is_hopper(Device device);

}  // namespace kvattn
