// The producer warpgroup of the Hopper prefill kernel: streams the CTA's K/V tiles from
// the paged cache into the shared-memory stages the consumers' WGMMAs read, through a
// per-tile row table (block-table lookups one tile ahead).
//   16-bit KV: cp.async straight into the swizzled stage; the stage's full barrier
//     completes when every producer thread arrived and its copies landed
//     (cp.async.mbarrier.arrive), so the producer never waits on data.
//   FP8 KV: cp.async into a packed staging tile, then widened to fp16 into the stage by
//     the producer (each FP8 value converted once, off the consumers' critical path);
//     every thread fences (the tensor cores read through the async proxy) and arrives.
#pragma once
#include <cutlass/arch/barrier.h>

#include <cstdint>

#include "cuda/common/fp8_widen.h"
#include "cuda/common/ptx.h"
#include "cuda/hopper/hopper_traits.h"
#include "cuda/prefill/prefill_loads.cuh"
#include "cuda/prefill/prefill_params.h"

namespace kvattn {
namespace cuda {
namespace hopper {

constexpr int kProducerBarrier = 1;  // named barrier of the producer warpgroup (0 is __syncthreads)

__device__ __forceinline__ void producer_sync() { cutlass::arch::NamedBarrier::sync(128, kProducerBarrier); }

__device__ __forceinline__ void fence_async_proxy() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

template <class Traits>
struct Producer {
  static constexpr int kBlockN = Traits::kBlockN, kD = Traits::kHeadDim;
  using Pipeline = typename Traits::Pipeline;
  using State = typename cutlass::PipelineState<Traits::kStages>;

  const PrefillParams& p;
  uint32_t sbase;
  longlong2* rows;  // [2][kBlockN]
  int b, hk, kv_len, k_row0, tile_lo, n_tiles, tid;

  __device__ __forceinline__ int block_of(int t) const { return kv_block(p, b, kv_len, (tile_lo + t) * kBlockN + tid); }
  // Row table of tile t (threads < kBlockN), from its block id.
  __device__ __forceinline__ void write_rows(int t, int block) const {
    if (tid < kBlockN)
      rows[(t & 1) * kBlockN + tid] = kv_row_offsets(p, hk, k_row0, (tile_lo + t) * kBlockN + tid, block);
  }

  // The copy and widening loops give each thread a fixed 16-byte column of the
  // tile and rows r0, r0 + kRowsPerPass, ...: the per-thread column and swizzle
  // terms are computed once, each step adds a constant (the producer is a single
  // warp per scheduler, so its instruction count is its speed).

  // 16-bit KV: the 16-byte chunks of tile t go straight to the swizzled stage.
  template <class KvT, bool kIsV>
  __device__ __forceinline__ void issue_wide(int t, uint32_t dst_stage) const {
    constexpr int kChunks = kD / 8;  // per row
    constexpr int kRowsPerPass = 128 / kChunks;
    const uint32_t c = static_cast<uint32_t>(tid) % kChunks, r0 = static_cast<uint32_t>(tid) / kChunks;
    const KvT* src = static_cast<const KvT*>(kIsV ? p.v : p.k);
    const KvT* src_col = src + c * 8;
    const longlong2* tr = rows + (t & 1) * kBlockN;
    const uint32_t dst_col = dst_stage + (c / 8) * (kBlockN * 128) + (c % 8) * 16;
#pragma unroll
    for (int i = 0; i < kBlockN / kRowsPerPass; ++i) {
      const uint32_t r = r0 + i * kRowsPerPass;
      const int64_t off = kIsV ? tr[r].y : tr[r].x;
      const bool valid = off >= 0;
      cp_async_16((dst_col + r * 128) ^ ((r & 7) << 4), valid ? src_col + off : src, valid ? 16 : 0);
    }
  }

  // FP8 KV: packed rows (kD bytes) of tile t into the staging tile.
  template <bool kIsV>
  __device__ __forceinline__ void issue_raw(int t, uint32_t dst) const {
    constexpr int kChunks = kD / 16;
    constexpr int kRowsPerPass = 128 / kChunks;
    const uint32_t c = static_cast<uint32_t>(tid) % kChunks, r0 = static_cast<uint32_t>(tid) / kChunks;
    const uint8_t* src = static_cast<const uint8_t*>(kIsV ? p.v : p.k);
    const uint8_t* src_col = src + c * 16;
    const longlong2* tr = rows + (t & 1) * kBlockN;
    const uint32_t dst_col = dst + c * 16;
#pragma unroll
    for (int i = 0; i < kBlockN / kRowsPerPass; ++i) {
      const uint32_t r = r0 + i * kRowsPerPass;
      const int64_t off = kIsV ? tr[r].y : tr[r].x;
      const bool valid = off >= 0;
      cp_async_16(dst_col + r * kD, valid ? src_col + off : src, valid ? 16 : 0);
    }
  }

