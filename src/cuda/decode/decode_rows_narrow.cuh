// Row-tile compute of the split-KV decode kernel for tiles of 8 packed rows
// (decode with GQA <= 8, the common case): the MMAs run transposed,
// S^T = K Q^T and O^T += V^T P^T, so keys and head-dim elements fill the
// m16n8k16 M dimension and the <= 8 query rows its N = 8. Against the 16-row
// formulation this halves the MMAs, the softmax work and the output
// accumulators per key (a 4-row GQA group pads to 8 rows instead of 16), and Q
// stays in registers.
//
// Element layouts (lane = 4r + c):
//  * S^T: A = K tile (16 keys x 16 head-dim elements). The head dim may be
//    permuted freely (Q^T, the B operand, uses the same permutation): lane c
//    owns elements [c*D/4, (c+1)*D/4) of K rows r and r+8 and of Q row r; k-step
//    s uses 4 contiguous of them. The accumulator holds (key r, rows 2c, 2c+1)
//    and (key r+8, rows 2c, 2c+1).
//  * P^T, the B operand of O^T, needs (keys 2c, 2c+1 | 2c+8, 2c+9; row r):
//    the packed accumulator is exactly an 8x8 fragment of P^T, and
//    movmatrix.trans turns it into that.
//  * O^T: A = V^T (16 head-dim elements x 16 keys). M-tile m, local row r
//    (r + 8) is head-dim element r*D/8 + 2m (+1), so lane r reads the
//    contiguous bytes [r*D/8, (r+1)*D/8) of V rows 2c, 2c+1, 2c+8, 2c+9 and pairs
//    the two keys of each element with one byte permute.
#pragma once
#include <cstdint>
#include <type_traits>

#include "cuda/decode/decode_row_tile.cuh"
#include "cuda/decode/decode_shape.h"

namespace kvattn {
namespace cuda {
namespace decode {

template <int D, typename QT, KvKind KV>
struct NarrowRowTile {
  static constexpr int kFragRows = 8;  // packed rows per MMA fragment (N)
  static constexpr int kKvBytes = KV == KvKind::k16Bit ? 2 : 1;
  using Shape = DecodeShape<D, kKvBytes>;
  using MT = std::conditional_t<KV == KvKind::k16Bit, QT, __half>;  // MMA input type
  static constexpr int kPitch = Shape::kRowPitch;
  static constexpr int kMTiles = D / 16;  // O^T M-tiles of 16 head-dim elements
  static constexpr int kQWords = D / 8;   // f16x2 words of this lane's D/4 Q elements
  // K bytes per lane per key row, read in kKLoad-byte chunks of kKLoad / 4
  // (fp8) or kKLoad / 8 (16-bit) k-steps of 4 elements.
  static constexpr int kKLoad = Shape::kKLoad;
  static constexpr int kKChunks = Shape::kKBytesPerThread / kKLoad;
  static constexpr int kStepsPerChunk = kKLoad / (4 * kKvBytes);
  static_assert(kStepsPerChunk >= 1, "a K chunk must hold a whole k-step");

  int r, c;
  bool softcap;
  float cap_log2;
  float row_mul[2];  // rows 2c, 2c+1
  int row_lo[2], row_hi[2];
  uint32_t q[kQWords];  // Q row r, head-dim elements [c*D/4, (c+1)*D/4)
  float o[kMTiles][4];  // O^T: (e_m, 2c), (e_m, 2c+1), (e_m + 1, 2c), (e_m + 1, 2c+1), e_m = r*D/8 + 2m
  float m_run[2];       // running max of rows 2c, 2c+1 (log2 units)
  float l_run[2];       // this lane's share of their running sums

  __device__ __forceinline__ void init(const RowTileCtx& t) {
    r = t.lane >> 2, c = t.lane & 3;
    softcap = t.p->softcap > 0.0f;
    cap_log2 = t.p->softcap * kLog2e;
#pragma unroll
    for (int h = 0; h < 2; ++h) t.row_constants(2 * c + h, row_mul[h], row_lo[h], row_hi[h]);
    const uint8_t* q_src = t.q_smem + r * Shape::kQPitch + c * (D / 4) * 2;
#pragma unroll
    for (int i = 0; i < kQWords; i += 2) {
      const uint2 w = *reinterpret_cast<const uint2*>(q_src + 4 * i);
      q[i] = w.x, q[i + 1] = w.y;
    }
#pragma unroll
    for (int m = 0; m < kMTiles; ++m) o[m][0] = o[m][1] = o[m][2] = o[m][3] = 0.0f;
    m_run[0] = m_run[1] = -INFINITY;
    l_run[0] = l_run[1] = 0.0f;
  }

