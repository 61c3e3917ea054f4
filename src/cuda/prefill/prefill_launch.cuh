// Host side of the prefill kernels. Included only by the prefill_d<D>.cu
// translation units (and kernel tests that try other tile shapes).
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include "cuda/common/launch_utils.h"
#include "cuda/prefill/prefill_instances.h"
#include "cuda/prefill/prefill_kernel.cuh"
#include "kvattn/error.h"

namespace kvattn {
namespace cuda {

// Grid: x = (sequence, query head), y = query tiles of max_seqlen_q (host upper bound).
template <class Shape, class QT, bool kFp8Kv>
void launch_prefill_shape(const PrefillParams& params, const PrefillGrid& g, cudaStream_t stream) {
  using Traits = PrefillTraits<Shape, kFp8Kv>;
  const int64_t m_blocks = (g.max_seqlen_q + Traits::kBlockM - 1) / Traits::kBlockM;
  const int64_t ctas_x = g.batch * g.num_q_heads;
  if (m_blocks > 65535)
    throw Error(ErrorCode::kNotImplemented, "max_seqlen_q",
                "the CUDA prefill grid covers at most " + std::to_string(int64_t{65535} * Traits::kBlockM) +
                    " query rows per sequence, got " + std::to_string(g.max_seqlen_q));
  if (ctas_x > INT32_MAX)
    throw Error(ErrorCode::kNotImplemented, "cu_seqlens_q",
                "batch x num_q_heads must stay below 2^31 for the CUDA prefill grid");
  static std::atomic<uint64_t> smem_configured{0};
  auto* kernel = &prefill_kernel<Shape, QT, kFp8Kv>;
  raise_dynamic_smem_limit(kernel, Traits::kSmemBytes, g.device, smem_configured, "prefill_kernel");
  const dim3 grid(static_cast<unsigned>(ctas_x), static_cast<unsigned>(m_blocks));
  kernel<<<grid, Traits::kThreads, Traits::kSmemBytes, stream>>>(params);
  throw_if_launch_failed("prefill_kernel");
}

template <int kHeadDim, class QT, bool kFp8Kv>
void launch_prefill_instance(const PrefillParams& params, const PrefillGrid& grid, cudaStream_t stream) {
  launch_prefill_shape<DefaultPrefillShape<kHeadDim>, QT, kFp8Kv>(params, grid, stream);
}

}  // namespace cuda
}  // namespace kvattn
