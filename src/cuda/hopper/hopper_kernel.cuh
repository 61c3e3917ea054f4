// The Hopper (sm_90a) prefill / chunked-prefill kernel: warp-specialized, WGMMA on both
// products, paged K/V with in-kernel FP8 widening.
//
// A persistent grid (one CTA per SM) walks the work tiles (sequence, query head or,
// GQA-packed, KV head, 128- or 192-row tile; hopper_tile.cuh), in L2 sections of a few KV
// heads (hopper_l2.h), longest first within each; per CTA
// one producer and two consumer warpgroups (three for D 64 with 16-bit KV, 192 rows):
//   warpgroup 0, producer (registers after setmaxnreg: 104 with FP8 KV at D <= 128, 32
//     with three consumers, 56 otherwise; hopper_traits.h; hopper_producer.cuh): walks
//     the schedule and hands each work tile to the consumers through a ring of tile
//     slots in shared memory (publish_tile), then TMA boxes per page (or cp.async
//     gathers) of its K/V tiles, FP8 -> fp16 widening into the swizzled stages, K and V
//     stage rings (mbarriers, hopper_pipeline.cuh);
//   warpgroups 1.., consumers (200 registers beside a 104-register producer, 160 with
//     three, 224 otherwise): 64 rows each; per KV tile S = Q K^T (WGMMA; K in shared
//     memory, Q too, or in registers for 16-bit D 128), mask + online softmax in
//     registers (hopper_softmax.cuh), O += P V (WGMMA, P from registers, V MN-major in
//     shared memory), with S(j+1) and P(j) V(j) in flight together (intra-warpgroup
//     overlap); ping-pong: the consumers take turns issuing, round robin (16-bit KV by
//     default, D 256 only for short KV: hopper_ping_pong.h).
//   Each warpgroup's Q rows arrive and its output rows leave through the Q tile, by TMA
//   boxes where the layout allows (HopperRowTma, hopper_params.h).
// k_descale and q_descale ride in the softmax scale, v_descale in the final
// normalization (exact for per-(sequence, kv-head) descales). Measurements and what
// limits it: docs/perf-notes.md, "Session 2", "Session 3", "Session 5" and "Session 6".
#pragma once
#include "cuda/hopper/hopper_cute_config.h"  // first: configures CuTe
#include <cutlass/arch/reg_reconfig.h>

#include <cstdint>
#include <cute/tensor.hpp>

#include "cuda/common/routing.h"
#include "cuda/hopper/hopper_io.cuh"
#include "cuda/hopper/hopper_params.h"
#include "cuda/hopper/hopper_pipeline.cuh"
#include "cuda/hopper/hopper_producer.cuh"
#include "cuda/hopper/hopper_softmax.cuh"
#include "cuda/hopper/hopper_tile.cuh"
#include "cuda/hopper/hopper_traits.h"
#include "cuda/prefill/prefill_params.h"
#include "cuda/prefill/prefill_tile.cuh"

// Device code only for the sm_90a pass (WGMMA, setmaxnreg); other -gencode
// passes compile an empty kernel that the host never launches.
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ == 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define KVATTN_HOPPER_DEVICE 1
#else
#define KVATTN_HOPPER_DEVICE 0
#endif

