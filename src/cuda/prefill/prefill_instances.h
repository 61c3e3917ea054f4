// The compiled prefill kernels: head dim x q dtype x KV kind (16-bit same as q,
// or FP8 with e4m3/e5m2 chosen at run time), 5 x 2 x 2 = 20 per architecture.
// One translation unit per head dim (prefill_d<D>.cu) instantiates the four
// kernels of that head dim, so they compile in parallel; prefill.cu dispatches
// over the same list (KVATTN_PREFILL_HEAD_DIMS).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "core/problem.h"
#include "cuda/common/routing.h"
#include "cuda/prefill/prefill_params.h"
#include "kvattn/error.h"

namespace kvattn {
namespace cuda {

#define KVATTN_PREFILL_HEAD_DIMS(X) X(64) X(96) X(128) X(192) X(256)

// Host sizes the grid is built from (upper bounds only).
struct PrefillGrid {
  int64_t batch = 0;
  int num_q_heads = 0;
  int64_t max_seqlen_q = 0;
  int device = 0;
};

// The grid bounds of a launch, or false when there is nothing to launch: host
// upper bounds only (no rows at all, or every sequence is short and belongs to
// the decode family).
inline bool make_prefill_grid(const AttentionProblem& p, bool skip_short_queries, PrefillGrid& grid) {
  if (p.batch <= 0 || p.total_q <= 0 || p.max_seqlen_q <= 0 || p.num_q_heads <= 0) return false;
  if (skip_short_queries && p.max_seqlen_q <= kShortQueryMaxLen) return false;
  grid.batch = p.batch;
  grid.num_q_heads = p.num_q_heads;
  grid.max_seqlen_q = p.max_seqlen_q;
  grid.device = p.device.index;
  return true;
}

// x = (sequence, query head), y = query tiles of kBlockM rows over max_seqlen_q
// (longest-first order is the kernel's business). Throws for grids CUDA cannot launch.
inline dim3 prefill_launch_dims(const PrefillGrid& g, int block_m) {
  const int64_t m_blocks = (g.max_seqlen_q + block_m - 1) / block_m;
  const int64_t ctas_x = g.batch * g.num_q_heads;
  if (m_blocks > 65535)
    throw Error(ErrorCode::kNotImplemented, "max_seqlen_q",
                "the CUDA prefill grid covers at most " + std::to_string(int64_t{65535} * block_m) +
                    " query rows per sequence, got " + std::to_string(g.max_seqlen_q));
  if (ctas_x > INT32_MAX)
    throw Error(ErrorCode::kNotImplemented, "cu_seqlens_q",
                "batch x num_q_heads must stay below 2^31 for the CUDA prefill grid");
  return dim3(static_cast<unsigned>(ctas_x), static_cast<unsigned>(m_blocks));
}

// Launches the prefill kernel of DefaultPrefillShape<kHeadDim> (prefill_launch.cuh).
template <int kHeadDim, class QT, bool kFp8Kv>
void launch_prefill_instance(const PrefillParams& params, const PrefillGrid& grid, cudaStream_t stream);

#define KVATTN_PREFILL_INSTANTIATE(D)                                                                              \
  template void launch_prefill_instance<D, __nv_bfloat16, false>(const PrefillParams&, const PrefillGrid&,         \
                                                                 cudaStream_t);                                    \
  template void launch_prefill_instance<D, __nv_bfloat16, true>(const PrefillParams&, const PrefillGrid&,          \
                                                                cudaStream_t);                                     \
  template void launch_prefill_instance<D, __half, false>(const PrefillParams&, const PrefillGrid&, cudaStream_t); \
  template void launch_prefill_instance<D, __half, true>(const PrefillParams&, const PrefillGrid&, cudaStream_t);

}  // namespace cuda
}  // namespace kvattn
