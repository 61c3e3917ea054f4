// Split-KV decode / speculative-verify attention (q_len <= 16), GQA-packed.
//
// One CTA (4 warps) computes, for one (row tile, sequence, kv head, split),
// the packed query rows r = token * g + head_in_group of that kv head against
// one contiguous range of the sequence's keys. Keys stream through a
// multi-stage cp.async ring of 64-key K/V tiles gathered through the block
// table; each warp takes 16-key slices of a tile, computes S = Q K^T and
// O += P V with m16n8k16 tensor-core MMAs (fp8 KV widened to fp16 in
// registers), and keeps its own online softmax. The warps' partial states are
// merged in shared memory in a fixed order; the CTA then writes the final
// output (one split) or its partial state to the workspace for the combine
// kernel (docs/semantics.md S1-S4).
//
// The MMAs of a tile run in one of two formulations (decode_rows_*.cuh):
// wide (16 * row_frags packed rows in the MMA M dimension) or narrow (<= 8
// packed rows in N, keys and head dim in M; half the MMA and softmax work
// per key when a GQA group is small).
#pragma once
#include <cstdint>
#include <type_traits>

#include "cuda/common/routing.h"
#include "cuda/decode/decode_params.h"
#include "cuda/decode/decode_primitives.cuh"
#include "cuda/decode/decode_row_tile.cuh"
#include "cuda/decode/decode_rows_narrow.cuh"
#include "cuda/decode/decode_rows_wide.cuh"
#include "cuda/decode/decode_shape.h"

