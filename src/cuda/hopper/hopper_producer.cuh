// The producer warpgroup of the Hopper prefill kernel: fills the K and V stage
// rings (hopper_pipeline.cuh) with the CTA's KV tiles from the paged cache.
//   TMA mode (HopperKvLoad::tma): a tile inside the sequence arrives as TMA boxes
//     (one per page: a page's rows of a tile are one block of the stage), issued by one lane of warp 0
//     with the page's block id (loaded a tile ahead by the lanes of warp 0); the
//     tile that crosses kv_len is gathered with zero-filling cp.async.
//   Gather mode: every tile by cp.async through a row table of K/V offsets
//     written a tile ahead (contiguous KV, page sizes TMA cannot tile).
//   16-bit KV lands in the swizzled stage itself; FP8 KV lands in a packed
//   staging tile and is widened to fp16 into the stage by the whole producer
//   warpgroup (each value converted once, off the consumers' critical path).
// A stage's full barrier counts one arrival per producer thread: TMA bytes ride
// on lane 0's (expect_tx), cp.async completions on each thread's
// (cp.async.mbarrier.arrive), FP8 widening on each thread's after a proxy fence.
#pragma once
#include <cutlass/arch/barrier.h>

#include <cstdint>
#include <cute/arch/copy_sm90_desc.hpp>
#include <cute/arch/copy_sm90_tma.hpp>

#include "cuda/common/fp8_widen.h"
#include "cuda/common/ptx.h"
#include "cuda/hopper/hopper_params.h"
#include "cuda/hopper/hopper_pipeline.cuh"
#include "cuda/hopper/hopper_traits.h"
#include "cuda/prefill/prefill_loads.cuh"
#include "cuda/prefill/prefill_params.h"

namespace kvattn {
namespace cuda {
namespace hopper {

constexpr int kProducerBarrier = 1;  // named barrier of the producer warpgroup (0 is __syncthreads)
constexpr int kKHalfBarrier = 8;     // FP8 TMA mode: warps 0-1 (K) and 2-3 (V) of the producer
constexpr int kVHalfBarrier = 9;

__device__ __forceinline__ void producer_sync() { cutlass::arch::NamedBarrier::sync(128, kProducerBarrier); }

__device__ __forceinline__ void fence_async_proxy() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// What the producer carries from one work tile to the next in the persistent
// kernel: its places in the K and V rings and the parities of its FP8 staging
// barriers (bit b: staging buffer b of this thread's ring).
// 16-bit KV fills a K and a V stage per tile from one ring state (the rings have
// as many stages): a ring state is two registers, and the producer of the
// three-consumer kernel has 32 for everything.
template <class Traits>
struct ProducerCursor {
  static_assert(Traits::kFp8Kv || Traits::kKStages == Traits::kVStages, "16-bit KV: one ring state for K and V");
  RingState<Traits::kKStages> ks = producer_start_state<Traits::kKStages>();
  RingState<Traits::kVStages> vs = producer_start_state<Traits::kVStages>();
  uint32_t raw_phases = 0;
};

template <class Traits>
struct Producer {
  static constexpr int kBlockN = Traits::kBlockN, kD = Traits::kHeadDim;
  static constexpr int kKStages = Traits::kKStages, kVStages = Traits::kVStages;
  static constexpr bool kFp8 = Traits::kFp8Kv;
  using Bars = typename Traits::Barriers;
  using KState = RingState<kKStages>;
  using VState = RingState<kVStages>;

  const PrefillParams& p;
  const HopperKvLoad& kv;
  unsigned experiment;  // kHopper* diagnostics (hopper_params.h)
  Bars& bars;
  ProducerCursor<Traits>& cur;
  uint32_t sbase;
  int64_t* rows;  // gather mode: [2][kBlockN] K element offsets of two tiles (V's too when its strides match)
  // KV tiles [t_begin, t_end) of the sequence (absolute indices: tile t starts at key
  // t * kBlockN, so no base is held across the loops).
  int b, hk, kv_len, k_row0, t_begin, t_end, tid;

  __device__ __forceinline__ int key0(int t) const { return t * kBlockN; }
  __device__ __forceinline__ bool inside(int t) const { return key0(t) + kBlockN <= kv_len; }
  __device__ __forceinline__ uint32_t k_stage(int s) const { return sbase + Traits::kOffK + s * Traits::kKvStageBytes; }
  __device__ __forceinline__ uint32_t v_stage(int s) const { return sbase + Traits::kOffV + s * Traits::kKvStageBytes; }

