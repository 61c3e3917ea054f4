// The consumer warpgroups' own global <-> shared traffic: each loads its 64 Q rows
// into the swizzled Q tile (bf16 q with FP8 KV: rewritten per row as fp16 x 2^c,
// HalfRescale in prefill_loads.cuh) and at the end writes its O rows and LSE, staged
// through the same rows of the Q tile so that global stores are whole 16-byte chunks.
// Rows of one head at consecutive tokens move as TMA boxes instead (HopperRowTma).
#pragma once
#include <cutlass/arch/barrier.h>

#include <cstdint>
#include <cute/arch/copy_sm90_tma.hpp>

#include "cuda/common/ptx.h"
#include "cuda/hopper/hopper_params.h"
#include "cuda/hopper/hopper_softmax.cuh"
#include "cuda/hopper/hopper_tile.cuh"
#include "cuda/hopper/hopper_traits.h"
#include "cuda/prefill/prefill_epilogue.cuh"
#include "cuda/prefill/prefill_loads.cuh"
#include "cuda/prefill/prefill_params.h"

namespace kvattn {
namespace cuda {
namespace hopper {

// Named barrier of consumer warpgroup wg (0, 1, 2 -> ids 2, 3, 4).
__device__ __forceinline__ void warpgroup_sync(int wg) { cutlass::arch::NamedBarrier::sync(128, 2 + wg); }

// Producer thread t: L2 prefetches of Q tile rows t, t + 128, ... (< rows_valid),
// each row's kD * 2 bytes as 128-byte lines.
template <class Traits>
__device__ __forceinline__ void prefetch_q_rows(const PrefillParams& p, const RowMap& rows, int rows_valid, int t) {
  using QT = typename Traits::QT;
#pragma unroll
  for (int r = t; r < Traits::kBlockM; r += 128) {
    if (r >= rows_valid) break;
    const char* row = reinterpret_cast<const char*>(static_cast<const QT*>(p.q) +
                                                    static_cast<int64_t>(rows.head(r)) * p.q_stride_head +
                                                    rows.token(r) * p.q_stride_token);
#pragma unroll
    for (int line = 0; line < Traits::kHeadDim * 2 / 128; ++line)
      asm volatile("prefetch.global.L2 [%0];" ::"l"(row + 128 * line));
  }
}

// Rows [64 wg, 64 wg + 64) of the CTA's Q tile (tile row r: query head
// rows.head(r) at token rows.token(r)); rows >= rows_valid are zeros. 8 threads
// per row, 16 rows per pass. In two halves: load() issues the global loads into
// registers, store() writes the swizzled Q tile (kQToHalf: row factors 2^-c to
// row_factor[]). load_staged() instead reads rows that TMA put into the Q tile, for
// store() to rewrite in place (kQToHalf: each thread reads and writes its own chunks).
template <class Traits>
struct QRows {
  using QT = typename Traits::QT;
  static constexpr int kD = Traits::kHeadDim;
  static constexpr int kPerThread = kD / 64;  // 16-byte chunks of a row per thread and pass
  uint4 w[4][kPerThread];

  __device__ __forceinline__ void load(const PrefillParams& p, const RowMap& rows, int rows_valid, int wg,
                                       int wtid) {
#pragma unroll
    for (int pass = 0; pass < 4; ++pass) {
      const int r = 64 * wg + 16 * pass + wtid / 8;
      const bool valid = r < rows_valid;
      const QT* q = static_cast<const QT*>(p.q) + static_cast<int64_t>(rows.head(r)) * p.q_stride_head +
                    rows.token(r) * p.q_stride_token;
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) {
        const int c = wtid % 8 + 8 * i;
        w[pass][i] = valid ? __ldg(reinterpret_cast<const uint4*>(q + c * 8)) : make_uint4(0u, 0u, 0u, 0u);
      }
    }
  }

  __device__ __forceinline__ void load_staged(uint32_t sq, int wg, int wtid) {
#pragma unroll
    for (int pass = 0; pass < 4; ++pass) {
      const int r = 64 * wg + 16 * pass + wtid / 8;
#pragma unroll
      for (int i = 0; i < kPerThread; ++i)
        w[pass][i] = lds128(sq + sw128_offset<kD>(Traits::kBlockM, r, (wtid % 8 + 8 * i) * 8));
    }
  }

  __device__ __forceinline__ void store(uint32_t sq, float* row_factor, int wg, int wtid) {
#pragma unroll
    for (int pass = 0; pass < 4; ++pass) {
      const int r = 64 * wg + 16 * pass + wtid / 8;
      if constexpr (Traits::kQToHalf) {  // HalfRescale (prefill_loads.cuh), 8 threads per row
        uint32_t mag2 = 0;
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) mag2 = HalfRescale::max_magnitude(mag2, w[pass][i]);
        uint32_t mag = max(mag2 & 0xffffu, mag2 >> 16);
#pragma unroll
        for (int off = 1; off < 8; off *= 2) mag = max(mag, __shfl_xor_sync(0xffffffffu, mag, off));
        const int c = HalfRescale::exponent(mag);
        const float up = HalfRescale::up(c);
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) w[pass][i] = HalfRescale::convert(w[pass][i], up);
        if (wtid % 8 == 0) row_factor[r] = HalfRescale::factor(c);
      }
#pragma unroll
      for (int i = 0; i < kPerThread; ++i)
        sts128(sq + sw128_offset<kD>(Traits::kBlockM, r, (wtid % 8 + 8 * i) * 8), w[pass][i]);
    }
  }
};

