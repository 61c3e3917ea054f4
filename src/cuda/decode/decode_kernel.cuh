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
// Element layouts (why no transposes are needed):
//  * QK^T sums over the head dim, so any permutation of it works if Q uses
//    the same one: lane (r, c) of an MMA owns head-dim elements
//    [c*D/4, (c+1)*D/4) of its K rows and of Q; k-step s uses 4 contiguous of
//    them, which are exactly the 2+2 k-indices the fragment layout gives it.
//  * PV sums over keys: P's accumulator layout is reused as the A operand, and
//    lane (i = lane/4) owns output columns [i*D/8, (i+1)*D/8), so its V bytes
//    are contiguous in a row; n-fragment j holds column i*D/8 + j.
#pragma once
#include <cstdint>
#include <type_traits>

#include "cuda/common/routing.h"
#include "cuda/decode/decode_params.h"
#include "cuda/decode/decode_primitives.cuh"
#include "cuda/decode/decode_shape.h"

namespace kvattn {
namespace cuda {
namespace decode {

// Keys query token i may see (S2): [lo(i), hi(i)], empty when hi < lo.
struct KeyWindow {
  int64_t off;  // kv_len - q_len (bottom-right alignment)
  int64_t kv_len;
  int left, right;
  __device__ int64_t lo(int64_t i) const { return left >= 0 ? max(int64_t(0), i + off - left) : 0; }
  __device__ int64_t hi(int64_t i) const {
    return right >= 0 ? min(kv_len - 1, i + off + right) : kv_len - 1;
  }
};

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

template <int D, typename QT, KvKind KV>
__global__ void __launch_bounds__(kThreads, decode_min_blocks_per_sm(D))
    decode_splitkv_kernel(const __grid_constant__ DecodeParams p) {
  constexpr int kKvBytes = KV == KvKind::k16Bit ? 2 : 1;
  using Shape = DecodeShape<D, kKvBytes>;
  using MT = std::conditional_t<KV == KvKind::k16Bit, QT, __half>;  // MMA input type
  // bf16 q meets fp16-widened fp8 KV: q is rescaled per row by a power of two
  // into fp16's range (exact up to far-below-fp32-noise tiny elements).
  constexpr bool kScaleQ = KV != KvKind::k16Bit && std::is_same<QT, __nv_bfloat16>::value;
  constexpr int kPitch = Shape::kRowPitch;
  constexpr int kNFrags = D / 8;  // output n-fragments per lane
  // K loads per slice; when there are many, a rolled loop keeps the compiler
  // from hoisting every K and Q word at once (register pressure, large D).
  constexpr int kKLoads = Shape::kKBytesPerThread / Shape::kKLoad;
  constexpr int kKUnroll = kKLoads <= 2 ? kKLoads : 1;

  const int stages = p.stages;  // ring depth, resolved on the host: 2 .. Shape::max_stages()
  const bool rows_mode = p.copy_mode == kCopyRows;
  extern __shared__ __align__(16) uint8_t smem[];
  uint8_t* kv_smem = smem;
  float2* red_ml = reinterpret_cast<float2*>(smem + Shape::ml_offset(stages));               // [warp][16]
  float* row_scale = reinterpret_cast<float*>(smem + Shape::row_scale_offset(stages));        // [tile row]
  uint8_t* q_smem = smem + Shape::q_offset(stages);
  // kCopyRows: [stage][K, V][tile row] byte offsets from k_head / v_head, -1 past the range.
  int64_t* row_table = reinterpret_cast<int64_t*>(smem + Shape::table_offset(stages, p.row_frags));

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  int bx = blockIdx.x;
  const int tile = bx % p.row_tiles;
  bx /= p.row_tiles;
  const int hk = bx % p.num_kv_heads;
  const int b = bx / p.num_kv_heads;
  const int split = blockIdx.y;
  const int num_splits = gridDim.y;

  const int q_begin = p.cu_seqlens_q[b];
  const int q_len = p.cu_seqlens_q[b + 1] - q_begin;
  if (!is_short_query(q_len)) return;  // the prefill family's sequence
  const int g = p.group;
  const int rows = q_len * g;
  const int tile_rows = 16 * p.row_frags;
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

  // ---- Per-lane row constants ------------------------------------------------
  const int warps_per_frag = kWarps / p.row_frags;  // warps sharing a row fragment
  const int frag = warp / warps_per_frag;           // this warp's 16 rows
  const int key_group = warp % warps_per_frag;      // which 16-key slices it takes
  const int r_quad = lane >> 2, c = lane & 3;
  const bool softcap = p.softcap > 0.0f;
  const float cap_log2 = p.softcap * kLog2e;
  const float score_mul = p.softmax_scale * p.q_descale.at(b, hk) * p.k_descale.at(b, hk) * kv_widen_scale<KV>();
  float row_mul[2];
  int row_lo[2], row_hi[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int tr = frag * 16 + r_quad + 8 * h;
    const float mul = score_mul * row_scale[tr];
    row_mul[h] = softcap ? mul / p.softcap : mul * kLog2e;
    const int pr = row0 + tr;
    if (pr < row_end) {
      const int i = pr / g;
      row_lo[h] = static_cast<int>(max(win.lo(i), int64_t(s_lo)));
      row_hi[h] = static_cast<int>(min(win.hi(i), int64_t(s_hi) - 1));
    } else {
      row_lo[h] = 0, row_hi[h] = -1;  // padding row: sees nothing
    }
  }
  // A tile needs per-element masking only where some valid row's window or
  // the split end cuts it.
  const int lo_max = static_cast<int>(max(win.lo(i_last), int64_t(s_lo)));
  const int hi_min = static_cast<int>(min(win.hi(i_first), int64_t(s_hi) - 1));

  float o[kNFrags][4];
#pragma unroll
  for (int j = 0; j < kNFrags; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
  float m_run[2] = {-INFINITY, -INFINITY};  // running max, log2 units
  float l_run[2] = {0.0f, 0.0f};            // this lane's share of the running sum

  const uint8_t* q_row0 = q_smem + (frag * 16 + r_quad) * Shape::kQPitch + c * (D / 4) * 2;
  const uint8_t* q_row1 = q_row0 + 8 * Shape::kQPitch;

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

#pragma unroll 1
    for (int u = 0; u < p.row_frags; ++u) {
      const int slice = key_group + u * warps_per_frag;  // 16 keys: slice*16 .. +15

      // S = Q K^T for 16 rows x 16 keys (two n8 fragments).
      float s[2][4] = {};
      const uint8_t* k_row0 = ks + (slice * 16 + r_quad) * kPitch + c * Shape::kKBytesPerThread;
      const uint8_t* k_row1 = k_row0 + 8 * kPitch;
#pragma unroll kKUnroll
      for (int ld = 0; ld < kKLoads; ++ld) {
        uint32_t kw0[Shape::kKLoad / 4], kw1[Shape::kKLoad / 4];
        lds<Shape::kKLoad, Shape::kKLoad>(kw0, k_row0 + ld * Shape::kKLoad);
        lds<Shape::kKLoad, Shape::kKLoad>(kw1, k_row1 + ld * Shape::kKLoad);
#pragma unroll
        for (int st = 0; st < Shape::kKStepsPerLoad; ++st) {
          const int kstep = ld * Shape::kKStepsPerLoad + st;
          const uint2 qa = *reinterpret_cast<const uint2*>(q_row0 + kstep * 8);
          const uint2 qb = *reinterpret_cast<const uint2*>(q_row1 + kstep * 8);
          const uint32_t a[4] = {qa.x, qb.x, qa.y, qb.y};
          uint32_t b00, b01, b10, b11;
          if constexpr (KV == KvKind::k16Bit) {
            b00 = kw0[2 * st], b01 = kw0[2 * st + 1];
            b10 = kw1[2 * st], b11 = kw1[2 * st + 1];
          } else {
            widen_fp8x4<KV>(kw0[st], b00, b01);
            widen_fp8x4<KV>(kw1[st], b10, b11);
          }
          MmaOp<MT>::run(s[0], a, b00, b01);
          MmaOp<MT>::run(s[1], a, b10, b11);
        }
      }

      // Online softmax (log2 domain). Lane holds keys 2c, 2c+1 (+8) of rows
      // r_quad and r_quad + 8: s[nf][2h + e] is (row h, key nf*8 + 2c + e).
      const int key0 = tile_start + slice * 16 + 2 * c;
      float corr[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float mx = -INFINITY;
#pragma unroll
        for (int nf = 0; nf < 2; ++nf) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            float v = s[nf][2 * h + e] * row_mul[h];
            if (softcap) v = cap_log2 * tanhf(v);
            if (need_mask) {
              const int key = key0 + nf * 8 + e;
              if (key < row_lo[h] || key > row_hi[h]) v = -INFINITY;
            }
            s[nf][2 * h + e] = v;
            mx = fmaxf(mx, v);
          }
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(m_run[h], mx);
        const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // keeps -inf - -inf out
        // Nothing accumulated yet (o, l are 0): no rescale needed.
        corr[h] = m_run[h] == -INFINITY ? 1.0f : exp2f(m_run[h] - m_use);
        float sum = 0.0f;
#pragma unroll
        for (int nf = 0; nf < 2; ++nf) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const float pv = exp2f(s[nf][2 * h + e] - m_use);
            s[nf][2 * h + e] = pv;
            sum += pv;
          }
        }
        l_run[h] = l_run[h] * corr[h] + sum;
        m_run[h] = m_new;
      }
      if (__any_sync(0xffffffffu, corr[0] != 1.0f || corr[1] != 1.0f)) {
#pragma unroll
        for (int j = 0; j < kNFrags; ++j) {
          o[j][0] *= corr[0], o[j][1] *= corr[0];
          o[j][2] *= corr[1], o[j][3] *= corr[1];
        }
      }

