// Host side of the Hopper prefill kernel: grid, shared-memory opt-in, launch.
// Included only by the hopper_d<D>.cu translation units.
#pragma once
#include "cuda/hopper/hopper_cute_config.h"  // first: configures CuTe
#include <algorithm>
#include <climits>
#include <atomic>
#include <cstdint>
#include <string>

#include "cuda/common/launch_utils.h"
#include "cuda/common/routing.h"
#include "cuda/hopper/hopper_instances.h"
#include "cuda/hopper/hopper_kernel.cuh"
#include "cuda/hopper/hopper_l2.h"
#include "cuda/hopper/hopper_pack.h"
#include "cuda/hopper/hopper_ping_pong.h"
#include "cuda/hopper/hopper_switches.h"
#include "cuda/hopper/hopper_tma.h"
#include "kvattn/error.h"

namespace kvattn {
namespace cuda {
namespace hopper {

// Work tiles: (sequence, head slot) x kBlockM-row tiles over max_seqlen_q (host bound)
// query rows, or max_seqlen_q x Hq / Hkv packed rows with GQA packing
// (hopper_pack.h, hopper_tile.cuh). Persistent instances: one CTA per SM (at most
// one per tile); else one per tile.
template <int kHeadDim, class QT, bool kFp8Kv>
void launch_instance(const AttentionProblem& problem, const PrefillParams& params, const PrefillGrid& g,
                     cudaStream_t stream, bool wait_first) {
  using Traits = HopperTraits<kHeadDim, QT, kFp8Kv>;
  const HopperSwitches& sw = hopper_switches();
  HopperParams hp;
  hp.p = params;
  hp.pack = hopper_rows_per_query(g.max_seqlen_q, params.group_size, Traits::kBlockM, sw.pack_gqa);
  hp.heads = params.num_q_heads / hp.pack;
  const int64_t m_blocks = (g.max_seqlen_q * hp.pack + Traits::kBlockM - 1) / Traits::kBlockM;
  const int64_t num_bh = g.batch * hp.heads;
  const int64_t work = num_bh * m_blocks;
  // The kernel counts work tiles in int (plus 32 strides of the persistent walk).
  if (work > INT32_MAX - 32 * 4096)
    throw Error(ErrorCode::kNotImplemented, "max_seqlen_q",
                "batch x num_q_heads x query tiles must stay below 2^31 for the Hopper prefill kernel");
  hp.num_bh = static_cast<int>(num_bh);
  hp.m_blocks = static_cast<int>(m_blocks);
  const int64_t tiles_per_slot =
      hopper_sure_row_tiles(problem.total_q, g.batch, kShortQueryMaxLen, hp.pack, Traits::kBlockM);
  const dim3 grid(static_cast<unsigned>(Traits::kPersistent ? std::min<int64_t>(work, device_sm_count(g.device)) : work));
  hp.section_heads = hopper_l2_section_heads(g.batch, problem.max_seqlen_k, kHeadDim, kFp8Kv ? 1 : 2, hp.heads,
                                             hp.pack == 1 ? params.group_size : 1, device_l2_bytes(g.device),
                                             tiles_per_slot, grid.x, sw.l2_sections);
  hp.ping_pong = hopper_ping_pong(kHeadDim, kFp8Kv, problem.max_seqlen_k, sw.ping_pong);
  hp.experiment = sw.experiment;
  hp.wait_first = wait_first;
  make_kv_load(problem, Traits::kBlockN, sw.tma, hp.kv);
  make_row_tma(problem, sw.tma_q, sw.tma_store, hp.rows_tma);
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
