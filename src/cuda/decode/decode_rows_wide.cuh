// Row-tile compute of the split-KV decode kernel for tiles of 16 * row_frags
// packed rows (speculative verify, GQA > 8): S = Q K^T and O += P V with
// m16n8k16 MMAs whose M dimension is the packed query rows.
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

#include "cuda/decode/decode_row_tile.cuh"
#include "cuda/decode/decode_shape.h"

namespace kvattn {
namespace cuda {
namespace decode {

template <int D, typename QT, KvKind KV>
struct WideRowTile {
  static constexpr int kFragRows = 16;  // packed rows per MMA fragment
  static constexpr int kKvBytes = KV == KvKind::k16Bit ? 2 : 1;
  using Shape = DecodeShape<D, kKvBytes>;
  using MT = std::conditional_t<KV == KvKind::k16Bit, QT, __half>;  // MMA input type
  static constexpr int kPitch = Shape::kRowPitch;
  static constexpr int kNFrags = D / 8;  // output n-fragments per lane
  // K loads per slice; when there are many, a rolled loop keeps the compiler
  // from hoisting every K and Q word at once (register pressure, large D).
  static constexpr int kKLoads = Shape::kKBytesPerThread / Shape::kKLoad;
  static constexpr int kKUnroll = kKLoads <= 2 ? kKLoads : 1;

  int warps_per_frag, key_group, row_frags, r_quad, c;
  bool softcap;
  float cap_log2;
  float row_mul[2];
  int row_lo[2], row_hi[2];
  const uint8_t* q_row0;
  const uint8_t* q_row1;
  float o[kNFrags][4];
  float m_run[2];  // running max, log2 units
  float l_run[2];  // this lane's share of the running sum

  __device__ __forceinline__ void init(const RowTileCtx& t, int frags) {
    row_frags = frags;
    warps_per_frag = kWarps / row_frags;               // warps sharing a row fragment
    const int frag = t.warp / warps_per_frag;          // this warp's 16 rows
    key_group = t.warp % warps_per_frag;               // which 16-key slices it takes
    r_quad = t.lane >> 2, c = t.lane & 3;
    softcap = t.p->softcap > 0.0f;
    cap_log2 = t.p->softcap * kLog2e;
#pragma unroll
    for (int h = 0; h < 2; ++h) t.row_constants(frag * 16 + r_quad + 8 * h, row_mul[h], row_lo[h], row_hi[h]);
#pragma unroll
    for (int j = 0; j < kNFrags; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
    m_run[0] = m_run[1] = -INFINITY;
    l_run[0] = l_run[1] = 0.0f;
    q_row0 = t.q_smem + (frag * 16 + r_quad) * Shape::kQPitch + c * (D / 4) * 2;
    q_row1 = q_row0 + 8 * Shape::kQPitch;
  }

  // One 64-key tile: K rows at ks, V rows at vs (kPitch apart), first key tile_start.
  __device__ __forceinline__ void tile(const uint8_t* ks, const uint8_t* vs, int tile_start, bool need_mask) {
#pragma unroll 1
    for (int u = 0; u < row_frags; ++u) {
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
            const float v = logit_log2(s[nf][2 * h + e], row_mul[h], softcap, cap_log2, need_mask, key0 + nf * 8 + e,
                                       row_lo[h], row_hi[h]);
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
      VQuad<Shape>(vs, slice, c, r_quad).for_each_word([&](int q, uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3) {
        if constexpr (KV == KvKind::k16Bit) {
          const int j = 2 * q;  // word q = columns j, j+1
          MmaOp<MT>::run(o[j], pa, __byte_perm(w0, w1, 0x5410), __byte_perm(w2, w3, 0x5410));
          MmaOp<MT>::run(o[j + 1], pa, __byte_perm(w0, w1, 0x7632), __byte_perm(w2, w3, 0x7632));
        } else {
          const int j = 4 * q;  // word q = columns j .. j+3
          // Pair the two keys' bytes per column, then widen the pairs.
          uint32_t b0[4], b1[4];
          widen_fp8x4<KV>(__byte_perm(w0, w1, 0x5140), b0[0], b0[1]);
          widen_fp8x4<KV>(__byte_perm(w0, w1, 0x7362), b0[2], b0[3]);
          widen_fp8x4<KV>(__byte_perm(w2, w3, 0x5140), b1[0], b1[1]);
          widen_fp8x4<KV>(__byte_perm(w2, w3, 0x7362), b1[2], b1[3]);
#pragma unroll
          for (int e = 0; e < 4; ++e) MmaOp<MT>::run(o[j + e], pa, b0[e], b1[e]);
        }
      });
    }
  }

  // This warp's state into the merge buffers: red_ml[warp][16] (max, sum) and
  // red_o[warp][16][kRedPitch] (unnormalized output rows of its fragment).
  __device__ __forceinline__ void write_partials(float* red_o, float2* red_ml, int warp) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 1);
      l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 2);
    }
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
  }
};

}  // namespace decode
}  // namespace cuda
}  // namespace kvattn
