// Host side of the Hopper prefill kernel: grid, shared-memory opt-in, launch.
// Included only by the hopper_d<D>.cu translation units.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include "cuda/common/launch_utils.h"
#include "cuda/hopper/hopper_instances.h"
#include "cuda/hopper/hopper_kernel.cuh"
#include "cuda/hopper/hopper_tma.h"
#include "kvattn/error.h"

namespace kvattn {
namespace cuda {
namespace hopper {

// Grid: x = (sequence, query head), y = 128-row query tiles of max_seqlen_q
// (host bound).
template <int kHeadDim, class QT, bool kFp8Kv>
void launch_instance(const AttentionProblem& problem, const PrefillParams& params, const PrefillGrid& g,
                     cudaStream_t stream) {
  using Traits = HopperTraits<kHeadDim, QT, kFp8Kv>;
  const dim3 grid = prefill_launch_dims(g, Traits::kBlockM);
  HopperParams hp;
  hp.p = params;
  make_kv_load(problem, Traits::kBlockN, hp.kv);
  static std::atomic<uint64_t> smem_configured{0};
  auto* kernel = &hopper_prefill_kernel<Traits>;
  raise_dynamic_smem_limit(kernel, Traits::kSmemBytes, g.device, smem_configured, "hopper_prefill_kernel");
  kernel<<<grid, Traits::kThreads, Traits::kSmemBytes, stream>>>(hp);
  throw_if_launch_failed("hopper_prefill_kernel");
}

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
