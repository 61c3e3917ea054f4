// Global -> shared movement of the prefill kernel: the Q tile, the paged K/V
// tiles (through a per-tile row table), and the FP8 -> 16-bit widening pass.
#pragma once
#include <cstdint>

#include "cuda/common/fp8_widen.h"
#include "cuda/common/ptx.h"
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

// Issues the copies of one K tile and one V tile (row offsets from the smem row table).
template <class Traits, class KvT>
__device__ __forceinline__ void issue_kv_tile(const PrefillParams& p, uint32_t sk, uint32_t sv, const longlong2* rows,
                                              int tid) {
  constexpr int kChunks = Traits::kStageChunks;
  constexpr int kTotal = Traits::kBlockN * kChunks;
  constexpr int kElemsPerChunk = 16 / sizeof(KvT);
  const KvT* k = static_cast<const KvT*>(p.k);
  const KvT* v = static_cast<const KvT*>(p.v);
#pragma unroll 1
  for (int i = 0; i < (kTotal + Traits::kThreads - 1) / Traits::kThreads; ++i) {
    const int idx = tid + i * Traits::kThreads;
    if (kTotal % Traits::kThreads != 0 && idx >= kTotal) break;
    const int r = idx / kChunks, c = idx % kChunks;
    const longlong2 row = rows[r];
    const bool valid = row.x >= 0;
    const uint32_t dst = r * Traits::kStageRowBytes + c * 16;
    copy16_to_smem(sk + dst, valid ? k + row.x + c * kElemsPerChunk : k, valid, p.aligned16);
    copy16_to_smem(sv + dst, valid ? v + row.y + c * kElemsPerChunk : v, valid, p.aligned16);
  }
}

// The widening pass: packed fp8 rows -> padded 16-bit rows, 8 values per step
// (one 8-byte load, one 16-byte store). Done once per tile by the whole CTA, so
// each FP8 value is converted once, not once per warp that reads it.
template <class Traits, class T, Fp8Format kFormat>
__device__ __forceinline__ void widen_fp8_tile(uint32_t dst, uint32_t src, int tid) {
  constexpr int kUnits = Traits::kHeadDim / 8;
  constexpr int kTotal = Traits::kBlockN * kUnits;
#pragma unroll 2
  for (int i = 0; i < (kTotal + Traits::kThreads - 1) / Traits::kThreads; ++i) {
    const int idx = tid + i * Traits::kThreads;
    if (kTotal % Traits::kThreads != 0 && idx >= kTotal) break;
    const int r = idx / kUnits, u = idx % kUnits;
    const uint2 codes = lds64(src + r * Traits::kHeadDim + u * 8);
    sts128(dst + r * Traits::kRow16Bytes + u * 16, widen_fp8x8<T, kFormat>(codes));
  }
}

// K to the QK^T operand type, V to fp16 (the PV product runs in fp16 for FP8 KV).
template <class Traits, class KT, class VT>
__device__ __forceinline__ void widen_kv_tile(bool e5m2, uint32_t k_dst, uint32_t v_dst, uint32_t k_src,
                                              uint32_t v_src, int tid) {
  if (e5m2) {
    widen_fp8_tile<Traits, KT, Fp8Format::kE5M2>(k_dst, k_src, tid);
    widen_fp8_tile<Traits, VT, Fp8Format::kE5M2>(v_dst, v_src, tid);
  } else {
    widen_fp8_tile<Traits, KT, Fp8Format::kE4M3>(k_dst, k_src, tid);
    widen_fp8_tile<Traits, VT, Fp8Format::kE4M3>(v_dst, v_src, tid);
  }
}

}  // namespace cuda
}  // namespace kvattn
