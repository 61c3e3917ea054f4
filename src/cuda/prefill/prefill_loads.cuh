// Global -> shared movement of the prefill kernel: the Q tile, the paged K/V
// tiles (through a per-tile row table), the FP8 -> fp16 widening pass, and the
// bf16 -> scaled fp16 rewrite of Q for FP8 KV.
#pragma once
#include <cstdint>

#include "cuda/common/fp8_widen.h"
#include "cuda/common/ptx.h"
#include "cuda/prefill/prefill_config.h"
#include "cuda/prefill/prefill_params.h"

namespace kvattn {
namespace cuda {

// 16 bytes global -> shared. Aligned: cp.async (zero-fill when !valid). Unaligned
// rows (odd strides): plain byte loads, slow but correct.
__device__ __forceinline__ void copy16_to_smem(uint32_t dst, const void* src, bool valid, bool aligned) {
  if (aligned) {
    cp_async_16(dst, src, valid ? 16 : 0);
  } else {
    uint32_t w[4] = {0u, 0u, 0u, 0u};
    if (valid) {
      const uint8_t* s = static_cast<const uint8_t*>(src);
#pragma unroll
      for (int i = 0; i < 16; ++i) w[i / 4] |= uint32_t(s[i]) << (8 * (i % 4));
    }
    sts128(dst, make_uint4(w[0], w[1], w[2], w[3]));
  }
}

__device__ __forceinline__ void store16_to_global(void* dst, uint4 v, bool aligned) {
  if (aligned) {
    *static_cast<uint4*>(dst) = v;
  } else {
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
    uint8_t* d = static_cast<uint8_t*>(dst);
#pragma unroll
    for (int i = 0; i < 16; ++i) d[i] = static_cast<uint8_t>(w[i / 4] >> (8 * (i % 4)));
  }
}

// KV row `pos` of sequence b is found in two steps so that the block-table load
// can be issued a tile early: kv_block() (the only global load; -1 past kv_len,
// 0 for contiguous KV), then kv_row_offsets() -> {k, v} element offsets for this
// CTA's kv head, {-1, -1} past kv_len (that tile row is zero-filled, so a
// masked-out P = 0 never meets NaN).
__device__ __forceinline__ int kv_block(const PrefillParams& p, int b, int kv_len, int pos) {
  if (pos >= kv_len) return -1;
  if (!p.paged) return 0;
  return __ldg(p.block_table + static_cast<int64_t>(b) * p.block_table_stride + p.page_size.div(pos));
}

__device__ __forceinline__ longlong2 kv_row_offsets(const PrefillParams& p, int hk, int k_row0, int pos, int block) {
  if (block < 0) return make_longlong2(-1, -1);
  // Paged: row within the block; contiguous: global row cu_seqlens_k[b] + pos (block 0).
  const int64_t row = p.paged ? pos - p.page_size.div(pos) * p.page_size.divisor : int64_t{k_row0} + pos;
  return make_longlong2(block * p.k_stride_block + row * p.k_stride_token + hk * p.k_stride_head,
                        block * p.v_stride_block + row * p.v_stride_token + hk * p.v_stride_head);
}

// Copies the Q rows [m0, m0 + kBlockM) of (sequence, head) into padded smem rows;
// rows past q_len are zero-filled.
template <class Traits, class QT>
__device__ __forceinline__ void load_q_tile(const PrefillParams& p, uint32_t sq, int64_t q_row0, int rows_valid, int h,
                                            int tid) {
  constexpr int kChunks = Traits::kHeadDim / 8;
  constexpr int kTotal = Traits::kBlockM * kChunks;
  const QT* q = static_cast<const QT*>(p.q) + static_cast<int64_t>(h) * p.q_stride_head;
#pragma unroll 1
  for (int i = 0; i < (kTotal + Traits::kThreads - 1) / Traits::kThreads; ++i) {
    const int idx = tid + i * Traits::kThreads;
    if (kTotal % Traits::kThreads != 0 && idx >= kTotal) break;
    const int r = idx / kChunks, c = idx % kChunks;
    const bool valid = r < rows_valid;
    const QT* src = valid ? q + (q_row0 + r) * p.q_stride_token + c * 8 : q;
    copy16_to_smem(sq + r * Traits::kRow16Bytes + c * 16, src, valid, p.aligned16);
  }
}

// Item i of thread tid when kThreads threads walk kTotal items laid out kPerRow to
// a row: (row, column) of item tid + i * kThreads. When kPerRow divides kThreads
// the column is fixed per thread and the row advances by a constant, so unrolled
// loops get compile-time smem offsets instead of a division per item.
struct TileItem {
  unsigned row, col;
  bool valid;
};
template <int kThreads, int kPerRow, int kTotal>
__device__ __forceinline__ TileItem tile_item(int tid, int i) {
  const unsigned t = static_cast<unsigned>(tid);
  if constexpr (kThreads % kPerRow == 0) {
    const unsigned row = t / kPerRow + i * (kThreads / kPerRow);
    return {row, t % kPerRow, kTotal % kThreads == 0 || row < static_cast<unsigned>(kTotal / kPerRow)};
  } else {
    const unsigned idx = t + i * kThreads;
    return {idx / kPerRow, idx % kPerRow, kTotal % kThreads == 0 || idx < static_cast<unsigned>(kTotal)};
  }
}

// Issues the copies of one K tile and one V tile (row offsets from the smem row table).
// Thread tid copies chunk tid % kChunks of rows tid / kChunks + i * (kThreads / kChunks)
// when the chunks per row divide the CTA (every FP8 and most 16-bit shapes), so the
// smem offsets are loop constants; the unaligned byte-copy path is a separate loop.
template <class Traits, class KvT>
__device__ __forceinline__ void issue_kv_tile(const PrefillParams& p, uint32_t sk, uint32_t sv, const longlong2* rows,
                                              int tid) {
  constexpr int kChunks = Traits::kStageChunks;
  constexpr int kTotal = Traits::kBlockN * kChunks;
  constexpr int kIters = (kTotal + Traits::kThreads - 1) / Traits::kThreads;
  constexpr int kElemsPerChunk = 16 / sizeof(KvT);
  const KvT* k = static_cast<const KvT*>(p.k);
  const KvT* v = static_cast<const KvT*>(p.v);
  if (p.aligned16) {
#pragma unroll(kIters <= 4 ? kIters : 1)
    for (int i = 0; i < kIters; ++i) {
      const TileItem it = tile_item<Traits::kThreads, kChunks, kTotal>(tid, i);
      if (!it.valid) break;
      const unsigned r = it.row, c = it.col;
      const longlong2 row = rows[r];
      const bool valid = row.x >= 0;
      const uint32_t dst = r * Traits::kStageRowBytes + c * 16;
      cp_async_16(sk + dst, valid ? k + row.x + c * kElemsPerChunk : k, valid ? 16 : 0);
      cp_async_16(sv + dst, valid ? v + row.y + c * kElemsPerChunk : v, valid ? 16 : 0);
    }
  } else {
#pragma unroll 1
    for (int idx = tid; idx < kTotal; idx += Traits::kThreads) {
      const int r = idx / kChunks, c = idx % kChunks;
      const longlong2 row = rows[r];
      const bool valid = row.x >= 0;
      const uint32_t dst = r * Traits::kStageRowBytes + c * 16;
      copy16_to_smem(sk + dst, valid ? k + row.x + c * kElemsPerChunk : k, valid, false);
      copy16_to_smem(sv + dst, valid ? v + row.y + c * kElemsPerChunk : v, valid, false);
    }
  }
}

// The widening pass: packed fp8 rows -> padded fp16 rows, 8 values per step (one
// 8-byte load, one 16-byte store: a warp reads and writes contiguous bytes, no bank
// conflicts). Done once per tile by the whole CTA, so each FP8 value is converted
// once, not once per warp that reads it.
template <class Traits, Fp8Format kFormat>
__device__ __forceinline__ void widen_fp8_tile(uint32_t dst, uint32_t src, int tid) {
  constexpr int kUnits = Traits::kHeadDim / 8;
  constexpr int kTotal = Traits::kBlockN * kUnits;
  constexpr int kIters = (kTotal + Traits::kThreads - 1) / Traits::kThreads;
#pragma unroll 2
  for (int i = 0; i < kIters; ++i) {
    const TileItem it = tile_item<Traits::kThreads, kUnits, kTotal>(tid, i);
    if (!it.valid) break;
    const unsigned r = it.row, u = it.col;
    const uint2 codes = lds64(src + r * Traits::kHeadDim + u * 8);
    sts128(dst + r * Traits::kRow16Bytes + u * 16, widen_fp8x8<__half, kFormat>(codes));
  }
}

// K and V to fp16 (both products of the FP8 path run in fp16).
template <class Traits>
__device__ __forceinline__ void widen_kv_tile(uint32_t k_dst, uint32_t v_dst, uint32_t k_src, uint32_t v_src,
                                              int tid) {
  constexpr Fp8Format kFormat = Traits::kKvStore == KvStore::kE5M2 ? Fp8Format::kE5M2 : Fp8Format::kE4M3;
  widen_fp8_tile<Traits, kFormat>(k_dst, k_src, tid);
  widen_fp8_tile<Traits, kFormat>(v_dst, v_src, tid);
}

// bf16 q with FP8 KV: a Q row is rewritten as fp16 * 2^c, c such that the row's
// largest |q| lands in [2^14, 2^15) (clamped to |c| <= 100; c = 0 for all-zero rows
// and rows holding Inf/NaN). Every bf16 value of the row that is >= 2^-31 of the row
// max is exact in fp16 then (8 significant bits, fp16 subnormal step 2^-24); smaller
// ones round with an error < 2^-39 of the max. The row's factor 2^-c is folded into
// its logit scale. Shared by the portable and the Hopper kernels.
struct HalfRescale {
  // Running max of bf16 magnitudes (bits; they order as integers) over 8 values,
  // kept per 16-bit half of `mag2`.
  static __device__ __forceinline__ uint32_t max_magnitude(uint32_t mag2, uint4 w) {
    mag2 = __vmaxu2(mag2, w.x & 0x7fff7fffu);
    mag2 = __vmaxu2(mag2, w.y & 0x7fff7fffu);
    mag2 = __vmaxu2(mag2, w.z & 0x7fff7fffu);
    return __vmaxu2(mag2, w.w & 0x7fff7fffu);
  }
  // c for a row whose largest magnitude (bf16 bits) is `mag`.
  static __device__ __forceinline__ int exponent(uint32_t mag) {
    const int biased_exp = static_cast<int>(mag >> 7);  // max |q| in [2^(e-127), 2^(e-126))
    return (mag == 0 || biased_exp == 0xff) ? 0 : min(100, max(-100, 141 - biased_exp));
  }
  static __device__ __forceinline__ float up(int c) { return __int_as_float((127 + c) << 23); }
  static __device__ __forceinline__ float factor(int c) { return __int_as_float((127 - c) << 23); }
  // 8 bf16 -> 8 fp16 times `up` (2^c), element order kept.
  static __device__ __forceinline__ uint4 convert(uint4 w, float up) {
    uint32_t* words = reinterpret_cast<uint32_t*>(&w);
#pragma unroll
    for (int i = 0; i < 4; ++i)
      words[i] = pack2<__half>(__uint_as_float(words[i] << 16) * up, __uint_as_float(words[i] & 0xffff0000u) * up);
    return w;
  }
};

// Rewrites the staged bf16 Q tile in place (HalfRescale); row_factor[r] = 2^-c.
template <class Traits>
__device__ __forceinline__ void q_tile_to_half(uint32_t sq, float* row_factor, int tid) {
  constexpr int kThreadsPerRow = Traits::kThreads / Traits::kBlockM;
  constexpr int kChunks = Traits::kHeadDim / 8 / kThreadsPerRow;  // 8 values per chunk
  static_assert(Traits::kHeadDim / 8 % kThreadsPerRow == 0, "Q row chunks split evenly");
  const int r = tid / kThreadsPerRow;
  const uint32_t base = sq + r * Traits::kRow16Bytes + (tid % kThreadsPerRow) * kChunks * 16;

  uint32_t mag2 = 0;
#pragma unroll
  for (int c = 0; c < kChunks; ++c) mag2 = HalfRescale::max_magnitude(mag2, lds128(base + c * 16));
  uint32_t mag = max(mag2 & 0xffffu, mag2 >> 16);
#pragma unroll
  for (int off = 1; off < kThreadsPerRow; off *= 2) mag = max(mag, __shfl_xor_sync(0xffffffffu, mag, off));
  const int c = HalfRescale::exponent(mag);
  const float up = HalfRescale::up(c);
#pragma unroll
  for (int c16 = 0; c16 < kChunks; ++c16) sts128(base + c16 * 16, HalfRescale::convert(lds128(base + c16 * 16), up));
  if (tid % kThreadsPerRow == 0) row_factor[r] = HalfRescale::factor(c);
}

}  // namespace cuda
}  // namespace kvattn