  // ---- cp.async gathers. The loops give each thread a fixed 16-byte column of
  // the tile and rows r0, r0 + kRowsPerPass, ...: the per-thread column and
  // swizzle terms are computed once, each step adds a constant (the producer is
  // one warp per scheduler, so its instruction count is its speed). off(r): the
  // element offset of tile row r, negative past kv_len (zero-filled).

  // 16-bit KV: 16-byte chunks straight into the swizzled stage.
  template <bool kIsV, class RowOffset>
  __device__ __forceinline__ void gather_wide(uint32_t dst_stage, RowOffset off) const {
    using KvT = typename Traits::QT;
    constexpr int kChunks = kD / 8;  // per row
    constexpr int kRowsPerPass = 128 / kChunks;
    const uint32_t c = static_cast<uint32_t>(tid) % kChunks, r0 = static_cast<uint32_t>(tid) / kChunks;
    const KvT* src = static_cast<const KvT*>(kIsV ? p.v : p.k);
    using Rows = StageRows<kD, kRowsPerPass>;  // r0 < kRowsPerPass
    const KvT* src_col = src + c * 8;
    const uint32_t dst_col = dst_stage + (c / 8) * 1024 + (c % 8) * 16;
#pragma unroll
    for (int i = 0; i < kBlockN / kRowsPerPass; ++i) {
      const uint32_t r = r0 + i * kRowsPerPass;
      const int64_t o = off(r);
      const bool valid = o >= 0;
      // (r * 128 spelled out for D 64: the same value, but the 32-register producer spills less so)
      cp_async_16((dst_col + (kD == 64 ? r * 128 : Rows::offset(r0, i))) ^ ((r & 7) << 4), valid ? src_col + o : src,
                  valid ? 16 : 0);
    }
  }

  // FP8 KV: packed rows (kD bytes) into the staging tile, by kThreads threads
  // (thread index t).
  template <bool kIsV, int kThreads = 128, class RowOffset>
  __device__ __forceinline__ void gather_raw(uint32_t dst, RowOffset off, int t = -1) const {
    constexpr int kChunks = kD / 16;
    constexpr int kRowsPerPass = kThreads / kChunks;
    // kShortLiveRanges: recomputed per call (the boundary tile's gather sits in the tile
    // loop; its hoisted row indices pushed the 56-register D 256 producer into local memory).
    const int who = t < 0 ? tid : t;
    const uint32_t me = static_cast<uint32_t>(Traits::kShortLiveRanges ? recompute_here(who) : who);
    const uint32_t c = me % kChunks, r0 = me / kChunks;
    const uint8_t* src = static_cast<const uint8_t*>(kIsV ? p.v : p.k);
    const uint8_t* src_col = src + c * 16;
    const uint32_t dst_col = dst + c * 16;
#pragma unroll
    for (int i = 0; i < kBlockN / kRowsPerPass; ++i) {
      const uint32_t r = r0 + i * kRowsPerPass;
      const int64_t o = off(r);
      const bool valid = o >= 0;
      cp_async_16(dst_col + r * kD, valid ? src_col + o : src, valid ? 16 : 0);
    }
  }

  // Row offsets from the row table (gather mode) or computed per row (TMA mode's
  // boundary tile, once per CTA; V in gather mode when its strides differ from K's).
  __device__ __forceinline__ auto table_rows(int t) const {
    const int64_t* tr = rows + (t & 1) * kBlockN;
    return [tr](uint32_t r) { return tr[r]; };
  }
  __device__ __forceinline__ bool v_like_k() const {
    return p.v_stride_block == p.k_stride_block && p.v_stride_token == p.k_stride_token &&
           p.v_stride_head == p.k_stride_head;
  }
  template <bool kIsV>
  __device__ __forceinline__ auto direct_rows(int t) const {
    const int k0 = key0(t);
    return [this, k0](uint32_t r) {
      const int pos = k0 + static_cast<int>(r);
      const longlong2 o = kv_row_offsets(p, hk, k_row0, pos, kv_block(p, b, kv_len, pos));
      return kIsV ? o.y : o.x;
    };
  }

  // Gather mode's row table of tile t (threads < kBlockN), from its block id.
  __device__ __forceinline__ int block_of(int t) const { return kv_block(p, b, kv_len, key0(t) + tid); }
  __device__ __forceinline__ void write_rows(int t, int block) const {
    if (tid < kBlockN) rows[(t & 1) * kBlockN + tid] = kv_row_offsets(p, hk, k_row0, key0(t) + tid, block).x;
  }