      // O += P V. P's accumulator layout is the A fragment (k = key in slice).
      const uint32_t pa[4] = {pack2<MT>(s[0][0], s[0][1]), pack2<MT>(s[0][2], s[0][3]),
                              pack2<MT>(s[1][0], s[1][1]), pack2<MT>(s[1][2], s[1][3])};
      // B fragment rows: keys 2c, 2c+1 (b0) and 2c+8, 2c+9 (b1) of the slice.
      const uint8_t* v_row0 = vs + (slice * 16 + 2 * c) * kPitch + r_quad * Shape::kVBytesPerThread;
      const uint8_t* v_row1 = v_row0 + kPitch;
      const uint8_t* v_row2 = v_row0 + 8 * kPitch;
      const uint8_t* v_row3 = v_row2 + kPitch;
#pragma unroll
      for (int ld = 0; ld < Shape::kVBytesPerThread / Shape::kVLoad; ++ld) {
        constexpr int kWords = Shape::kVLoad / 4;
        uint32_t w0[kWords], w1[kWords], w2[kWords], w3[kWords];
        lds<Shape::kVLoad, Shape::kVLoad>(w0, v_row0 + ld * Shape::kVLoad);
        lds<Shape::kVLoad, Shape::kVLoad>(w1, v_row1 + ld * Shape::kVLoad);
        lds<Shape::kVLoad, Shape::kVLoad>(w2, v_row2 + ld * Shape::kVLoad);
        lds<Shape::kVLoad, Shape::kVLoad>(w3, v_row3 + ld * Shape::kVLoad);
#pragma unroll
        for (int x = 0; x < kWords; ++x) {
          if constexpr (KV == KvKind::k16Bit) {
            const int j = ld * (Shape::kVLoad / 2) + 2 * x;  // word x = columns j, j+1
            MmaOp<MT>::run(o[j], pa, __byte_perm(w0[x], w1[x], 0x5410), __byte_perm(w2[x], w3[x], 0x5410));
            MmaOp<MT>::run(o[j + 1], pa, __byte_perm(w0[x], w1[x], 0x7632), __byte_perm(w2[x], w3[x], 0x7632));
          } else {
            const int j = ld * Shape::kVLoad + 4 * x;  // word x = columns j .. j+3
            // Pair the two keys' bytes per column, then widen the pairs.
            uint32_t b0[4], b1[4];
            widen_fp8x4<KV>(__byte_perm(w0[x], w1[x], 0x5140), b0[0], b0[1]);
            widen_fp8x4<KV>(__byte_perm(w0[x], w1[x], 0x7362), b0[2], b0[3]);
            widen_fp8x4<KV>(__byte_perm(w2[x], w3[x], 0x5140), b1[0], b1[1]);
            widen_fp8x4<KV>(__byte_perm(w2[x], w3[x], 0x7362), b1[2], b1[3]);
#pragma unroll
            for (int e = 0; e < 4; ++e) MmaOp<MT>::run(o[j + e], pa, b0[e], b1[e]);
          }
        }
      }
    }
  }
  cp_async_wait_group<0>();
  __syncthreads();  // KV stages are now free for the cross-warp reduction