  // Staging tile -> fp16 stage: 8 codes (8 bytes) -> one 16-byte swizzled chunk per step.
  template <Fp8Format kFormat>
  __device__ __forceinline__ void widen(uint32_t src, uint32_t dst_stage) const {
    constexpr int kUnits = kD / 8;
    constexpr int kRowsPerPass = 128 / kUnits;
    const uint32_t u = static_cast<uint32_t>(tid) % kUnits, r0 = static_cast<uint32_t>(tid) / kUnits;
    const uint32_t src_col = src + u * 8;
    const uint32_t dst_col = dst_stage + (u / 8) * (kBlockN * 128) + (u % 8) * 16;
#pragma unroll 8
    for (int i = 0; i < kBlockN / kRowsPerPass; ++i) {
      const uint32_t r = r0 + i * kRowsPerPass;
      const uint2 codes = lds64(src_col + r * kD);
      sts128((dst_col + r * 128) ^ ((r & 7) << 4), widen_fp8x8<__half, kFormat>(codes));
    }
  }
  // FP8 KV, direct path: each thread loads 8-code units of tile t straight into
  // registers (unit u of rows r0, r0 + kRowsPerPass, ...), then widens them into
  // the swizzled stage -- no staging tile, no producer barrier per tile. The loads
  // are issued before the stage is acquired, so they fly while the producer waits.
  static constexpr int kUnitsPerRow = kD / 8;
  static constexpr int kUnitRowsPerPass = 128 / kUnitsPerRow;
  static constexpr int kUnitPasses = kBlockN / kUnitRowsPerPass;
  template <bool kIsV>
  __device__ __forceinline__ void load_units(int t, uint2 (&codes)[kUnitPasses]) const {
    const uint32_t u = static_cast<uint32_t>(tid) % kUnitsPerRow, r0 = static_cast<uint32_t>(tid) / kUnitsPerRow;
    const uint8_t* src_col = static_cast<const uint8_t*>(kIsV ? p.v : p.k) + u * 8;
    const longlong2* tr = rows + (t & 1) * kBlockN;
#pragma unroll
    for (int i = 0; i < kUnitPasses; ++i) {
      const int64_t off = kIsV ? tr[r0 + i * kUnitRowsPerPass].y : tr[r0 + i * kUnitRowsPerPass].x;
      codes[i] = off >= 0 ? __ldg(reinterpret_cast<const uint2*>(src_col + off)) : make_uint2(0u, 0u);
    }
  }
  template <Fp8Format kFormat>
  __device__ __forceinline__ void store_units(const uint2 (&codes)[kUnitPasses], uint32_t dst_stage) const {
    const uint32_t u = static_cast<uint32_t>(tid) % kUnitsPerRow, r0 = static_cast<uint32_t>(tid) / kUnitsPerRow;
    const uint32_t dst_col = dst_stage + (u / 8) * (kBlockN * 128) + (u % 8) * 16;
#pragma unroll
    for (int i = 0; i < kUnitPasses; ++i) {
      const uint32_t r = r0 + i * kUnitRowsPerPass;
      sts128((dst_col + r * 128) ^ ((r & 7) << 4), widen_fp8x8<__half, kFormat>(codes[i]));
    }
  }
  __device__ __forceinline__ void store_units_any(const uint2 (&codes)[kUnitPasses], uint32_t dst_stage) const {
    if (p.kv_e5m2)
      store_units<Fp8Format::kE5M2>(codes, dst_stage);
    else
      store_units<Fp8Format::kE4M3>(codes, dst_stage);
  }

  __device__ __forceinline__ void widen_any(uint32_t src, uint32_t dst_stage) const {
    if (p.kv_e5m2)
      widen<Fp8Format::kE5M2>(src, dst_stage);
    else
      widen<Fp8Format::kE4M3>(src, dst_stage);
  }

  __device__ __forceinline__ uint32_t k_stage(int s) const { return sbase + Traits::kOffK + s * Traits::kKvStageBytes; }
  __device__ __forceinline__ uint32_t v_stage(int s) const { return sbase + Traits::kOffV + s * Traits::kKvStageBytes; }