  // Staging tile -> fp16 stage, by kThreads threads (thread index t): per step
  // 16 codes (one 16-byte load, a "piece") -> two 16-byte swizzled chunks, units
  // 2i and 2i + 1 of a 64-column swizzle atom row (4 pieces per atom row; atoms
  // 1 KB apart, i.e. on the same banks). Lane map: in each group
  // of 8 lanes (one shared-memory phase of a 16-byte access) lanes 0-3 take
  // pieces 0-3 of atom a in row 2q, lanes 4-7 pieces 0-3 of atom a ^ 1 in row
  // 2q + 1 (a for single-atom rows). The loads then cover all 32 banks (the two
  // rows' halves differ), and so do the stores: 2i ^ (row & 7) is even for one
  // row and odd for the other. Every thread keeps its (row mod 8, piece), so its
  // addresses are a base plus constants per pass: no data swaps, no swizzle
  // arithmetic in the loop.
  template <Fp8Format kFormat, int kThreads>
  __device__ __forceinline__ void widen(uint32_t src, uint32_t dst_stage, int t) const {
    constexpr int kWide = kD / 16;  // pieces per row
    constexpr int kAtoms = kWide / 4;
    constexpr int kRowsPerPass = kThreads / kWide;
    constexpr int kPasses = kBlockN / kRowsPerPass;
    constexpr int kBatch = kPasses < Traits::kWidenBatch ? kPasses : Traits::kWidenBatch;
    static_assert(kThreads % (8 * kAtoms) == 0 && kBlockN % kRowsPerPass == 0, "widen passes must tile the stage");
    static_assert(kPasses % kBatch == 0, "batches must tile the passes");
    const uint32_t ut = static_cast<uint32_t>(t);
    const uint32_t i = ut & 3u, h = (ut >> 2) & 1u, g = ut >> 3;
    const uint32_t atom = (g % kAtoms) ^ (kAtoms > 1 ? h : 0u);
    const uint32_t row0 = 2u * (g / kAtoms) + h;  // < kRowsPerPass
    using Rows = StageRows<kD, kRowsPerPass>;
    const uint32_t src0 = src + row0 * kD + (4u * atom + i) * 16u;
    const uint32_t dst0 = dst_stage + atom * 1024u + Rows::offset(row0, 0);  // + Rows::offset(0, pass) per pass
    // kBatch loads are issued back to back before the first store uses one: the
    // shared accesses are volatile asm (kept in program order), so a store waiting
    // on its load holds every later load behind that round trip. With one load in
    // flight the widening of a tile was a chain of 16 shared-memory round trips
    // (slow ones: the WGMMAs read the same shared memory) and set the pace of the
    // whole kernel: e4m3 prefill 451 -> 531-543 TFLOP/s with 4 (docs/perf-notes.md).
    static_assert(kRowsPerPass % 8 == 0 || kBatch % 2 == 0, "a batch moves whole 8-row groups (StageRows::span)");
#pragma unroll 1
    for (int i0 = 0; i0 < kPasses; i0 += kBatch) {
      uint4 codes[kBatch];
#pragma unroll
      for (int k = 0; k < kBatch; ++k) codes[k] = lds128(src0 + (i0 + k) * (kRowsPerPass * kD));
#pragma unroll
      for (int k = 0; k < kBatch; ++k) {
        // Row r's units sit at unit ^ (r & 7): the same for every pass when a pass
        // moves a multiple of 8 rows (then both stores are a base plus a constant).
        const uint32_t step = static_cast<uint32_t>(i0 + k) * kRowsPerPass;
        const uint32_t swz = ((kRowsPerPass % 8 == 0 ? row0 : row0 + step) & 7u) << 4;
        const uint32_t at = dst0 + static_cast<uint32_t>(i0) / kBatch * Rows::span(kBatch) + Rows::offset(0, k);
        const uint4 c = codes[k];
        sts128(at + ((32u * i) ^ swz), widen_fp8x8<__half, kFormat>(make_uint2(c.x, c.y)));
        sts128(at + ((32u * i + 16u) ^ swz), widen_fp8x8<__half, kFormat>(make_uint2(c.z, c.w)));
      }
    }
  }
  template <int kThreads = 128>
  __device__ __forceinline__ void widen_any(uint32_t src, uint32_t dst_stage, int t) const {
    if (p.kv_e5m2)
      widen<Fp8Format::kE5M2, kThreads>(src, dst_stage, t);
    else
      widen<Fp8Format::kE4M3, kThreads>(src, dst_stage, t);
  }

