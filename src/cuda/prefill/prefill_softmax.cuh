// Logit transforms, boundary masks and the online softmax (docs/semantics.md
// S1-S4) on the S accumulators of one warp. Logits are kept in log2 units
// (times `mult`), so probabilities are one FFMA + ex2 each.
#pragma once
#include <cstdint>

#include "cuda/common/ptx.h"

namespace kvattn {
namespace cuda {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// s(i,j) = acc * scale (S1), optionally c * tanh(s / c). Without softcap and with
// scale > 0 the accumulators stay raw and the scale rides in the exp2 FFMA
// (mult = scale * log2 e); otherwise the tile is rewritten in log2 units first
// and mult = 1. Either way max() commutes with the scaling.
// A rescaled Q row (q_tile_to_half) holds acc = 2^c * q.k; its factor f = 2^-c
// (exact) multiplies that row's mult (row_mult). In the transform modes the tile
// is written divided by f (softcap: the tanh sees the true logit, then * 2^c) so
// that the same per-row multiplier brings it back.
// tanh(x) = 1 - 2 / (e^{2x} + 1) with ex2/rcp.approx: ~1e-7 absolute error, where
// tanh.approx (2^-11 relative) would put 0.015 of error on a logit capped at 30.
struct LogitScale {
  bool transform;  // rewrite the accumulators before masking
  bool softcap;
  float t_in, t_out;
  float mult;

  __device__ __forceinline__ static LogitScale make(float scale, float softcap) {
    LogitScale r;
    r.softcap = softcap > 0.0f;
    r.transform = r.softcap || !(scale > 0.0f);
    r.t_in = r.softcap ? 2.0f * kLog2e * scale / softcap : scale * kLog2e;  // softcap: 2 x / c in log2 units
    r.t_out = softcap * kLog2e;
    r.mult = r.transform ? 1.0f : scale * kLog2e;
    return r;
  }

  // Multiplier of each row of this lane (upper/lower half of each 16-row tile) given
  // its factor f (2^-c; 1 unless Q was rescaled).
  template <int kM>
  __device__ __forceinline__ void row_mult(const float (&f)[kM][2], float (&m)[kM][2]) const {
#pragma unroll
    for (int mt = 0; mt < kM; ++mt)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) m[mt][hf] = mult * f[mt][hf];
  }

  // 1 / f for a row factor f = 2^k (exact).
  static __device__ __forceinline__ float inverse_factor(float f) { return __int_as_float(0x7f000000 - __float_as_int(f)); }
  // One accumulator in the transform modes; f: the row's factor, inv_f = 1 / f.
  __device__ __forceinline__ float transformed(float acc, float f, float inv_f) const {
    const float x = acc * t_in;
    return softcap ? (1.0f - 2.0f * fast_rcp(fast_exp2(x * f) + 1.0f)) * t_out * inv_f : x;
  }

  // m: row_mult() of the rows (in the transform modes, the row factors f themselves).
  template <int kM, int kN>
  __device__ __forceinline__ void apply(float (&s)[kM][kN][4], const float (&m)[kM][2]) const {
    if (!transform) return;
#pragma unroll
    for (int mt = 0; mt < kM; ++mt)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        const float f = m[mt][hf];
        const float inv_f = inverse_factor(f);
#pragma unroll
        for (int nt = 0; nt < kN; ++nt)
#pragma unroll
          for (int e = 2 * hf; e < 2 * hf + 2; ++e) s[mt][nt][e] = transformed(s[mt][nt][e], f, inv_f);
      }
  }
};

// Visible keys of query row i (0-based in its sequence), S2 with bottom-right
// alignment: lo(i) <= j <= hi(i), clamped to [0, kv_len). 64-bit: i + off can
// pass 2^31.
struct KeyWindow {
  int off;  // kv_len - q_len
  int kv_len;
  int left, right;  // -1 = unbounded

  __device__ __forceinline__ int lo(int64_t i) const {
    if (left < 0) return 0;
    const int64_t v = i + off - left;
    return static_cast<int>(v < 0 ? 0 : (v > kv_len ? kv_len : v));
  }
  __device__ __forceinline__ int hi(int64_t i) const {
    const int64_t v = right < 0 ? int64_t{kv_len} - 1 : i + off + right;
    return static_cast<int>(v < -1 ? -1 : (v >= kv_len ? kv_len - 1 : v));
  }
};

// Which KV tiles of a CTA's range need per-element masks: a prefix (left window)
// and a suffix (causal / right window, kv_len boundary); the middle is fully visible.
struct TileMaskRange {
  int prefix_end;    // tiles j < prefix_end need the mask
  int suffix_begin;  // tiles j >= suffix_begin need the mask