  __device__ __forceinline__ void run(Pipeline& pipe_k, Pipeline& pipe_v) const {
    State state = cutlass::make_producer_start_state<Pipeline>();
    // Row tables of tiles 0 and 1; block ids of tile t+2 are loaded during tile
    // t.
    write_rows(0, block_of(0));
    if (n_tiles > 1) write_rows(1, block_of(1));
    producer_sync();

    if constexpr (!Traits::kFp8Kv) {
      // The stage's full barrier completes when every producer thread arrived and
      // (cp.async.mbarrier.arrive) its copies landed: the producer never waits on data.
      using KvT = typename Traits::QT;
      const bool copy = !(p.hopper_experiment & kHopperNoLoad);
      if (p.hopper_experiment & kHopperKAhead) {
        // K(j + 1) before V(j): the consumers need K one slot before V.
        State v_state = state;
        pipe_k.producer_acquire(state);
        if (copy) issue_wide<KvT, false>(0, k_stage(state.index()));
        pipe_k.producer_commit(state, cutlass::arch::cpasync_barrier_arrive);
        ++state;
        for (int j = 0; j < n_tiles; ++j) {
          const int ahead = (tid < kBlockN && j + 2 < n_tiles) ? block_of(j + 2) : -1;
          if (j + 1 < n_tiles) {
            pipe_k.producer_acquire(state);
            if (copy) issue_wide<KvT, false>(j + 1, k_stage(state.index()));
            pipe_k.producer_commit(state, cutlass::arch::cpasync_barrier_arrive);
            ++state;
          }
          pipe_v.producer_acquire(v_state);
          if (copy) issue_wide<KvT, true>(j, v_stage(v_state.index()));
          pipe_v.producer_commit(v_state, cutlass::arch::cpasync_barrier_arrive);
          ++v_state;
          producer_sync();  // everyone done reading row slot j % 2
          if (j + 2 < n_tiles) write_rows(j + 2, ahead);
          producer_sync();  // row slot (j + 2) % 2 visible: the next iteration issues K(j + 2)
        }
      } else {
        for (int j = 0; j < n_tiles; ++j) {
          const int ahead = (tid < kBlockN && j + 2 < n_tiles) ? block_of(j + 2) : -1;
          pipe_k.producer_acquire(state);
          if (copy) issue_wide<KvT, false>(j, k_stage(state.index()));
          pipe_k.producer_commit(state, cutlass::arch::cpasync_barrier_arrive);
          pipe_v.producer_acquire(state);
          if (copy) issue_wide<KvT, true>(j, v_stage(state.index()));
          pipe_v.producer_commit(state, cutlass::arch::cpasync_barrier_arrive);
          producer_sync();  // everyone done reading row slot j % 2
          if (j + 2 < n_tiles) write_rows(j + 2, ahead);
          ++state;
        }
      }
      cp_async_wait_group<0>();
    } else if constexpr (Traits::kFp8Direct) {
      uint2 codes[kUnitPasses];
      load_units<false>(0, codes);
      for (int j = 0; j < n_tiles; ++j) {
        const int ahead = (tid < kBlockN && j + 2 < n_tiles) ? block_of(j + 2) : -1;
        pipe_k.producer_acquire(state);
        store_units_any(codes, k_stage(state.index()));
        fence_async_proxy();
        pipe_k.producer_commit(state);
        load_units<true>(j, codes);
        pipe_v.producer_acquire(state);
        store_units_any(codes, v_stage(state.index()));
        fence_async_proxy();
        pipe_v.producer_commit(state);
        producer_sync();  // every thread done reading row slot j % 2; slot (j + 1) % 2 complete
        if (j + 2 < n_tiles) write_rows(j + 2, ahead);
        if (j + 1 < n_tiles) load_units<false>(j + 1, codes);
        ++state;
      }
    } else {
      const uint32_t raw_k = sbase + Traits::kOffRawK, raw_v = sbase + Traits::kOffRawV;
      const bool copy = !(p.hopper_experiment & kHopperNoLoad);
      if (copy) issue_raw<false>(0, raw_k);
      cp_async_commit();
      if (copy) issue_raw<true>(0, raw_v);
      cp_async_commit();
      for (int j = 0; j < n_tiles; ++j) {
        const int ahead = (tid < kBlockN && j + 2 < n_tiles) ? block_of(j + 2) : -1;
        // K: staging holds tile j once this thread's group lands and all
        // threads synced.
        cp_async_wait_group<1>();
        producer_sync();
        pipe_k.producer_acquire(state);
        if (copy) widen_any(raw_k, k_stage(state.index()));
        fence_async_proxy();
        pipe_k.producer_commit(state);
        producer_sync();  // staging K free
        if (copy && j + 1 < n_tiles) issue_raw<false>(j + 1, raw_k);
        cp_async_commit();
        // V likewise.
        cp_async_wait_group<1>();
        producer_sync();
        pipe_v.producer_acquire(state);
        if (copy) widen_any(raw_v, v_stage(state.index()));
        fence_async_proxy();
        pipe_v.producer_commit(state);
        producer_sync();  // staging V free; row slot j % 2 read by every thread
        if (copy && j + 1 < n_tiles) issue_raw<true>(j + 1, raw_v);
        cp_async_commit();
        if (j + 2 < n_tiles) write_rows(j + 2, ahead);
        ++state;
      }
      cp_async_wait_group<0>();
    }
  }
};

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