namespace kvattn {
namespace cuda {
namespace hopper {

// Issues C (+)= A B over the K blocks of one warpgroup tile as one WGMMA group
// (asynchronous: wait with warpgroup_wait<N>, then settle()). kZeroInit: C = A B.
// A from registers (P) or shared memory (Q); B from shared memory.
template <bool kZeroInit, bool kARegisters, class TiledMma, class TA, class TB, class TC>
__device__ __forceinline__ void warpgroup_gemm_issue(TiledMma& mma, TA& a, const TB& b, TC& c) {
  using namespace cute;
  if constexpr (kARegisters) warpgroup_fence_operand(a);
  warpgroup_fence_operand(c);
  warpgroup_arrive();
  if constexpr (kZeroInit) mma.accumulate_ = GMMA::ScaleOut::Zero;
#pragma unroll
  for (int kb = 0; kb < size<2>(a); ++kb) {
    gemm(mma, a(_, _, kb), b(_, _, kb), c);
    mma.accumulate_ = GMMA::ScaleOut::One;
  }
  warpgroup_commit_batch();
}

// Ping-pong (round robin) between the consumer warpgroups: warpgroup w may issue its
// WGMMAs once warpgroup w - 1 (mod their count) has issued its own (named barriers
// 5 + w over 256 threads: w waits, its predecessor arrives; 2-4 are the consumer
// warpgroups' own, hopper_io.cuh).
__device__ __forceinline__ void scheduler_sync(int wg) { cutlass::arch::NamedBarrier::sync(256, 5 + wg); }
__device__ __forceinline__ void scheduler_arrive(int wg) { cutlass::arch::NamedBarrier::arrive(256, 5 + wg); }

// After the wait: keeps the compiler from touching the operands earlier.
template <class T>
__device__ __forceinline__ void settle(T& t) {
  cute::warpgroup_fence_operand(t);
}

// Persistent schedule by rank: the work tiles that have rows, in the order of v,
// are numbered 0, 1, ...; CTA c takes numbers c, c + gridDim.x, ... So the CTAs
// share the work as evenly as in a dense batch however sparse those tiles are
// (a mixed batch: one long chunk among 128 decode sequences, whose tiles a stride
// over v left on a few CTAs: +20% on the prefill kernel), and the schedule stays
// static (graph-capturable, no counter to reset). The ranks run over L2 sections
// (HopperParams::section_heads): all tiles of head slots [h0, h0 + section_heads) of
// every sequence, longest row tile first, then the next section; so the CTAs at work
// together share the K/V of a few KV heads, which then stay in L2 (over all heads at
// once, prefill_4x8k read its 134 MB of K/V ~32 times from HBM, 4.25 GB; ncu).
// Within a section the walk visits each (row tile, 32-sequence window) once: lane i
// looks up the length of sequence b0 + i, a ballot gives the window's sequences with
// rows in that row tile, a section's heads tiles each.
// Every lane holds the same state, so branches on it stay warp-uniform.
struct WorkWalk {
  int m_idx = 0;       // row-tile index (0: the last row tile)
  int b0 = 0;          // first sequence of the window
  int rank0 = 0;       // tiles with rows before the window
  unsigned hits = 0;   // sequences of the window with rows in this row tile
  bool loaded = false;
  int h0 = 0;          // first head slot of the section

  // The walk as two 16-byte words, with the caller's tile count (park / unpark).
  __device__ __forceinline__ void park(uint32_t slot, int count) const {
    sts128(slot, make_uint4(m_idx, b0, rank0, hits));
    sts128(slot + 16, make_uint4(loaded, count, h0, 0u));
  }
  __device__ __forceinline__ int unpark(uint32_t slot) {
    const uint4 a = lds128(slot), c = lds128(slot + 16);
    m_idx = static_cast<int>(a.x), b0 = static_cast<int>(a.y), rank0 = static_cast<int>(a.z), hits = a.w;
    loaded = c.x != 0u;
    h0 = static_cast<int>(c.z);
    return static_cast<int>(c.y);
  }