// Before the Q tile is written again: this thread's TMA stores of output rows
// (write_output) have read their rows (a no-op for threads that issued none).
__device__ __forceinline__ void wait_out_reads() { cute::tma_store_wait<0>(); }

// Whether warpgroup wg's 64 rows of a tile move by TMA boxes (HopperRowTma): one query
// head at consecutive tokens, all inside the sequence.
__device__ __forceinline__ bool whole_head_rows(const RowMap& rows, int rows_valid, int wg) {
  return rows.pack == 1 && 64 * wg + 64 <= rows_valid;
}

// The TMA box of warpgroup wg's rows in 64-column slice s of the Q tile: 64 rows x 128
// bytes (hopper_traits.h); box_token: the token of the box's first row.
template <class Traits>
__device__ __forceinline__ void* q_tile_box(uint32_t sq, int s, int wg) {
  return generic_smem(sq + (s * Traits::kBlockM + 64 * wg) * 128);
}
__device__ __forceinline__ int box_token(const RowMap& rows, int wg) {
  return static_cast<int>(rows.token(64 * wg));  // < total_q <= INT32_MAX (host check)
}

// One thread: TMA loads of warpgroup wg's 64 Q rows (whole_head_rows) into the Q tile,
// completing on bar.
template <class Traits>
__device__ __forceinline__ void load_q_rows_tma(const HopperRowTma& t, uint64_t* bar, uint32_t sq, const RowMap& rows,
                                                int wg) {
  constexpr int kD = Traits::kHeadDim;
  cutlass::arch::ClusterTransactionBarrier::arrive_and_expect_tx(bar, 64 * kD * 2);
  const int token = box_token(rows, wg);
  const uint64_t hint = static_cast<uint64_t>(cute::TMA::CacheHintSm90::EVICT_NORMAL);
#pragma unroll
  for (int s = 0; s < kD / 64; ++s)
    cute::SM90_TMA_LOAD_3D::copy(&t.q_map, bar, hint, q_tile_box<Traits>(sq, s, wg), 64 * s, rows.head0, token);
}

// Normalizes this warpgroup's O rows (sinks, v_descale; S3/S4) and writes O and
// LSE (tile row r to query head rows.head(r), token rows.token(r)). The rows are
// staged through the Q tile (this warpgroup's rows are free once its last WGMMA
// is done).
// With store_o, a warpgroup whose rows are whole_head_rows hands them to TMA stores from
// the staged rows and returns without waiting: whoever writes the Q tile next waits
// for the stores' reads first (wait_out_reads).
template <class Traits, class FragO>
__device__ __forceinline__ void write_output(const PrefillParams& p, const HopperRowTma& row_tma, FragO& o,
                                             const FragSoftmax& sm, const float (&mult)[2], float v_descale,
                                             uint32_t sq, const RowMap& rows, int rows_valid, int wg, int wtid) {
  using QT = typename Traits::QT;
  constexpr int kD = Traits::kHeadDim;
  const int lane = wtid % 32, warp = wtid / 32;
  const bool has_sink = p.sinks != nullptr;
  float factor[2];
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const int r = 64 * wg + 16 * warp + lane / 4 + 8 * hf;
    const int h = rows.head(r);
    const float sink = has_sink ? read_sink(p, h) : 0.0f;
    float sum = sm.row_sum[hf];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    float f, lse;
    normalize_row(sum, sm.row_max[hf], mult[hf], has_sink, sink, v_descale, f, lse);
    factor[hf] = f;
    if (p.lse != nullptr && lane % 4 == 0 && r < rows_valid)
      p.lse[h * p.lse_stride_head + rows.token(r) * p.lse_stride_token] = lse;
  }
  warpgroup_sync(wg);  // every warp of the warpgroup is past its last WGMMA on these Q rows
#pragma unroll
  for (int k = 0; k < cute::size(o); k += 2) {
    const int hf = frag_half(k);
    const int r = 64 * wg + 16 * warp + lane / 4 + 8 * hf;
    sts32(sq + sw128_offset<kD>(Traits::kBlockM, r, frag_col(k, lane)),
          pack2<QT>(o(k) * factor[hf], o(k + 1) * factor[hf]));
  }
  if (row_tma.store_o && whole_head_rows(rows, rows_valid, wg)) {
    cute::tma_store_fence();  // this thread's staged rows -> the TMA engine's reads (proxy fence)
    warpgroup_sync(wg);
    if (wtid == 0) {
      const int token = box_token(rows, wg);
#pragma unroll
      for (int s = 0; s < kD / 64; ++s)
        cute::SM90_TMA_STORE_3D::copy(&row_tma.o_map, q_tile_box<Traits>(sq, s, wg), 64 * s, rows.head0, token);
      cute::tma_store_arrive();
    }
    return;
  }
  warpgroup_sync(wg);
  constexpr int kChunks = kD / 8;
#pragma unroll 4
  for (int idx = wtid; idx < 64 * kChunks; idx += 128) {
    const int r = 64 * wg + idx / kChunks, c = idx % kChunks;
    if (r < rows_valid) {
      QT* out = static_cast<QT*>(p.out) + static_cast<int64_t>(rows.head(r)) * p.out_stride_head +
                rows.token(r) * p.out_stride_token;
      *reinterpret_cast<uint4*>(out + c * 8) = lds128(sq + sw128_offset<kD>(Traits::kBlockM, r, c * 8));
    }
  }
}

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