  // ---- TMA. Page slot s of a tile: box_rows cache rows starting at key
  // key0 + s * box_rows; lane s of warp 0 holds its block id and row in page.
  struct Slot {
    int block = 0, row = 0;
  };
  __device__ __forceinline__ Slot load_slot(int t) const {
    Slot s;
    const int lane = tid % 32;
    if (lane * kv.box_rows < kBlockN && t < t_end) {
      const int pos = key0(t) + lane * kv.box_rows;
      const int page = static_cast<int>(p.page_size.div(static_cast<uint32_t>(pos)));
      s.row = pos - page * static_cast<int>(p.page_size.divisor);
      s.block = pos < kv_len ? __ldg(p.block_table + static_cast<int64_t>(b) * p.block_table_stride + page) : 0;
    }
    return s;
  }
  // Warp 0: lane 0 expects the tile's bytes on bar, then lane s issues the box of
  // page slot s into dst: box_rows rows are box_rows * kD elements of the stage in
  // both layouts (16-bit: the swizzled stage, whose 8-row groups the 5D map of
  // D > 64 addresses as block * groups + row / 8, hopper_tma.cu; FP8: the packed
  // staging tile). One lane per page keeps the issue of up to 16 boxes off a single
  // thread's critical path.
  __device__ __forceinline__ void tma_tile(const CUtensorMap& map, int groups, uint32_t dst, uint64_t* bar,
                                           Slot slot) const {
    constexpr uint32_t kBytes = kBlockN * kD * (kFp8 ? 1 : 2);
    const int lane = tid % 32;
    if (lane == 0) cutlass::arch::ClusterTransactionBarrier::arrive_and_expect_tx(bar, kBytes);
    __syncwarp();
    if (lane * kv.box_rows >= kBlockN) return;
    const uint64_t hint = static_cast<uint64_t>(cute::TMA::CacheHintSm90::EVICT_NORMAL);
    if constexpr (kFp8 || kD == 64) {
      cute::SM90_TMA_LOAD_4D::copy(&map, bar, hint, generic_smem(dst + lane * kv.box_rows * (kFp8 ? kD : kD * 2)), 0,
                                   slot.row, hk, slot.block);
    } else {
      cute::SM90_TMA_LOAD_5D::copy(&map, bar, hint, generic_smem(dst + lane * kv.box_rows * (kD * 2)), 0, 0, 0,
                                   slot.block * groups + (slot.row >> 3), hk);
    }
  }

  // Full-barrier arrivals of a stage filled by cp.async (each thread: its copies'
  // completion plus its own arrival, net one) or by TMA (lane 0 of warp 0 arrived
  // with the bytes; everyone else arrives once).
  static __device__ __forceinline__ void arrive_gathered(uint64_t* full) {
    cutlass::arch::cpasync_barrier_arrive(full);
    cutlass::arch::ClusterBarrier::arrive(full);
  }
  __device__ __forceinline__ void arrive_tma(uint64_t* full) const {
    if (tid != 0) cutlass::arch::ClusterBarrier::arrive(full);
  }

  __device__ __forceinline__ void run() const {
    if (kv.tma) {
      if constexpr (kFp8)
        run_tma_fp8();
      else
        run_tma_wide();
    } else {
      if constexpr (kFp8)
        run_gather_fp8();
      else
        run_gather_wide();
    }
  }

  // ---- 16-bit KV ----
  // TMA mode: tile j of K or V into the ring's next stage (TMA inside the
  // sequence, the zero-filling gather for the tile crossing kv_len).
  template <bool kIsV, class Ring, class State>
  __device__ __forceinline__ void fill_wide(Ring& ring, const State& st, int j, const Slot& slot, bool copy) const {
    uint64_t* full = &ring.full[st.index()];
    const uint32_t stage = kIsV ? v_stage(st.index()) : k_stage(st.index());
    producer_acquire(ring, st);
    if (inside(j)) {
      if (tid < 32 && copy) tma_tile(kIsV ? kv.v_map : kv.k_map, kIsV ? kv.v_groups : kv.k_groups, stage, full, slot);
      if (!copy && tid == 0) cutlass::arch::ClusterBarrier::arrive(full);
      arrive_tma(full);
    } else {
      if (copy) gather_wide<kIsV>(stage, direct_rows<kIsV>(j));
      arrive_gathered(full);
    }
  }

