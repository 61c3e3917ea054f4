// The portable prefill / chunked-prefill kernel (FlashAttention-2 style on
// mma.sync m16n8k16): one CTA per (query tile, sequence, query head), K/V tiles
// from the paged cache through a per-tile row table, FP8 K/V widened to fp16
// once per tile in shared memory, online softmax in fp32 with exp2.
//
// Pipeline per KV tile j (two copy stages, one tile in flight while computing):
//   wait(j) + sync | issue copies of tile j+1 | look up block ids of tile j+2
//   | [FP8: widen tile j, sync] | S = QK^T, mask, softmax, O += PV
// With the widening ahead (FP8, two widened buffers; kWidenBefore / kWidenAfterQk):
//   wait(j+1) + sync | issue copies of tile j+2 | look up block ids of tile j+3
//   | S = QK^T on widened tile j | widen tile j+1 | mask, softmax, O += PV
// so each tile costs one barrier (kWidenBefore widens before the QK^T instead).
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
#include "cuda/prefill/prefill_tile.cuh"
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

// One warp's work on one KV tile: S = Q K^T, logits, mask, online softmax, O += P V.
// Warps whose rows see none of the tile's keys skip it (all-masked: P = 0).
template <class Traits>
struct WarpTileMath {
  static constexpr int kM = Traits::kMTiles, kN = Traits::kNTiles, kD = Traits::kDTiles;
  using KT = typename Traits::KT;
  using VT = typename Traits::VT;

  template <class Between>
  static __device__ __forceinline__ void run(float (&o)[kM][kD][4], OnlineSoftmax<kM, kN, kD>& softmax,
                                             const LogitScale& logit, const float (&mult)[kM][2],
                                             const KeyWindow& window, uint32_t q_lane, uint32_t k_tile,
                                             uint32_t v_tile, int n0, bool needs_mask, int lane_row0, int lane,
                                             const Between& between) {
    float s[kM][kN][4];
    warp_qk<Traits, KT>(s, q_lane, k_tile + LaneOffsets<Traits>::k(lane));
    between();  // independent work that can issue while the QK^T MMAs run
    logit.apply(s, mult);
    if (needs_mask) mask_tile(s, window, lane_row0, n0, lane);
    softmax.update(s, o, mult);
    warp_pv<Traits, VT>(o, s, v_tile + LaneOffsets<Traits>::v(lane));
  }
};