  // Rows [r0, r1] of the CTA; tiles tile_lo + j of kBlockN keys, j < n_tiles.
  __device__ __forceinline__ static TileMaskRange make(const KeyWindow& w, int r0, int r1, int tile_lo, int n_tiles,
                                                      int block_n) {
    // Last key every row sees on the right, and first key every row sees on the left.
    int64_t right_all = int64_t{w.kv_len} - 1;
    if (w.right >= 0 && int64_t{r0} + w.off + w.right < right_all) right_all = int64_t{r0} + w.off + w.right;
    const int64_t left_all = w.left >= 0 ? int64_t{r1} + w.off - w.left : 0;
    // Tile t is safe on the right iff t * n + n - 1 <= right_all; on the left iff t * n >= left_all.
    const int64_t last_safe = right_all >= block_n - 1 ? (right_all - block_n + 1) / block_n : -1;
    const int64_t first_safe = left_all > 0 ? (left_all + block_n - 1) / block_n : 0;
    const auto clamp = [n_tiles](int64_t v) { return static_cast<int>(v < 0 ? 0 : (v > n_tiles ? n_tiles : v)); };
    return {clamp(first_safe - tile_lo), clamp(last_safe + 1 - tile_lo)};
  }
  __device__ __forceinline__ bool needs_mask(int j) const { return j < prefix_end || j >= suffix_begin; }
};

// Sets hidden logits to -inf. row0: sequence row of (mt 0, upper half) for this lane.
template <int kM, int kN>
__device__ __forceinline__ void mask_tile(float (&s)[kM][kN][4], const KeyWindow& w, int row0, int n0, int lane) {
#pragma unroll
  for (int mt = 0; mt < kM; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      const int64_t i = int64_t{row0} + mt * 16 + hf * 8;
      const int lo = w.lo(i), hi = w.hi(i);
#pragma unroll
      for (int nt = 0; nt < kN; ++nt)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int j = n0 + nt * 8 + 2 * (lane % 4) + e;
          if (j < lo || j > hi) s[mt][nt][2 * hf + e] = -INFINITY;
        }
    }
}

// Running max / sum per row for the two rows (upper, lower half) of each 16-row tile.
// row_sum is this lane's partial sum; the quad is reduced only at the end.
template <int kM, int kN, int kD>
struct OnlineSoftmax {
  float row_max[kM][2];
  float row_sum[kM][2];

  __device__ __forceinline__ void init() {
#pragma unroll
    for (int mt = 0; mt < kM; ++mt)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        row_max[mt][hf] = -INFINITY;
        row_sum[mt][hf] = 0.0f;
      }
  }

  // Turns logits s into unnormalized probabilities and rescales o to the new max.
  __device__ __forceinline__ void update(float (&s)[kM][kN][4], float (&o)[kM][kD][4], const float (&mult)[kM][2]) {
    float alpha[kM][2];
    bool max_moved = false;
#pragma unroll
    for (int mt = 0; mt < kM; ++mt)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        float mx = row_max[mt][hf];
#pragma unroll
        for (int nt = 0; nt < kN; ++nt) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * hf], s[mt][nt][2 * hf + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        // A row that has seen no key yet keeps max -inf; subtract 0 then (exp2(-inf) = 0).
        const float m_scaled = mx == -INFINITY ? 0.0f : mx * mult[mt][hf];
        alpha[mt][hf] = fast_exp2(row_max[mt][hf] * mult[mt][hf] - m_scaled);
        max_moved |= mx != row_max[mt][hf];
        row_max[mt][hf] = mx;
        float sum = row_sum[mt][hf] * alpha[mt][hf];
#pragma unroll
        for (int nt = 0; nt < kN; ++nt)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const float pr = fast_exp2(fmaf(s[mt][nt][2 * hf + e], mult[mt][hf], -m_scaled));
            s[mt][nt][2 * hf + e] = pr;
            sum += pr;
          }
        row_sum[mt][hf] = sum;
      }
    // Once the running max settles (most tiles of a long row), skip the D/2 x kM
    // multiplies of rescaling O: alpha is exactly 1 for every row of the warp.
    if (__any_sync(0xffffffffu, max_moved)) {
#pragma unroll
      for (int mt = 0; mt < kM; ++mt)
#pragma unroll
        for (int dt = 0; dt < kD; ++dt)
#pragma unroll
          for (int e = 0; e < 4; ++e) o[mt][dt][e] *= alpha[mt][e / 2];
    }
  }
};

}  // namespace cuda
}  // namespace kvattn