namespace kvattn {
namespace cuda {
namespace decode {

// Fallback copy of one 16-byte chunk of a K/V row for strides that are not
// 16-byte multiples (synchronous byte loads; kept out of line so it costs the
// fast path no registers). A key past the range (!valid) gets zeros.
static __device__ __noinline__ void copy_chunk_unaligned(uint8_t* dst, const uint8_t* src, bool valid) {
  if (valid) {
#pragma unroll
    for (int i = 0; i < 16; ++i) dst[i] = src[i];
  } else {
    *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
  }
}

template <int D, typename QT, KvKind KV, bool kNarrow>
__global__ void __launch_bounds__(kThreads, decode_min_blocks_per_sm(D, kNarrow, KV == KvKind::k16Bit ? 2 : 1))
    decode_splitkv_kernel(const __grid_constant__ DecodeParams p) {
  constexpr int kKvBytes = KV == KvKind::k16Bit ? 2 : 1;
  using Shape = DecodeShape<D, kKvBytes>;
  using MT = std::conditional_t<KV == KvKind::k16Bit, QT, __half>;  // MMA input type
  // bf16 q meets fp16-widened fp8 KV: q is rescaled per row by a power of two
  // into fp16's range (exact up to far-below-fp32-noise tiny elements).
  constexpr bool kScaleQ = KV != KvKind::k16Bit && std::is_same<QT, __nv_bfloat16>::value;
  constexpr int kPitch = Shape::kRowPitch;
  using Rows = std::conditional_t<kNarrow, NarrowRowTile<D, QT, KV>, WideRowTile<D, QT, KV>>;

  // The combine kernel (launched with programmatic serialization) may be
  // scheduled while this grid's last CTAs run; it waits for them itself.
  grid_dependents_may_launch();
  const int stages = p.stages;  // ring depth, resolved on the host: 2 .. Shape::max_stages()
  const bool rows_mode = p.copy_mode == kCopyRows;
  extern __shared__ __align__(16) uint8_t smem[];
  uint8_t* kv_smem = smem;
  float2* red_ml = reinterpret_cast<float2*>(smem + Shape::ml_offset(stages));               // [warp][16]
  float* row_scale = reinterpret_cast<float*>(smem + Shape::row_scale_offset(stages));        // [tile row]
  uint8_t* q_smem = smem + Shape::q_offset(stages);
  // kCopyRows: [stage][K, V][tile row] byte offsets from k_head / v_head, -1 past the range.
  int64_t* row_table = reinterpret_cast<int64_t*>(smem + Shape::table_offset(stages, kNarrow ? 8 : 16 * p.row_frags));

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  // Row tile slowest: the first tile of every (sequence, kv head) comes first.
  // In a mixed batch only spec-verify sequences fill the later tiles, so the
  // CTAs that find no rows run last, in the slots the tail leaves idle,
  // instead of taking slots between the working ones.
  int bx = blockIdx.x;
  const int hk = bx % p.num_kv_heads;
  bx /= p.num_kv_heads;
  const int b = bx % p.batch;
  const int tile = bx / p.batch;
  const int split = blockIdx.y;
  const int num_splits = gridDim.y;

  const int q_begin = p.cu_seqlens_q[b];
  const int q_len = p.cu_seqlens_q[b + 1] - q_begin;
  if (!is_short_query(q_len)) return;  // the prefill family's sequence
  const int g = p.group;
  const int rows = q_len * g;
  const int row_frags = kNarrow ? 1 : p.row_frags;
  const int tile_rows = Rows::kFragRows * row_frags;
  const int row0 = tile * tile_rows;
  if (row0 >= rows) return;
  const int row_end = min(rows, row0 + tile_rows);

  const int kv_len = p.paged ? p.seqused_k[b] : p.cu_seqlens_k[b + 1] - p.cu_seqlens_k[b];
  const int64_t kv_token0 = p.paged ? 0 : p.cu_seqlens_k[b];
  const KeyWindow win{int64_t(kv_len) - q_len, kv_len, p.window_left, p.window_right};

  // Keys any row of this tile may see, cut into num_splits ranges of whole tiles.
  const int i_first = row0 / g, i_last = (row_end - 1) / g;
  const int64_t k_begin = win.lo(i_first);
  const int64_t k_end = win.hi(i_last) + 1;
  const int range = static_cast<int>(max(int64_t(0), k_end - k_begin));  // <= kv_len
  const int per_split = ((range + num_splits - 1) / num_splits + kTileKeys - 1) / kTileKeys * kTileKeys;
  const int64_t lo64 = k_begin + int64_t(split) * per_split;
  const int s_lo = static_cast<int>(min(lo64, k_end));
  const int s_hi = static_cast<int>(max(int64_t(s_lo), min(k_end, lo64 + per_split)));
  const int n_tiles = (s_hi - s_lo + kTileKeys - 1) / kTileKeys;

  // ---- Copies. kCopyPairs: thread t moves the 16-byte chunks half, half+2, ...
  // of K/V row t/2 of each tile (a lane pair covers 32 contiguous bytes of a
  // row) and walks its row's position through the block table itself.
  // kCopyRows: thread t walks row t % 64 and writes that row's K (t < 64) or
  // V (t >= 64) byte offset into the stage's row table one tile ahead; the
  // copies then read the table, consecutive lanes taking consecutive chunks.
  const uint8_t* k_head = p.k + hk * p.k_stride_head;
  const uint8_t* v_head = p.v + hk * p.v_stride_head;
  const int32_t* bt_row = p.paged ? p.block_table + b * p.block_table_stride : nullptr;
  const int copy_row = rows_mode ? (tid & (kTileKeys - 1)) : (tid >> 1), copy_half = tid & 1;
  int pos = s_lo + copy_row;  // key of this thread's row in the next tile to issue (or tabulate)
  int page = 0, in_page = 0;
  if (p.paged) {
    page = pos / p.page_size;
    in_page = pos - page * p.page_size;
  }
  auto load_block = [&]() -> int { return (p.paged && pos < s_hi) ? __ldg(bt_row + page) : 0; };
  auto advance_row = [&]() {
    pos += kTileKeys;
    page += p.tile_pages;
    in_page += p.tile_rem;
    if (in_page >= p.page_size) {
      in_page -= p.page_size;
      ++page;
    }
  };
  // Byte offset of the current row from k_head (or v_head); -1: past the range.
  auto row_offset = [&](int block, bool is_v) -> int64_t {
    if (pos >= s_hi) return -1;
    if (p.paged)
      return is_v ? block * p.v_stride_block + in_page * p.v_stride_token
                  : block * p.k_stride_block + in_page * p.k_stride_token;
    return (kv_token0 + pos) * (is_v ? p.v_stride_token : p.k_stride_token);
  };
  // kCopyPairs: issues this thread's copies of the next tile into `stage`, then moves on.
  auto issue_pairs = [&](auto prefetch, int stage, int block) {
    constexpr int kPf = decltype(prefetch)::value;
    const int64_t ko = row_offset(block, false), vo = row_offset(block, true);
    uint8_t* k_dst = kv_smem + stage * Shape::kStageBytes + copy_row * kPitch + copy_half * 16;
    uint8_t* v_dst = k_dst + kTileKeys * kPitch;
    const uint8_t* k_src = k_head + ko + copy_half * 16;
    const uint8_t* v_src = v_head + vo + copy_half * 16;
    if (p.kv_aligned16) {
      // Keys past the range are zero-filled: masked keys must never multiply
      // garbage (0 * NaN) in P V.
      const int k_bytes = ko >= 0 ? 16 : 0, v_bytes = vo >= 0 ? 16 : 0;
      if (ko < 0) k_src = k_head;
      if (vo < 0) v_src = v_head;
#pragma unroll
      for (int i = 0; i < Shape::kChunksPerRow / 2; ++i) {
        cp_async_16_pf<kPf>(k_dst + 32 * i, k_src + 32 * i, k_bytes);
        cp_async_16_pf<kPf>(v_dst + 32 * i, v_src + 32 * i, v_bytes);
      }
    } else {
#pragma unroll 1
      for (int i = 0; i < Shape::kChunksPerRow / 2; ++i) {
        copy_chunk_unaligned(k_dst + 32 * i, k_src + 32 * i, ko >= 0);
        copy_chunk_unaligned(v_dst + 32 * i, v_src + 32 * i, vo >= 0);
      }
    }
    advance_row();
  };
  // kCopyRows: this thread's table entry for the next tile to tabulate, then moves on.
  auto write_table = [&](int stage, int block) {
    row_table[stage * 2 * kTileKeys + tid] = row_offset(block, tid >= kTileKeys);
    advance_row();
  };
  // kCopyRows: copies of the tile tabulated in `stage` (chunk q = i * 128 + tid
  // is chunk q % C of row q / C, C chunks per row).
  auto issue_rows = [&](auto prefetch, int stage) {
    constexpr int kPf = decltype(prefetch)::value;
    constexpr int kC = Shape::kChunksPerRow;
    const int64_t* tab = row_table + stage * 2 * kTileKeys;
    uint8_t* base = kv_smem + stage * Shape::kStageBytes;
    if (p.kv_aligned16) {
#pragma unroll
      for (int i = 0; i < kC / 2; ++i) {
        const int q = i * kThreads + tid, row = q / kC, ch = q % kC;
        const int64_t ko = tab[row], vo = tab[kTileKeys + row];
        uint8_t* k_dst = base + row * kPitch + ch * 16;
        // A row past the range (-1) reads nothing from a valid address (zero fill).
        cp_async_16_pf<kPf>(k_dst, k_head + max(ko, int64_t(0)) + ch * 16, ko >= 0 ? 16 : 0);
        cp_async_16_pf<kPf>(k_dst + kTileKeys * kPitch, v_head + max(vo, int64_t(0)) + ch * 16, vo >= 0 ? 16 : 0);
      }
    } else {
#pragma unroll 1
      for (int i = 0; i < kC / 2; ++i) {
        const int q = i * kThreads + tid, row = q / kC, ch = q % kC;
        const int64_t ko = tab[row], vo = tab[kTileKeys + row];
        uint8_t* k_dst = base + row * kPitch + ch * 16;
        copy_chunk_unaligned(k_dst, k_head + ko + ch * 16, ko >= 0);
        copy_chunk_unaligned(k_dst + kTileKeys * kPitch, v_head + vo + ch * 16, vo >= 0);
      }
    }
  };
  auto issue_with = [&](auto prefetch, int stage, int block) {
    if (rows_mode) {
      issue_rows(prefetch, stage);
    } else {
      issue_pairs(prefetch, stage, block);
    }
  };
  auto issue_tile = [&](int stage, int block) {
    switch (p.prefetch) {
      case 128: issue_with(std::integral_constant<int, 128>{}, stage, block); break;
      case 256: issue_with(std::integral_constant<int, 256>{}, stage, block); break;
      default: issue_with(std::integral_constant<int, 0>{}, stage, block); break;
    }
  };

  // ---- Prologue: stages - 1 tiles in flight ---------------------------------
  // Block id for the next tile to issue (kCopyPairs) or tabulate (kCopyRows),
  // loaded a whole tile ahead of its use so the block-table latency never
  // stalls the copies.
  int next_block = 0;
  if (rows_mode) {
    // Tables of tiles 0 .. stages-1, their block ids loaded all at once.
    int blk[kMaxStages];
    const int pos0 = pos, page0 = page, in_page0 = in_page;
#pragma unroll
    for (int j = 0; j < kMaxStages; ++j) {
      blk[j] = j < stages ? load_block() : 0;
      advance_row();
    }
    pos = pos0, page = page0, in_page = in_page0;
#pragma unroll
    for (int j = 0; j < kMaxStages; ++j) {
      if (j < stages) write_table(j, blk[j]);
    }
    next_block = load_block();
    __syncthreads();
  }
#pragma unroll 1
  for (int s = 0; s < stages - 1; ++s) {
    if (s < n_tiles) issue_tile(s, rows_mode ? 0 : load_block());
    cp_async_commit();
  }
  if (!rows_mode) next_block = load_block();

  // ---- Q tile -> shared memory (16-bit MMA type), overlapping the copies ---
#pragma unroll 1
  for (int tr = warp; tr < tile_rows; tr += kWarps) {
    const int pr = row0 + tr;
    float x[D / 32];
    if (pr < row_end) {
      const int h = hk * g + pr % g;
      const QT* q_row = static_cast<const QT*>(p.q) + int64_t(q_begin + pr / g) * p.q_stride_token +
                        int64_t(h) * p.q_stride_head;
#pragma unroll
      for (int k = 0; k < D / 32; ++k) x[k] = to_float(q_row[lane + 32 * k]);
    } else {
#pragma unroll
      for (int k = 0; k < D / 32; ++k) x[k] = 0.0f;
    }
    int e = 0;
    if constexpr (kScaleQ) {
      float amax = 0.0f;
#pragma unroll
      for (int k = 0; k < D / 32; ++k) amax = fmaxf(amax, fabsf(x[k]));
      int ex;
      frexpf(warp_max(amax), &ex);  // amax in [2^(ex-1), 2^ex)
      e = min(max(15 - ex, -126), 126);  // amax * 2^e in [2^14, 2^15)
    }
    const float up = __int_as_float((127 + e) << 23);
    MT* q_dst = reinterpret_cast<MT*>(q_smem + tr * Shape::kQPitch);
#pragma unroll
    for (int k = 0; k < D / 32; ++k) q_dst[lane + 32 * k] = from_float<MT>(x[k] * up);
    if (lane == 0) row_scale[tr] = __int_as_float((127 - e) << 23);
  }
  __syncthreads();

  // ---- Per-lane state of the row tile ---------------------------------------
  const RowTileCtx ctx{&p,
                       win,
                       row0,
                       row_end,
                       g,
                       s_lo,
                       s_hi,
                       p.softmax_scale * p.q_descale.at(b, hk) * p.k_descale.at(b, hk) * kv_widen_scale<KV>(),
                       row_scale,
                       q_smem,
                       warp,
                       lane};
  Rows rows_state;
  if constexpr (kNarrow) {
    rows_state.init(ctx);
  } else {
    rows_state.init(ctx, row_frags);
  }
  // A tile needs per-element masking only where some valid row's window or
  // the split end cuts it.
  const int lo_max = static_cast<int>(max(win.lo(i_last), int64_t(s_lo)));
  const int hi_min = static_cast<int>(min(win.hi(i_first), int64_t(s_hi) - 1));

  // ---- Main loop over 64-key tiles ------------------------------------------
  int rd_stage = 0;           // t % stages: the tile computed now
  int wr_stage = stages - 1;  // (t + stages - 1) % stages: the tile issued now
#pragma unroll 1
  for (int t = 0; t < n_tiles; ++t) {
    cp_async_wait_dyn(stages - 2);
    __syncthreads();  // tile t landed everywhere; tile t-1's stage is free
    const int t_issue = t + stages - 1;
    if (t_issue < n_tiles) {
      issue_tile(wr_stage, next_block);
      if (!rows_mode) next_block = load_block();
    }
    cp_async_commit();
    if (rows_mode && t_issue + 1 < n_tiles) {
      // Table of tile t + stages into slot (t + stages) % stages = rd_stage
      // (its last reader issued tile t, before this iteration's barrier).
      write_table(rd_stage, next_block);
      next_block = load_block();
    }

    const uint8_t* ks = kv_smem + rd_stage * Shape::kStageBytes;
    rd_stage = rd_stage + 1 == stages ? 0 : rd_stage + 1;
    wr_stage = wr_stage + 1 == stages ? 0 : wr_stage + 1;
    const uint8_t* vs = ks + kTileKeys * kPitch;
    const int tile_start = s_lo + t * kTileKeys;
    const bool need_mask = tile_start < lo_max || tile_start + kTileKeys - 1 > hi_min;

    if constexpr (kNarrow) {
      rows_state.tile(ks, vs, tile_start, need_mask, warp);
    } else {
      rows_state.tile(ks, vs, tile_start, need_mask);
    }
  }
  cp_async_wait_group<0>();
  __syncthreads();  // KV stages are now free for the cross-warp reduction

  // ---- Merge the warps that share a row fragment (fixed order) ---------------
  float* red_o = reinterpret_cast<float*>(kv_smem);  // [warp][16][kRedPitch]
  rows_state.write_partials(red_o, red_ml, warp);
  __syncthreads();

  const int warps_per_frag = kWarps / row_frags;
  const float v_mul = kv_widen_scale<KV>();
  const float v_desc = p.v_descale.at(b, hk);
#pragma unroll 1
  for (int idx = tid; idx < tile_rows * (D / 4); idx += kThreads) {
    const int tr = idx / (D / 4), dq = idx % (D / 4);
    const int pr = row0 + tr;
    if (pr >= row_end) continue;
    const int fr = tr / Rows::kFragRows, lr = tr % Rows::kFragRows;
    float m_all = -INFINITY;
    for (int w = 0; w < warps_per_frag; ++w) m_all = fmaxf(m_all, red_ml[(fr * warps_per_frag + w) * 16 + lr].x);
    float l_all = 0.0f;
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (int w = 0; w < warps_per_frag; ++w) {
      const int src = (fr * warps_per_frag + w) * 16 + lr;
      const float2 ml = red_ml[src];
      if (ml.x == -INFINITY) continue;
      const float f = exp2f(ml.x - m_all);
      const float4 ov = *reinterpret_cast<const float4*>(red_o + src * Shape::kRedPitch + 4 * dq);
      l_all += f * ml.y;
      acc.x += f * ov.x, acc.y += f * ov.y, acc.z += f * ov.z, acc.w += f * ov.w;
    }
    const int h = hk * g + pr % g;
    const int64_t token = q_begin + pr / g;
    if (num_splits == 1) {
      float lse;
      const float f = finalize_row(p, h, m_all, l_all, lse) * v_desc * v_mul;
      QT* out = static_cast<QT*>(p.out) + token * p.out_stride_token + int64_t(h) * p.out_stride_head + 4 * dq;
      out[0] = from_float<QT>(acc.x * f);
      out[1] = from_float<QT>(acc.y * f);
      out[2] = from_float<QT>(acc.z * f);
      out[3] = from_float<QT>(acc.w * f);
      if (dq == 0 && p.lse != nullptr) p.lse[h * p.lse_stride_head + token * p.lse_stride_token] = lse;
    } else {
      const int64_t slot = ((int64_t(split) * p.batch + b) * p.num_kv_heads + hk) * p.rows_bound + pr;
      *reinterpret_cast<float4*>(p.ws_out + slot * D + 4 * dq) =
          make_float4(acc.x * v_mul, acc.y * v_mul, acc.z * v_mul, acc.w * v_mul);
      if (dq == 0) p.ws_ml[slot] = make_float2(m_all, l_all);
    }
  }
}

}  // namespace decode
}  // namespace cuda
}  // namespace kvattn