  // ---- Merge the warps that share a row fragment (fixed order) ---------------
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 1);
    l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 2);
  }
  float* red_o = reinterpret_cast<float*>(kv_smem);  // [warp][16][kRedPitch]
  if (c == 0) {
    red_ml[warp * 16 + r_quad] = make_float2(m_run[0], l_run[0]);
    red_ml[warp * 16 + r_quad + 8] = make_float2(m_run[1], l_run[1]);
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float* dst = red_o + (warp * 16 + r_quad + 8 * h) * Shape::kRedPitch;
#pragma unroll
    for (int j = 0; j < kNFrags; j += 4) {
      *reinterpret_cast<float4*>(dst + 2 * c * kNFrags + j) =
          make_float4(o[j][2 * h], o[j + 1][2 * h], o[j + 2][2 * h], o[j + 3][2 * h]);
      *reinterpret_cast<float4*>(dst + (2 * c + 1) * kNFrags + j) =
          make_float4(o[j][2 * h + 1], o[j + 1][2 * h + 1], o[j + 2][2 * h + 1], o[j + 3][2 * h + 1]);
    }
  }
  __syncthreads();

  const float v_mul = kv_widen_scale<KV>();
  const float v_desc = p.v_descale.at(b, hk);
#pragma unroll 1
  for (int idx = tid; idx < tile_rows * (D / 4); idx += kThreads) {
    const int tr = idx / (D / 4), dq = idx % (D / 4);
    const int pr = row0 + tr;
    if (pr >= row_end) continue;
    const int fr = tr / 16, lr = tr % 16;
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