  __device__ __forceinline__ void run_tma_wide() const {
    const bool copy = !(experiment & kHopperNoLoad);
    const bool warp0 = tid < 32;
    KState& st = cur.ks;  // both rings (ProducerCursor)
    Slot slot = warp0 ? load_slot(t_begin) : Slot{};
    for (int j = t_begin; j < t_end; ++j) {
      const Slot next = warp0 ? load_slot(j + 1) : Slot{};  // in flight while this tile is issued
      fill_wide<false>(bars.k, st, j, slot, copy);
      fill_wide<true>(bars.v, st, j, slot, copy);
      ++st;
      slot = next;
    }
    cp_async_wait_group<0>();
  }

  __device__ __forceinline__ void run_gather_wide() const {
    const bool copy = !(experiment & kHopperNoLoad);
    const bool v_table = v_like_k();
    KState& st = cur.ks;  // both rings (ProducerCursor)
    // Row tables of tiles 0 and 1; block ids of tile t+2 are loaded during tile t.
    write_rows(t_begin, block_of(t_begin));
    if (t_begin + 1 < t_end) write_rows(t_begin + 1, block_of(t_begin + 1));
    producer_sync();
    for (int j = t_begin; j < t_end; ++j) {
      const int ahead = (tid < kBlockN && j + 2 < t_end) ? block_of(j + 2) : -1;
      producer_acquire(bars.k, st);
      if (copy) gather_wide<false>(k_stage(st.index()), table_rows(j));
      arrive_gathered(&bars.k.full[st.index()]);
      producer_acquire(bars.v, st);
      if (copy) {
        if (v_table)
          gather_wide<true>(v_stage(st.index()), table_rows(j));
        else
          gather_wide<true>(v_stage(st.index()), direct_rows<true>(j));
      }
      arrive_gathered(&bars.v.full[st.index()]);
      producer_sync();  // everyone done reading row slot j % 2
      if (j + 2 < t_end) write_rows(j + 2, ahead);
      ++st;
    }
    cp_async_wait_group<0>();
  }

  // ---- FP8 KV: staging tile -> widened stage ----
  // Widens the staging tile into stage `dst` of ring r and marks it full.
  template <bool kIsV, int kThreads = 128, class Ring, class State>
  __device__ __forceinline__ void widen_into(Ring& r, const State& st, uint32_t raw, uint32_t dst, bool copy,
                                             int t) const {
    producer_acquire(r, st);
    const unsigned skip = kHopperNoWiden | (kIsV ? kHopperNoWidenV : kHopperNoWidenK);
    if (copy && !(experiment & skip)) widen_any<kThreads>(raw, dst, t);
    fence_async_proxy();  // generic stores -> the tensor cores' reads
    cutlass::arch::ClusterBarrier::arrive(&r.full[st.index()]);
  }