template <class Shape, class QT, KvStore kKvStore>
__global__ void __launch_bounds__(Shape::kWarps * 32, KVATTN_PREFILL_MIN_BLOCKS(Shape))
    prefill_kernel(const __grid_constant__ PrefillParams p) {
  using Traits = PrefillTraits<Shape, QT, kKvStore>;
  constexpr bool kFp8Kv = Traits::kFp8Kv;
  using KvT = std::conditional_t<kFp8Kv, uint8_t, QT>;  // as stored
  constexpr int kBlockM = Traits::kBlockM, kBlockN = Traits::kBlockN;
  constexpr int kM = Traits::kMTiles, kN = Traits::kNTiles, kD = Traits::kDTiles;

  extern __shared__ __align__(128) uint8_t smem[];
  const uint32_t sbase = smem_addr(smem);
  const uint32_t sq = sbase + Traits::kOffQ;
  longlong2* const row_table = reinterpret_cast<longlong2*>(smem + Traits::kOffRows);  // [2][kBlockN]

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  // ---- which rows and keys this CTA covers (all decided on the device) ----
  PrefillTile tile;
  if (!locate_prefill_tile(p, kBlockM, tile)) return;
  const int h = tile.h, b = tile.b;
  const int m0 = tile.m0, rows_valid = tile.rows_valid, k_row0 = tile.k_row0, kv_len = tile.kv_len;
  const KeyWindow window = tile.window;
  const int row_last = m0 + rows_valid - 1;
  const int key_lo = tile.key_lo, key_end = tile.key_end;
  const int64_t q_row0 = tile.q_row0;
  if (key_lo >= key_end) {
    write_empty_tile<Traits, QT>(p, sq, q_row0, rows_valid, h, tid);
    return;
  }
  const int tile_lo = key_lo / kBlockN;
  const int n_tiles = (key_end + kBlockN - 1) / kBlockN - tile_lo;
  const TileMaskRange mask_range = TileMaskRange::make(window, m0, row_last, tile_lo, n_tiles, kBlockN);

  const int hk = h / p.group_size;
  const auto stage_k = [&](int s) { return sbase + Traits::kOffK + s * Traits::kStageBytes; };
  const auto stage_v = [&](int s) { return sbase + Traits::kOffV + s * Traits::kStageBytes; };
  const auto wide_k = [&](int s) { return sbase + Traits::kOffKWide + s * Traits::kWideBytes; };
  const auto wide_v = [&](int s) { return sbase + Traits::kOffVWide + s * Traits::kWideBytes; };
  const auto row_slot = [&](int s) { return row_table + s * kBlockN; };
  // Tile t's row for this thread: the block id (a global load) is fetched a tile
  // early and turned into offsets only when written, so just one register lives
  // across the tile's math.
  const auto tile_pos = [&](int t) { return (tile_lo + t) * kBlockN + tid; };
  const auto tile_block = [&](int t) { return kv_block(p, b, kv_len, tile_pos(t)); };
  const auto tile_rows = [&](int t, int block) { return kv_row_offsets(p, hk, k_row0, tile_pos(t), block); };

  // ---- prologue: row tables of tiles 0 and 1, Q tile, copies of tile 0 ----
  if (tid < kBlockN) {
    for (int t = 0; t < 2 && t < n_tiles; ++t) row_slot(t)[tid] = tile_rows(t, tile_block(t));
  }
  load_q_tile<Traits, QT>(p, sq, q_row0, rows_valid, h, tid);
  cp_async_commit();
  __syncthreads();  // row table visible
  issue_kv_tile<Traits, KvT>(p, stage_k(0), stage_v(0), row_slot(0), tid);
  cp_async_commit();

  const int warp_row_first = warp * Traits::kWarpRows;
  const bool warp_has_rows = warp_row_first < rows_valid;  // warp-uniform
  const int lane_row0 = m0 + warp_row_first + lane / 4;   // sequence row of (tile 0, upper half)
  const uint32_t q_lane = sq + warp_row_first * Traits::kRow16Bytes + LaneOffsets<Traits>::q(lane);

  // Per-row logit factors 2^-c of a rescaled Q (smem; re-read per tile rather than
  // held in registers across the loop).
  const uint32_t lane_factor = sbase + Traits::kOffRowScale + (warp_row_first + lane / 4) * 4;
  if constexpr (Traits::kQToHalf) {
    cp_async_wait_group<1>();  // the Q group (tile 0 may still be in flight)
    __syncthreads();
    q_tile_to_half<Traits>(sq, reinterpret_cast<float*>(smem + Traits::kOffRowScale), tid);
    // (visible to the other warps after the first barrier of the main loop)
  }
  const LogitScale logit = LogitScale::make(p.softmax_scale * p.q_descale.at(b, hk) * p.k_descale.at(b, hk), p.softcap);
  const auto row_mult = [&](float (&m)[kM][2]) {
    float f[kM][2];
#pragma unroll
    for (int mt = 0; mt < kM; ++mt)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) f[mt][hf] = Traits::kQToHalf ? lds32_volatile(lane_factor + (mt * 16 + hf * 8) * 4) : 1.0f;
    logit.row_mult(f, m);
  };
  float o[kM][kD][4];
#pragma unroll
  for (int mt = 0; mt < kM; ++mt)
