// The portable prefill / chunked-prefill kernel (FlashAttention-2 style on
// mma.sync m16n8k16): one CTA per (query tile, sequence, query head), K/V tiles
// from the paged cache through a per-tile row table, FP8 K/V widened to 16 bits
// once per tile in shared memory, online softmax in fp32 with exp2.
//
// Pipeline per KV tile j (two copy stages, one tile in flight while computing):
//   wait(j) + sync | issue copies of tile j+1 | look up block ids of tile j+2
//   | [FP8: widen tile j, sync] | S = QK^T, mask, softmax, O += PV
#pragma once
#include <cstdint>
#include <type_traits>

#include "cuda/common/ptx.h"
#include "cuda/common/routing.h"
#include "cuda/prefill/prefill_config.h"
#include "cuda/prefill/prefill_epilogue.cuh"
#include "cuda/prefill/prefill_loads.cuh"
#include "cuda/prefill/prefill_params.h"
#include "cuda/prefill/prefill_softmax.cuh"
#include "cuda/prefill/prefill_warp_mma.cuh"

namespace kvattn {
namespace cuda {

// Shapes ask for 2 CTAs per SM where Hopper's shared memory holds two; an sm_8x SM
// (<= 164 KB) holds one of the larger ones anyway, so there the register cap is lifted.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#define KVATTN_PREFILL_MIN_BLOCKS(Shape) 1
#else
#define KVATTN_PREFILL_MIN_BLOCKS(Shape) Shape::kMinBlocksPerSm
#endif

template <class Shape, class QT, bool kFp8Kv>
__global__ void __launch_bounds__(PrefillTraits<Shape, kFp8Kv>::kThreads, KVATTN_PREFILL_MIN_BLOCKS(Shape))
    prefill_kernel(const __grid_constant__ PrefillParams p) {
  using Traits = PrefillTraits<Shape, kFp8Kv>;
  using KvT = std::conditional_t<kFp8Kv, uint8_t, QT>;  // as stored
  using KT = QT;                                        // QK^T operand type
  using VT = std::conditional_t<kFp8Kv, __half, QT>;    // PV operand type (FP8 V is exact in fp16)
  constexpr int kBlockM = Traits::kBlockM, kBlockN = Traits::kBlockN;
  constexpr int kM = Traits::kMTiles, kN = Traits::kNTiles, kD = Traits::kDTiles;

  extern __shared__ __align__(128) uint8_t smem[];
  const uint32_t sbase = smem_addr(smem);
  const uint32_t sq = sbase + Traits::kOffQ;
  longlong2* const row_table = reinterpret_cast<longlong2*>(smem + Traits::kOffRows);  // [2][kBlockN]

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int h = blockIdx.x % p.num_q_heads;
  const int b = blockIdx.x / p.num_q_heads;
  const int m_block = gridDim.y - 1 - blockIdx.y;  // last (longest under causal) tiles first

  // ---- which rows and keys this CTA covers (all decided on the device) ----
  const int q_begin = p.cu_seqlens_q[b];
  const int q_len = p.cu_seqlens_q[b + 1] - q_begin;
  if (p.skip_short_queries && is_short_query(q_len)) return;  // the decode family's
  const int m0 = m_block * kBlockM;
  if (m0 >= q_len) return;
  const int rows_valid = min(kBlockM, q_len - m0);
  const int k_row0 = p.paged ? 0 : p.cu_seqlens_k[b];
  const int kv_len = p.paged ? p.seqused_k[b] : p.cu_seqlens_k[b + 1] - k_row0;
  const KeyWindow window{kv_len - q_len, kv_len, p.window_left, p.window_right};
  const int row_last = m0 + rows_valid - 1;
  const int key_lo = window.lo(m0), key_end = window.hi(row_last) + 1;
  const int64_t q_row0 = int64_t{q_begin} + m0;
  if (key_lo >= key_end) {
    write_empty_tile<Traits, QT>(p, sq, q_row0, rows_valid, h, tid);
    return;
  }
  const int tile_lo = key_lo / kBlockN;
  const int n_tiles = (key_end + kBlockN - 1) / kBlockN - tile_lo;
  const TileMaskRange mask_range = TileMaskRange::make(window, m0, row_last, tile_lo, n_tiles, kBlockN);

  const int hk = h / p.group_size;

  // ---- prologue: row tables of tiles 0 and 1, Q tile, copies of tile 0 ----
  if (tid < kBlockN) {
    for (int t = 0; t < 2 && t < n_tiles; ++t) {
      const int pos = (tile_lo + t) * kBlockN + tid;
      row_table[t * kBlockN + tid] = kv_row_offsets(p, hk, k_row0, pos, kv_block(p, b, kv_len, pos));
    }
  }
  load_q_tile<Traits, QT>(p, sq, q_row0, rows_valid, h, tid);
  __syncthreads();
  issue_kv_tile<Traits, KvT>(p, sbase + Traits::kOffK, sbase + Traits::kOffV, row_table, tid);
  cp_async_commit();

  const LogitScale logit = LogitScale::make(p.softmax_scale * p.q_descale.at(b, hk) * p.k_descale.at(b, hk), p.softcap);
  const int warp_row_first = warp * Traits::kWarpRows;
  const bool warp_has_rows = warp_row_first < rows_valid;  // warp-uniform
  const int lane_row0 = m0 + warp_row_first + lane / 4;   // sequence row of (tile 0, upper half)
  const uint32_t q_lane = sq + warp_row_first * Traits::kRow16Bytes + LaneOffsets<Traits>::q(lane);

  float o[kM][kD][4];
#pragma unroll
  for (int mt = 0; mt < kM; ++mt)
#pragma unroll
    for (int dt = 0; dt < kD; ++dt)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[mt][dt][e] = 0.0f;
  OnlineSoftmax<kM, kN, kD> softmax;
  softmax.init();

  for (int j = 0; j < n_tiles; ++j) {
    const int stage = j & 1;
    cp_async_wait_all();
    __syncthreads();  // tile j landed for everyone; everyone is done with tile j-1
    if (j + 1 < n_tiles)
      issue_kv_tile<Traits, KvT>(p, sbase + Traits::kOffK + (stage ^ 1) * Traits::kStageBytes,
                                 sbase + Traits::kOffV + (stage ^ 1) * Traits::kStageBytes,
                                 row_table + (stage ^ 1) * kBlockN, tid);
    cp_async_commit();
    // Block ids two tiles ahead: the load's latency hides behind this tile's math.
    const bool look_ahead = tid < kBlockN && j + 2 < n_tiles;
    const int ahead_pos = (tile_lo + j + 2) * kBlockN + tid;
    const int ahead_block = look_ahead ? kv_block(p, b, kv_len, ahead_pos) : -1;

    uint32_t k_tile = sbase + Traits::kOffK + stage * Traits::kStageBytes;
    uint32_t v_tile = sbase + Traits::kOffV + stage * Traits::kStageBytes;
    if constexpr (kFp8Kv) {
      widen_kv_tile<Traits, KT, VT>(p.kv_e5m2, sbase + Traits::kOffKWide, sbase + Traits::kOffVWide, k_tile, v_tile,
                                    tid);
      __syncthreads();
      k_tile = sbase + Traits::kOffKWide;
      v_tile = sbase + Traits::kOffVWide;
    }

    if (warp_has_rows) {
      float s[kM][kN][4];
      warp_qk<Traits, KT>(s, q_lane, k_tile + LaneOffsets<Traits>::k(lane));
      logit.apply(s);
      const int n0 = (tile_lo + j) * kBlockN;
      if (mask_range.needs_mask(j)) mask_tile(s, window, lane_row0, n0, lane);
      softmax.update(s, o, logit.mult);
      warp_pv<Traits, VT>(o, s, v_tile + LaneOffsets<Traits>::v(lane));
    }
    if (look_ahead)  // slot of tile j+2, read after the next sync
      row_table[stage * kBlockN + tid] = kv_row_offsets(p, hk, k_row0, ahead_pos, ahead_block);
  }

  // ---- epilogue ----
  if (!warp_has_rows) return;
  const bool has_sink = p.sinks != nullptr;
  const float sink = has_sink ? read_sink(p, h) : 0.0f;
  write_warp_output<Traits, QT>(p, o, softmax, logit.mult, p.v_descale.at(b, hk), has_sink, sink,
                                sq + warp_row_first * Traits::kRow16Bytes, q_row0 + warp_row_first,
                                rows_valid - warp_row_first, h, lane);
}

}  // namespace cuda
}  // namespace kvattn