  // v of the tile numbered `rank` (ranks asked in increasing order), or -1.
  __device__ __forceinline__ int find(const HopperParams& hp, int block_m, int rank) {
    const int heads = hp.heads;
    const int batch = hp.num_bh / heads;
    const int lane = static_cast<int>(threadIdx.x % 32);
    while (h0 < heads) {
      const int section = min(hp.section_heads, heads - h0);
      if (!loaded) {
        const int b = b0 + lane;
        const bool rows = b < batch && prefill_sequence_has_rows(hp.p, block_m, b, hp.m_blocks - 1 - m_idx, hp.pack);
        hits = __ballot_sync(0xffffffffu, rows);
        loaded = true;
      }
      const int count = __popc(hits) * section;  // <= num_work < 2^31
      if (rank - rank0 < count) {
        const int k = rank - rank0, j = k / section;
        unsigned rest = hits;
        for (int i = 0; i < j; ++i) rest &= rest - 1;  // drop the j lowest sequences
        const int b = b0 + __ffs(rest) - 1;
        return m_idx * hp.num_bh + b * heads + h0 + (k - j * section);
      }
      rank0 += count;
      loaded = false;
      b0 += 32;
      if (b0 >= batch) {
        b0 = 0;
        if (++m_idx == hp.m_blocks) m_idx = 0, h0 += section;
      }
    }
    return -1;
  }
};

// Calls f(v, i) for this CTA's work tiles, i = 0, 1, ...: persistent, the ranks of
// its stride; otherwise the one tile blockIdx.x. Returns how many. park_slot
// (kPark): this warp's 32 bytes of shared memory (its lanes hold the same walk and
// store the same words), where the walk waits while f runs (the 32- and 56-register
// producers have no registers to keep it in across their loops; f's first step is a
// barrier of the producer warpgroup, which orders the stores before the loads).
template <bool kPersistent, bool kPark = false, class F>
__device__ __forceinline__ int for_each_work(const HopperParams& hp, int block_m, F&& f, uint32_t park_slot = 0) {
  if constexpr (kPersistent) {
    WorkWalk walk;
    int i = 0;
    for (;; ++i) {
      // gridDim.x read where used (volatile): hoisted, it took one of the 32-register
      // producer's registers for the whole walk.
      unsigned ctas;
      asm volatile("mov.u32 %0, %%nctaid.x;" : "=r"(ctas));
      const int v = walk.find(hp, block_m, static_cast<int>(blockIdx.x) + i * static_cast<int>(ctas));
      if (v < 0) break;
      if constexpr (kPark) walk.park(park_slot, i);
      f(v, i);
      if constexpr (kPark) {
        i = walk.unpark(park_slot);
        __syncwarp();  // the warp's lanes share the slot: all read before any writes again
      }
    }
    return i;
  } else {
    f(static_cast<int>(blockIdx.x), 0);
    return 1;
  }
}

// The tile slot ring (TileSlot, hopper_tile.cuh): work tile i of the CTA goes through
// slot i % kTileSlots. The producer's thread 0 looks work tile v (-1: the end) up
// straight into the slot (the 32-register producer has no registers to stage it
// in) and signals; every consumer thread waits, reads and releases.
template <class Bars>
__device__ __forceinline__ void publish_tile(const HopperParams& hp, int block_m, Bars& bars, TileSlot* slots, int i,
                                             int v) {
  const int s = i % kTileSlots;
  cutlass::arch::ClusterBarrier::wait(&bars.tiles.empty[s], ((i / kTileSlots) & 1) ^ 1);
  TileSlot& slot = slots[s];
  slot.v = v;
  slot.ok = v >= 0 && next_tile(hp, block_m, v, slot.tile, slot.rows);
  cutlass::arch::ClusterBarrier::arrive(&bars.tiles.full[s]);  // release: the slot's stores before it
}
template <class Bars>
__device__ __forceinline__ const TileSlot& receive_tile(Bars& bars, const TileSlot* slots, int i) {
  const int s = i % kTileSlots;
  cutlass::arch::ClusterBarrier::wait(&bars.tiles.full[s], (i / kTileSlots) & 1);
  return slots[s];
}
template <class Bars>
__device__ __forceinline__ void release_tile(Bars& bars, int i) {
  cutlass::arch::ClusterBarrier::arrive(&bars.tiles.empty[i % kTileSlots]);
}

template <class Traits>
__global__ void __launch_bounds__(Traits::kThreads, 1)
    hopper_prefill_kernel(const __grid_constant__ HopperParams params) {
#if KVATTN_HOPPER_DEVICE
  using namespace cute;
  using MmaT = typename Traits::MmaT;
  const PrefillParams& p = params.p;
  constexpr int kBlockM = Traits::kBlockM, kBlockN = Traits::kBlockN, kD = Traits::kHeadDim;

  // The swizzled tiles need a 1024-byte-aligned base. Dynamic shared memory
  // starts there when the kernel has no static shared memory (as here); trap
  // rather than compute on misplaced tiles if a toolchain ever breaks that.
  extern __shared__ __align__(1024) uint8_t smem[];
  const uint32_t sbase = smem_addr(smem);
  if (sbase & 1023u) __trap();

  // Warpgroup index broadcast from lane 0 (a shuffle): ptxas then knows it is
  // warp-uniform, and so is every branch derived from it. With threadIdx.x / 128
  // it could not prove that and serialized every WGMMA (ptxas C7518, "WG.DP in
  // divergent path").
  const int wg = cutlass::canonical_warp_group_idx();
  auto& bars = *reinterpret_cast<typename Traits::Barriers*>(smem + Traits::kOffBarriers);
  if (threadIdx.x == 0) {
    // A stage's full barrier counts its filling threads: the producer warpgroup, or
    // in FP8 TMA mode the half that widens that ring (hopper_producer.cuh).
    bars.init(Traits::kFp8Kv && params.kv.tma ? 64 : 128, Traits::kConsumerThreads);
    if (params.kv.tma) {
      cute::prefetch_tma_descriptor(&params.kv.k_map);
      cute::prefetch_tma_descriptor(&params.kv.v_map);
    }
  }
  __syncthreads();  // barriers initialized
  if (params.wait_first) grid_dependency_wait();

  // ---- producer: the K/V tiles of every work tile, in order; its rings carry on
  // from one work tile to the next, so it loads the next tile's first K/V while
  // the consumers still finish (and write out) the current one.
  if (wg == 0) {
    cutlass::arch::warpgroup_reg_dealloc<Traits::kProducerRegs>();
    ProducerCursor<Traits> cursor;
    TileSlot* const slots = reinterpret_cast<TileSlot*>(smem + Traits::kOffTiles);
    const auto produce = [&](int v, int i) {
      if (threadIdx.x == 0) publish_tile(params, kBlockM, bars, slots, i, v);
      // bar.sync orders thread 0's slot stores before every producer thread's reads; the
      // slot is written again (tile i + kTileSlots) only after the next tile's sync.
      producer_sync();
      const TileSlot& slot = slots[i % kTileSlots];
      if (!slot.ok) return;
      // The consumers load this tile's Q rows once they finish the previous tile (an
      // HBM round trip on their critical path); ask L2 for them now, a tile ahead.
      if constexpr (Traits::kPersistent)
        prefetch_q_rows<Traits>(p, slot.rows, slot.tile.rows_valid, static_cast<int>(threadIdx.x));
      const PrefillTile& tile = slot.tile;
      const int tile_lo = tile.key_lo / kBlockN;
      const int n_tiles = tile.key_lo < tile.key_end ? (tile.key_end + kBlockN - 1) / kBlockN - tile_lo : 0;
      if (n_tiles == 0) return;
      const Producer<Traits> producer{p,
                                      params.kv,
                                      params.experiment,
                                      bars,
                                      cursor,
                                      sbase,
                                      reinterpret_cast<int64_t*>(smem + Traits::kOffRows),
                                      tile.b,
                                      tile.h / p.group_size,
                                      tile.kv_len,
                                      tile.k_row0,
                                      tile_lo,
                                      tile_lo + n_tiles,
                                      static_cast<int>(threadIdx.x)};
      producer.run();
    };
    const int n_work = for_each_work<Traits::kPersistent, Traits::kParkWalk>(
        params, kBlockM, produce, sbase + Traits::kOffWalkPark + 32 * (threadIdx.x / 32));
    if (threadIdx.x == 0) publish_tile(params, kBlockM, bars, slots, n_work, -1);
    grid_dependency_wait();  // see the end of the kernel
    return;
  }

  // ---- consumers: 64 query rows each of every work tile ----
  cutlass::arch::warpgroup_reg_alloc<Traits::kConsumerRegs>();
  const int ctid = threadIdx.x - 128;  // over all consumer warpgroups
  const int cwg = wg - 1;              // consumer warpgroup: rows [64 cwg, 64 cwg + 64)
  const int wtid = ctid % 128, lane = wtid % 32, warp = wtid / 32;
  const uint32_t sq = sbase + Traits::kOffQ;
  float* const row_factor = reinterpret_cast<float*>(smem + Traits::kOffRowFactor);

  typename Traits::TiledMmaQK mma_qk;
  typename Traits::TiledMmaPV mma_pv;
  auto thr_qk = mma_qk.get_thread_slice(ctid);
  auto thr_pv = mma_pv.get_thread_slice(ctid);
  Tensor sQ = make_tensor(make_smem_ptr(reinterpret_cast<MmaT*>(smem + Traits::kOffQ)), typename Traits::SmemLayoutQ{});
  Tensor sK = make_tensor(make_smem_ptr(reinterpret_cast<MmaT*>(smem + Traits::kOffK)), typename Traits::SmemLayoutK{});
  Tensor sVt =
      make_tensor(make_smem_ptr(reinterpret_cast<MmaT*>(smem + Traits::kOffV)), typename Traits::SmemLayoutVt{});
  Tensor tSrQ = thr_qk.partition_fragment_A(sQ);
  Tensor tSrK = thr_qk.partition_fragment_B(sK);
  Tensor tOrV = thr_pv.partition_fragment_B(sVt);
  cutlass::PipelineState<Traits::kKStages> k_state;  // carried across work tiles, like the producer's
  cutlass::PipelineState<Traits::kVStages> v_state;
  constexpr int kCwgs = Traits::kConsumerWarpgroups;
  const bool ping_pong = params.ping_pong;
  const bool softmax_on = !(params.experiment & kHopperNoSoftmax);

  // The work tiles come from the producer (publish_tile). Work tile i + 1's Q rows are
  // brought into the Q tile after tile i's epilogue (next_q): tile i starts with its Q in
  // place, or on its way by TMA (wait_q before the first Q K^T).
  const TileSlot* const slots = reinterpret_cast<const TileSlot*>(smem + Traits::kOffTiles);
  const auto q_thread = [&] {
    return Traits::kRecomputeThreadAddresses || Traits::kShortLiveRanges ? recompute_here(wtid) : wtid;
  };
  // Q rows in registers -> the Q tile (and row factors), visible to every thread and to WGMMA.
  const auto store_q = [&](QRows<Traits>& q) {
    q.store(sq, row_factor, cwg, q_thread());
    fence_async_proxy();  // generic stores -> WGMMA reads
    warpgroup_sync(cwg);
  };
  const auto stage_q = [&](QRows<Traits>& q) {
    wait_out_reads();
    warpgroup_sync(cwg);  // this warpgroup's previous output is out of its Q rows
    store_q(q);
  };
  // Receives work tile i and, when it has rows, brings its Q rows into the Q tile: by TMA
  // (load_q, whole_head_rows: one thread issues, the warpgroup waits on q_full before its
  // first Q K^T, wait_q) or through registers.
  bool q_pending = false;  // a TMA load of this warpgroup's Q rows is in flight
  uint32_t q_phase = 0;    // of bars.q_full[cwg]
  const auto next_q = [&](int i) {
    const TileSlot& next = receive_tile(bars, slots, i);
    if (!next.ok) return;
    if (params.rows_tma.load_q && whole_head_rows(next.rows, next.tile.rows_valid, cwg)) {
      wait_out_reads();
      warpgroup_sync(cwg);  // the previous output and WGMMAs are out of these Q rows
      if (wtid == 0) load_q_rows_tma<Traits>(params.rows_tma, &bars.q_full[cwg], sq, next.rows, cwg);
      q_pending = true;
    } else {
      QRows<Traits> q;
      q.load(p, next.rows, next.tile.rows_valid, cwg, q_thread());
      stage_q(q);
    }
  };
  const auto wait_q = [&] {
    if (!q_pending) return;
    cutlass::arch::ClusterBarrier::wait(&bars.q_full[cwg], q_phase);
    q_phase ^= 1u;
    q_pending = false;
    if constexpr (Traits::kQToHalf) {  // bf16 rows as they landed -> fp16 x 2^c, row factors
      QRows<Traits> q;
      q.load_staged(sq, cwg, q_thread());
      store_q(q);
    }
  };

  // Work tile i (slot.ok; its Q rows in the Q tile).
  const auto consume = [&](const TileSlot& slot, int i) {
    const PrefillTile& tile = slot.tile;
    const RowMap rows = slot.rows;
    // Accumulators and P per work tile: declared outside, the WGMMA operand fences kept
    // S and P live from one tile's end to the next one's start (through the epilogue).
    Tensor tSrS = partition_fragment_C(mma_qk, Shape<Int<kBlockM>, Int<kBlockN>>{});
    Tensor tOrO = partition_fragment_C(mma_pv, Shape<Int<kBlockM>, Int<kD>>{});
    Tensor tOrP = make_tensor<MmaT>(partition_shape_A(mma_pv, Shape<Int<kBlockM>, Int<kBlockN>>{}));
    const int b = tile.b, hk = tile.h / p.group_size;
    const int rows_valid = tile.rows_valid;
    const KeyWindow window = tile.window;
    const int tile_lo = tile.key_lo / kBlockN;
    const int n_tiles = tile.key_lo < tile.key_end ? (tile.key_end + kBlockN - 1) / kBlockN - tile_lo : 0;

    // A rewritten q (kQToHalf) brings its row factors, read just below.
    if constexpr (Traits::kQToHalf) wait_q();
    // kRecomputeThreadAddresses: this thread's Q and output addresses are recomputed
    // per work tile instead of being kept across the persistent loop.
    const int tw = Traits::kRecomputeThreadAddresses ? recompute_here(wtid) : wtid;
    clear(tOrO);

    // This thread's rows: tile rows tile_row0 and tile_row0 + 8, queries q_row[0..1].
    const int tile_row0 = 64 * cwg + 16 * warp + lane / 4;
    const int q_row[2] = {rows.query(tile_row0), rows.query(tile_row0 + 8)};
    const LogitScale logit =
        LogitScale::make(p.softmax_scale * p.q_descale.at(b, hk) * p.k_descale.at(b, hk), p.softcap);
    float mult[2];
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) mult[hf] = logit.mult * (Traits::kQToHalf ? row_factor[tile_row0 + 8 * hf] : 1.0f);

    // Keys this warpgroup's rows can see (its queries [wg_first, wg_last]): tiles
    // outside are skipped (still waited on and released, so both consumers walk
    // the same pipeline states).
    const bool wg_has_rows = 64 * cwg < rows_valid;
    const int wg_first = rows.query(wg_has_rows ? 64 * cwg : 0);
    const int wg_last = wg_has_rows ? rows.query(min(64 * cwg + 63, rows_valid - 1)) : wg_first;
    const int wg_key_lo = wg_has_rows ? window.lo(wg_first) : 0;
    const int wg_key_hi = wg_has_rows ? window.hi(wg_last) : -1;
    const TileMaskRange mask_range = TileMaskRange::make(window, wg_first, wg_last, tile_lo, n_tiles, kBlockN);

    // This warpgroup's tiles: [j_lo, j_hi) of the work tile's n_tiles (a contiguous range).
    const int j_lo = wg_has_rows ? max(0, wg_key_lo / kBlockN - tile_lo) : 0;
    const int j_hi = wg_has_rows ? max(j_lo, min(n_tiles, wg_key_hi / kBlockN - tile_lo + 1)) : 0;

    FragSoftmax softmax;
    softmax.init();
    // Logits of tile j (in tSrS) -> probabilities; returns whether O needs alpha.
    const auto softmax_tile = [&](int j, float(&alpha)[2]) {
      FragSoftmax::transform(tSrS, logit, mult);
      if (mask_range.needs_mask(j)) FragSoftmax::mask(tSrS, window, q_row, (tile_lo + j) * kBlockN, lane);
      return softmax.scores(tSrS, mult, alpha);
    };
    const auto to_p = [&] {
#pragma unroll
      for (int k = 0; k < size(tSrS); ++k) tOrP(k) = static_cast<MmaT>(tSrS(k));
    };

    // S = Q K(stage)^T. kShortLiveRanges: Q's WGMMA descriptors (one 64-bit value per
    // 16 columns) are rebuilt at each use from an opaque base, not held across the loop.
    const auto issue_qk = [&](int stage) {
      if constexpr (Traits::kShortLiveRanges) {
        Tensor q = thr_qk.partition_fragment_A(make_tensor(
            make_smem_ptr(recompute_here(reinterpret_cast<MmaT*>(smem + Traits::kOffQ))), typename Traits::SmemLayoutQ{}));
        warpgroup_gemm_issue<true, false>(mma_qk, q, tSrK(_, _, _, stage), tSrS);
      } else {
        warpgroup_gemm_issue<true, Traits::kQInRegisters>(mma_qk, tSrQ, tSrK(_, _, _, stage), tSrS);
      }
    };

    // One slot per KV tile plus one. Slot j issues S(j) = Q K(j)^T and O += P(j-1) V(j-1)
    // back to back; the softmax of S(j) runs while the P V product is still on the
    // tensor cores, and O is rescaled once it is done (intra-warpgroup overlap). The
    // tiles this warpgroup sees, [j_lo, j_hi), run as a first slot (S only), steady
    // slots (both products) and a last slot (P V only), so no WGMMA or wait sits
    // under a data-dependent branch: ptxas serializes WGMMAs whose in-flight
    // accumulators it cannot track (C7514). Tiles outside the range are waited on
    // and released without math, so both consumers walk the same pipeline states.
    // With ping-pong the warpgroups take turns issuing (named barriers, one turn
    // per slot, n_tiles + 1 turns each per work tile), so one's softmax overlaps the
    // others' products.
    if (ping_pong && cwg == kCwgs - 1) scheduler_arrive(0);  // warpgroup 0 issues first
    int turns = 0;                                           // ping-pong turns taken in this work tile
    const auto turn_begin = [&] {
      if (ping_pong) scheduler_sync(cwg);
    };
    const auto turn_end = [&] {
      // The last warpgroup's last turn hands nothing on: warpgroup 0 has finished the tile.
      if (ping_pong && !(cwg == kCwgs - 1 && turns == n_tiles)) scheduler_arrive(cwg + 1 < kCwgs ? cwg + 1 : 0);
      ++turns;
    };
    const auto skip_k = [&] {
      consumer_wait(bars.k, k_state);
      consumer_release(bars.k, k_state);
      ++k_state;
    };
    const auto skip_v = [&] {
      consumer_wait(bars.v, v_state);
      consumer_release(bars.v, v_state);
      ++v_state;
    };
    // Slots [0, j_lo]: tiles before the range (K(j), V(j - 1) released unread).
    for (int j = 0; j < j_lo; ++j) {
      turn_begin();
      turn_end();
      skip_k();
      if (j > 0) skip_v();
    }
    wait_q();  // this tile's Q rows, if TMA brings them (also when this warpgroup sees no KV tile)
    if constexpr (Traits::kQInRegisters) {  // this thread's Q fragment, once per work tile
      auto q_copy = make_tiled_copy_A(Copy_Atom<SM75_U32x4_LDSM_N, MmaT>{}, mma_qk);
      auto q_thr = q_copy.get_thread_slice(ctid);
      Tensor tQs = q_thr.partition_S(sQ);
      Tensor tQr = q_thr.retile_D(tSrQ);
      cute::copy(q_copy, tQs, tQr);
    }
    if (j_lo < j_hi) {
      float alpha[2];
      // First slot: S(j_lo) only; V(j_lo - 1) released unread.
      consumer_wait(bars.k, k_state);
      if (j_lo > 0) consumer_wait(bars.v, v_state);
      turn_begin();
      issue_qk(k_state.index());
      turn_end();
      cute::warpgroup_wait<0>();
      settle(tSrS);
      consumer_release(bars.k, k_state);
      ++k_state;
      if (j_lo > 0) {
        consumer_release(bars.v, v_state);
        ++v_state;
      }
      if (softmax_on) softmax_tile(j_lo, alpha);  // O is zero: nothing to rescale
      to_p();
      // Steady slots: S(j) and P(j-1) V(j-1) in flight together.
      for (int j = j_lo + 1; j < j_hi; ++j) {
        // D 128 waits for V(j-1) only once S(j) is issued: an FP8 V stage lands after
        // its K stage (e4m3 prefill -1.5%, chunk -2..4%); D 256 measured 10% slower so.
        consumer_wait(bars.k, k_state);
        if constexpr (!Traits::kLateVWait) consumer_wait(bars.v, v_state);
        turn_begin();
        issue_qk(k_state.index());
        if constexpr (Traits::kLateVWait) consumer_wait(bars.v, v_state);
        warpgroup_gemm_issue<false, true>(mma_pv, tOrP, tOrV(_, _, _, v_state.index()), tOrO);
        turn_end();
        cute::warpgroup_wait<1>();  // S(j) done; P(j-1) V(j-1) may still run
        settle(tSrS);
        consumer_release(bars.k, k_state);
        ++k_state;
        const bool rescale = softmax_on && softmax_tile(j, alpha);
        cute::warpgroup_wait<0>();
        settle(tOrO);
        settle(tOrP);
        consumer_release(bars.v, v_state);
        ++v_state;
        if (rescale) FragSoftmax::rescale(tOrO, alpha);
        to_p();
      }
      // Last slot of the range: P(j_hi - 1) V(j_hi - 1) only (K(j_hi) released unread).
      if (j_hi < n_tiles) consumer_wait(bars.k, k_state);
      consumer_wait(bars.v, v_state);
      turn_begin();
      warpgroup_gemm_issue<false, true>(mma_pv, tOrP, tOrV(_, _, _, v_state.index()), tOrO);
      turn_end();
      cute::warpgroup_wait<0>();
      settle(tOrO);
      if (j_hi < n_tiles) {
        consumer_release(bars.k, k_state);
        ++k_state;
      }
      consumer_release(bars.v, v_state);
      ++v_state;
    }
    // Slots after the range (or every slot when this warpgroup sees no tile).
    for (int j = j_hi + (j_lo < j_hi ? 1 : 0); j <= n_tiles; ++j) {
      turn_begin();
      turn_end();
      if (j < n_tiles) skip_k();
      if (j > 0) skip_v();
    }

    // The epilogue reads the tile's fields again from its slot (shared memory: reloaded
    // after the loop's barriers) instead of holding them in registers across the loop.
    write_output<Traits>(p, params.rows_tma, tOrO, softmax, mult,
                         p.v_descale.at(slot.tile.b, slot.tile.h / p.group_size), sq, slot.rows, slot.tile.rows_valid,
                         cwg, Traits::kShortLiveRanges ? recompute_here(wtid) : tw);
    next_q(i + 1);
  };
  next_q(0);
  for (int i = 0;; ++i) {
    const TileSlot& slot = slots[i % kTileSlots];  // received by next_q(i)
    if (slot.v < 0) break;
    if (slot.ok) {
      consume(slot, i);
    } else {
      next_q(i + 1);
    }
    release_tile(bars, i);
  }
  wait_out_reads();  // the shared memory of the last TMA stores stays until they have read it
  // Launched to overlap the decode family's kernels (hopper_launch.cuh), which
  // write other rows: nothing here reads their results, but this grid finishes
  // only after them, so whatever the stream runs next sees every output.
  grid_dependency_wait();
#endif
}

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