  // One 64-key tile: this warp takes keys [16 * warp, 16 * warp + 16).
  __device__ __forceinline__ void tile(const uint8_t* ks, const uint8_t* vs, int tile_start, bool need_mask,
                                       int warp) {
    // S^T for 16 keys x 8 rows, even and odd k-steps in two accumulators
    // (two dependent MMA chains of half the length).
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    float s_odd[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const uint8_t* k_row0 = ks + (warp * 16 + r) * kPitch + c * Shape::kKBytesPerThread;
    const uint8_t* k_row1 = k_row0 + 8 * kPitch;
    // Fully unrolled: q[] must only ever be indexed by constants (registers).
#pragma unroll
    for (int ch = 0; ch < kKChunks; ++ch) {
      uint32_t w0[kKLoad / 4], w1[kKLoad / 4];
      lds<kKLoad, kKLoad>(w0, k_row0 + kKLoad * ch);
      lds<kKLoad, kKLoad>(w1, k_row1 + kKLoad * ch);
#pragma unroll
      for (int st = 0; st < kStepsPerChunk; ++st) {
        const int kstep = ch * kStepsPerChunk + st;
        uint32_t a[4];
        if constexpr (KV == KvKind::k16Bit) {
          a[0] = w0[2 * st], a[2] = w0[2 * st + 1];
          a[1] = w1[2 * st], a[3] = w1[2 * st + 1];
        } else {
          widen_fp8x4<KV>(w0[st], a[0], a[2]);
          widen_fp8x4<KV>(w1[st], a[1], a[3]);
        }
        MmaOp<MT>::run(st % 2 == 0 ? s : s_odd, a, q[2 * kstep], q[2 * kstep + 1]);
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) s[i] += s_odd[i];

    // Online softmax (log2 domain): s[2j + h] is (key r + 8j, row 2c + h).
    const int key0 = tile_start + warp * 16 + r;
    float corr[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float v0 = logit_log2(s[h], row_mul[h], softcap, cap_log2, need_mask, key0, row_lo[h], row_hi[h]);
      const float v1 = logit_log2(s[2 + h], row_mul[h], softcap, cap_log2, need_mask, key0 + 8, row_lo[h], row_hi[h]);
      float mx = fmaxf(v0, v1);
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 4));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 8));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 16));
      const float m_new = fmaxf(m_run[h], mx);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // keeps -inf - -inf out
      // Nothing accumulated yet (o, l are 0): no rescale needed.
      corr[h] = m_run[h] == -INFINITY ? 1.0f : exp2f(m_run[h] - m_use);
      const float p0 = exp2f(v0 - m_use), p1 = exp2f(v1 - m_use);
      s[h] = p0, s[2 + h] = p1;
      l_run[h] = l_run[h] * corr[h] + (p0 + p1);
      m_run[h] = m_new;
    }
    if (__any_sync(0xffffffffu, corr[0] != 1.0f || corr[1] != 1.0f)) {
#pragma unroll
      for (int m = 0; m < kMTiles; ++m) {
        o[m][0] *= corr[0], o[m][1] *= corr[1];
        o[m][2] *= corr[0], o[m][3] *= corr[1];
      }
    }

    // P^T fragments: keys 2c, 2c+1 (b0) and 2c+8, 2c+9 (b1) of row r.
    const uint32_t b0 = movmatrix_trans(pack2<MT>(s[0], s[1]));
    const uint32_t b1 = movmatrix_trans(pack2<MT>(s[2], s[3]));

    // O^T += V^T P^T.
    VQuad<Shape>(vs, warp, c, r).for_each_word([&](int q, uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3) {
      if constexpr (KV == KvKind::k16Bit) {
        // Word q holds elements 2q, 2q+1 of the lane's run: M-tile q.
        const uint32_t a[4] = {__byte_perm(w0, w1, 0x5410), __byte_perm(w0, w1, 0x7632), __byte_perm(w2, w3, 0x5410),
                               __byte_perm(w2, w3, 0x7632)};
        MmaOp<MT>::run(o[q], a, b0, b1);
      } else {
        // Word q holds elements 4q .. 4q+3 of the lane's run: M-tiles 2q, 2q+1.
        uint32_t a0[4], a1[4];
        widen_fp8x4<KV>(__byte_perm(w0, w1, 0x5140), a0[0], a0[1]);
        widen_fp8x4<KV>(__byte_perm(w0, w1, 0x7362), a1[0], a1[1]);
        widen_fp8x4<KV>(__byte_perm(w2, w3, 0x5140), a0[2], a0[3]);
        widen_fp8x4<KV>(__byte_perm(w2, w3, 0x7362), a1[2], a1[3]);
        MmaOp<MT>::run(o[2 * q], a0, b0, b1);
        MmaOp<MT>::run(o[2 * q + 1], a1, b0, b1);
      }
    });
  }

  // This warp's state into the merge buffers: red_ml[warp][16] (rows 0..7 used)
  // and red_o[warp][16][kRedPitch].
  __device__ __forceinline__ void write_partials(float* red_o, float2* red_ml, int warp) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 4);
      l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 8);
      l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 16);
    }
    if (r == 0) {
      red_ml[warp * 16 + 2 * c] = make_float2(m_run[0], l_run[0]);
      red_ml[warp * 16 + 2 * c + 1] = make_float2(m_run[1], l_run[1]);
    }
    float* row_a = red_o + (warp * 16 + 2 * c) * Shape::kRedPitch + r * (D / 8);
    float* row_b = row_a + Shape::kRedPitch;
#pragma unroll
    for (int m = 0; m < kMTiles; ++m) {
      *reinterpret_cast<float2*>(row_a + 2 * m) = make_float2(o[m][0], o[m][2]);
      *reinterpret_cast<float2*>(row_b + 2 * m) = make_float2(o[m][1], o[m][3]);
    }
  }
};

}  // namespace decode
}  // namespace cuda
}  // namespace kvattn
