// Host side of the Hopper prefill kernel: grid, shared-memory opt-in, launch.
// Included only by the hopper_d<D>.cu translation units.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include "cuda/common/launch_utils.h"
#include "cuda/hopper/hopper_instances.h"
#include "cuda/hopper/hopper_kernel.cuh"
#include "kvattn/error.h"

namespace kvattn {
namespace cuda {
namespace hopper {

// Grid: x = (sequence, query head), y = 128-row query tiles of max_seqlen_q
// (host bound).
template <int kHeadDim, class QT, bool kFp8Kv>
void launch_instance(const PrefillParams& params, const PrefillGrid& g, cudaStream_t stream) {
  using Traits = HopperTraits<kHeadDim, QT, kFp8Kv>;
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
  auto* kernel = &hopper_prefill_kernel<Traits>;
  raise_dynamic_smem_limit(kernel, Traits::kSmemBytes, g.device, smem_configured, "hopper_prefill_kernel");
  const dim3 grid(static_cast<unsigned>(ctas_x), static_cast<unsigned>(m_blocks));
  kernel<<<grid, Traits::kThreads, Traits::kSmemBytes, stream>>>(params);
  throw_if_launch_failed("hopper_prefill_kernel");
}

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
