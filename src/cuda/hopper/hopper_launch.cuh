// Host side of the Hopper prefill kernel: grid, shared-memory opt-in, launch.
// Included only by the hopper_d<D>.cu translation units.
#pragma once
#include <algorithm>
#include <climits>
#include <atomic>
#include <cstdint>
#include <string>

#include "cuda/common/launch_utils.h"
#include "cuda/hopper/hopper_instances.h"
#include "cuda/hopper/hopper_kernel.cuh"
#include "cuda/hopper/hopper_switches.h"
#include "cuda/hopper/hopper_tma.h"
#include "kvattn/error.h"

namespace kvattn {
namespace cuda {
namespace hopper {

// Work tiles: (sequence, query head) x 128-row query tiles of max_seqlen_q (host
// bound). Persistent instances: one CTA per SM (at most one per tile); else one per tile.
template <int kHeadDim, class QT, bool kFp8Kv>
void launch_instance(const AttentionProblem& problem, const PrefillParams& params, const PrefillGrid& g,
                     cudaStream_t stream) {
  using Traits = HopperTraits<kHeadDim, QT, kFp8Kv>;
  const dim3 tiles = prefill_launch_dims(g, Traits::kBlockM);  // (sequence x head, row tiles), limits checked
  HopperParams hp;
  hp.p = params;
  hp.num_bh = static_cast<int>(tiles.x);
  hp.m_blocks = static_cast<int>(tiles.y);
  const int64_t work = int64_t{tiles.x} * tiles.y;
  // The kernel counts work tiles in int (plus 32 strides of the persistent walk).
  if (work > INT32_MAX - 32 * 4096)
    throw Error(ErrorCode::kNotImplemented, "max_seqlen_q",
                "batch x num_q_heads x 128-row query tiles must stay below 2^31 for the Hopper prefill kernel");
  const dim3 grid(static_cast<unsigned>(Traits::kPersistent ? std::min<int64_t>(work, device_sm_count(g.device)) : work));
  const HopperSwitches& sw = hopper_switches();
  hp.ping_pong = sw.ping_pong;
  hp.experiment = sw.experiment;
  make_kv_load(problem, Traits::kBlockN, sw.tma, hp.kv);
  static std::atomic<uint64_t> smem_configured{0};
  auto* kernel = &hopper_prefill_kernel<Traits>;
  raise_dynamic_smem_limit(kernel, Traits::kSmemBytes, g.device, smem_configured, "hopper_prefill_kernel");
  // Overlaps the decode family's kernels launched just before (they write other
  // rows): its CTAs take SMs as those drain; it waits for them only at its end.
  launch_kernel("hopper_prefill_kernel", kernel, grid, dim3(Traits::kThreads), Traits::kSmemBytes, stream,
                /*overlap_previous=*/programmatic_launch_enabled(g.device), hp);
}

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