#pragma unroll
    for (int dt = 0; dt < kD; ++dt)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[mt][dt][e] = 0.0f;
  OnlineSoftmax<kM, kN, kD> softmax;
  softmax.init();

  // between(): CTA-wide work (every thread must run it) placed after the QK^T.
  const auto compute_tile = [&](int j, uint32_t k_tile, uint32_t v_tile, const auto& between) {
    const int n0 = (tile_lo + j) * kBlockN;
    // A tile past the last key of the warp's last row (causal diagonal) is all-masked
    // for the warp: skipped (it would add P = 0). Recomputed here, not kept live.
    const int warp_last_row = lane_row0 - lane / 4 + Traits::kWarpRows - 1;
    if (warp_has_rows && n0 <= window.hi(warp_last_row)) {
      float mult[kM][2];
      row_mult(mult);
      WarpTileMath<Traits>::run(o, softmax, logit, mult, window, q_lane, k_tile, v_tile, n0,
                                mask_range.needs_mask(j), lane_row0, lane, between);
    } else {
      between();
    }
  };
  const auto nothing = [] {};

  if constexpr (!Traits::kWidenAhead) {
    for (int j = 0; j < n_tiles; ++j) {
      const int stage = j & 1;
      cp_async_wait_all();
      __syncthreads();  // tile j landed for everyone; everyone is done with tile j-1
      if (j + 1 < n_tiles) issue_kv_tile<Traits, KvT>(p, stage_k(stage ^ 1), stage_v(stage ^ 1), row_slot(stage ^ 1), tid);
      cp_async_commit();
      // Block ids two tiles ahead: the load's latency hides behind this tile's math.
      const bool look_ahead = tid < kBlockN && j + 2 < n_tiles;
      const int ahead_block = look_ahead ? tile_block(j + 2) : -1;

      uint32_t k_tile = stage_k(stage), v_tile = stage_v(stage);
      if constexpr (kFp8Kv) {
        widen_kv_tile<Traits>(wide_k(0), wide_v(0), k_tile, v_tile, tid);
        __syncthreads();
        k_tile = wide_k(0);
        v_tile = wide_v(0);
      }
      compute_tile(j, k_tile, v_tile, nothing);
      if (look_ahead) row_slot(stage)[tid] = tile_rows(j + 2, ahead_block);  // tile j+2's slot, read after the next sync
    }
  } else {
    // Widen one tile ahead. Row-table slot t % 2 holds tile t's rows; raw stage t % 2
    // and widened buffer t % 2 hold tile t.
    cp_async_wait_all();
    __syncthreads();  // tile 0 landed; slot 0 consumed
    if (n_tiles > 1) issue_kv_tile<Traits, KvT>(p, stage_k(1), stage_v(1), row_slot(1), tid);
    cp_async_commit();
    if (tid < kBlockN && n_tiles > 2) row_slot(0)[tid] = tile_rows(2, tile_block(2));
    widen_kv_tile<Traits>(wide_k(0), wide_v(0), stage_k(0), stage_v(0), tid);
    for (int j = 0; j < n_tiles; ++j) {
      const int stage = j & 1;
      cp_async_wait_all();
      __syncthreads();  // widened tile j and raw tile j+1 visible; tile j-1 and raw tile j done with
      if (j + 2 < n_tiles) issue_kv_tile<Traits, KvT>(p, stage_k(stage), stage_v(stage), row_slot(stage), tid);
      cp_async_commit();
      const bool look_ahead = tid < kBlockN && j + 3 < n_tiles;
      const int ahead_block = look_ahead ? tile_block(j + 3) : -1;
      // Unconditional (no branch to split the MMA code): past the last tile it widens
      // a stale raw stage into a buffer nobody reads again.
      const auto widen_next = [&] {
        widen_kv_tile<Traits>(wide_k(stage ^ 1), wide_v(stage ^ 1), stage_k(stage ^ 1), stage_v(stage ^ 1), tid);
      };
      if constexpr (Traits::kWiden == kWidenBefore) {
        widen_next();
        compute_tile(j, wide_k(stage), wide_v(stage), nothing);
      } else {
        compute_tile(j, wide_k(stage), wide_v(stage), widen_next);
      }
      if (look_ahead) row_slot(stage ^ 1)[tid] = tile_rows(j + 3, ahead_block);  // tile j+1 was issued before the sync
    }
  }

  // ---- epilogue ----
  if (!warp_has_rows) return;
  const bool has_sink = p.sinks != nullptr;
  const float sink = has_sink ? read_sink(p, h) : 0.0f;
  float mult[kM][2];
  row_mult(mult);
  write_warp_output<Traits, QT>(p, o, softmax, mult, p.v_descale.at(b, hk), has_sink, sink,
                                sq + warp_row_first * Traits::kRow16Bytes, q_row0 + warp_row_first,
                                rows_valid - warp_row_first, h, lane);
}

}  // namespace cuda
}  // namespace kvattn