  // TMA mode: the producer splits in two halves of 64 threads, warps 0-1 for K and
  // warps 2-3 for V, each walking its own ring without waiting on the other (the
  // staging -> widen -> signal chain of one tile is serial, so two of them run side
  // by side). A half has kRawBuffers staging tiles; tile t uses buffer
  // t % kRawBuffers, so with two the TMA of tile j + 2 flies while tile j + 1 is
  // widened. The full barriers of FP8 stages count the 64 threads of their half.
  static constexpr int kHalfThreads = 64;
  template <bool kIsV>
  __device__ __forceinline__ void run_tma_fp8_half() const {
    constexpr int kBufs = Traits::kRawBuffers;
    constexpr int kStages = kIsV ? kVStages : kKStages;
    const bool copy = !(experiment & kHopperNoLoad);
    const int htid = tid % kHalfThreads;
    const bool issuer = htid < 32;  // warp 0 (K) or warp 2 (V)
    const CUtensorMap& map = kIsV ? kv.v_map : kv.k_map;
    uint64_t* raw_bar = kIsV ? bars.raw_v : bars.raw_k;
    const uint32_t raw0 = sbase + (kIsV ? Traits::kOffRawV : Traits::kOffRawK);
    const auto half_sync = [] { cutlass::arch::NamedBarrier::sync(kHalfThreads, kIsV ? kVHalfBarrier : kKHalfBarrier); };
    uint32_t& phases = cur.raw_phases;  // bit b: parity of staging barrier b's next phase
    // Tile t into its staging tile: TMA (inside the sequence) or zero-filling cp.async.
    const auto fill = [&](int t, Slot slot) {
      if (!copy || t >= t_end) return;
      const int buf = t % kBufs;
      if (inside(t)) {
        if (issuer) tma_tile(map, 0, raw0 + buf * Traits::kRawBytes, &raw_bar[buf], slot);
      } else {
        gather_raw<kIsV, kHalfThreads>(raw0 + buf * Traits::kRawBytes, direct_rows<kIsV>(t), htid);
        cp_async_commit();
      }
    };
    // Waits until staging holds tile t (every thread of the half).
    const auto landed = [&](int t) {
      if (!copy) return;
      const int buf = t % kBufs;
      if (inside(t)) {
        cutlass::arch::ClusterBarrier::wait(&raw_bar[buf], (phases >> buf) & 1u);
        phases ^= 1u << buf;
      } else {
        cp_async_wait_group<0>();  // only the boundary tile is gathered
        half_sync();
      }
    };
    auto& ring = [&]() -> auto& {
      if constexpr (kIsV)
        return bars.v;
      else
        return bars.k;
    }();
    RingState<kStages>& st = [&]() -> RingState<kStages>& {
      if constexpr (kIsV)
        return cur.vs;
      else
        return cur.ks;
    }();
    // Slots of the next tile to fill (issuer warp): tiles 0 .. kBufs - 1 now, then
    // tile j + kBufs during tile j.
    Slot ahead = issuer ? load_slot(t_begin) : Slot{};
    for (int t = t_begin; t < t_begin + kBufs; ++t) {
      fill(t, ahead);
      ahead = issuer ? load_slot(t + 1) : Slot{};
    }
    for (int j = t_begin; j < t_end; ++j) {
      const int buf = j % kBufs;
      landed(j);
      const uint32_t stage = sbase + (kIsV ? Traits::kOffV : Traits::kOffK) + st.index() * Traits::kKvStageBytes;
      widen_into<kIsV, kHalfThreads>(ring, st, raw0 + buf * Traits::kRawBytes, stage, copy, htid);
      half_sync();  // staging[buf] read by the whole half
      fill(j + kBufs, ahead);
      ahead = issuer ? load_slot(j + kBufs + 1) : Slot{};
      ++st;
    }
    cp_async_wait_group<0>();
  }
  __device__ __forceinline__ void run_tma_fp8() const {
    if (tid < kHalfThreads)
      run_tma_fp8_half<false>();
    else
      run_tma_fp8_half<true>();
  }

  __device__ __forceinline__ void run_gather_fp8() const {
    const bool copy = !(experiment & kHopperNoLoad);
    const bool v_table = v_like_k();
    const uint32_t raw_k = sbase + Traits::kOffRawK, raw_v = sbase + Traits::kOffRawV;
    const auto gather_v = [&](int t) {
      if (v_table)
        gather_raw<true>(raw_v, table_rows(t));
      else
        gather_raw<true>(raw_v, direct_rows<true>(t));
    };
    KState& ks = cur.ks;
    VState& vs = cur.vs;
    write_rows(t_begin, block_of(t_begin));
    if (t_begin + 1 < t_end) write_rows(t_begin + 1, block_of(t_begin + 1));
    producer_sync();
    if (copy) gather_raw<false>(raw_k, table_rows(t_begin));
    cp_async_commit();
    if (copy) gather_v(t_begin);
    cp_async_commit();
    for (int j = t_begin; j < t_end; ++j) {
      const int ahead = (tid < kBlockN && j + 2 < t_end) ? block_of(j + 2) : -1;
      // K: staging holds tile j once this thread's group landed and all threads synced.
      cp_async_wait_group<1>();
      producer_sync();
      widen_into<false>(bars.k, ks, raw_k, k_stage(ks.index()), copy, tid);
      producer_sync();  // staging K free
      if (copy && j + 1 < t_end) gather_raw<false>(raw_k, table_rows(j + 1));
      cp_async_commit();
      // V likewise.
      cp_async_wait_group<1>();
      producer_sync();
      widen_into<true>(bars.v, vs, raw_v, v_stage(vs.index()), copy, tid);
      producer_sync();  // staging V free; row slot j % 2 read by every thread
      if (copy && j + 1 < t_end) gather_v(j + 1);
      cp_async_commit();
      if (j + 2 < t_end) write_rows(j + 2, ahead);
      ++ks;
      ++vs;
    }
    cp_async_wait_group<0>();
  }
};

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
