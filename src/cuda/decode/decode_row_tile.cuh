// What the split-KV decode kernel hands to its row-tile compute (the wide
// 16-row or the narrow 8-row formulation, decode_rows_*.cuh): the packed rows
// of the CTA, the key window, the staged Q rows and their scales.
#pragma once
#include <cmath>
#include <cstdint>

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

struct RowTileCtx {
  const DecodeParams* p;
  KeyWindow win;
  int row0, row_end;  // packed rows [row0, row_end) of this CTA
  int g;              // query heads per kv head
  int s_lo, s_hi;     // this split's keys [s_lo, s_hi)
  float score_mul;    // softmax scale x q/k descales x fp8 widen factor
  const float* row_scale;  // [tile row] power of two undoing the staged Q row's scale
  const uint8_t* q_smem;   // [tile row][kQPitch bytes] Q in the MMA type
  int warp, lane;

  // Logit multiplier (log2 units, or pre-tanh units with softcap) and the keys
  // [lo, hi] that tile row tr may see in this split; a padding row sees none.
  __device__ void row_constants(int tr, float& mul, int& lo, int& hi) const {
    const float m = score_mul * row_scale[tr];
    mul = p->softcap > 0.0f ? m / p->softcap : m * kLog2e;
    const int pr = row0 + tr;
    if (pr < row_end) {
      const int i = pr / g;
      lo = static_cast<int>(max(win.lo(i), int64_t(s_lo)));
      hi = static_cast<int>(min(win.hi(i), int64_t(s_hi) - 1));
    } else {
      lo = 0, hi = -1;
    }
  }
};

// Scales a raw logit into the softmax domain (log2 units), applying softcap
// and the key mask; -inf for a masked key.
__device__ __forceinline__ float logit_log2(float s, float mul, bool softcap, float cap_log2, bool need_mask, int key,
                                            int lo, int hi) {
  float v = s * mul;
  if (softcap) v = cap_log2 * tanhf(v);
  if (need_mask && (key < lo || key > hi)) v = -INFINITY;
  return v;
}

// The four V rows a lane reads for the 16 keys of slice `slice`: keys 2c, 2c+1,
// 2c+8, 2c+9, bytes [col * kVBytesPerThread, +kVBytesPerThread) of each. Both
// formulations read V this way (the wide one as B fragments of P V, the narrow
// one as A fragments of V^T P^T); for_each_word(f) calls f(q, w0, w1, w2, w3)
// for the lane's 32-bit words q = 0, 1, ... of the four rows, in order.
template <class Shape>
struct VQuad {
  static constexpr int kLoads = Shape::kVBytesPerThread / Shape::kVLoad;
  static constexpr int kWords = Shape::kVLoad / 4;
  const uint8_t* row0;

  __device__ __forceinline__ VQuad(const uint8_t* vs, int slice, int c, int col)
      : row0(vs + (slice * 16 + 2 * c) * Shape::kRowPitch + col * Shape::kVBytesPerThread) {}

  template <class F>
  __device__ __forceinline__ void for_each_word(F&& f) const {
    constexpr int kPitch = Shape::kRowPitch;
#pragma unroll
    for (int ld = 0; ld < kLoads; ++ld) {
      const uint8_t* src = row0 + ld * Shape::kVLoad;
      uint32_t w0[kWords], w1[kWords], w2[kWords], w3[kWords];
      lds<Shape::kVLoad, Shape::kVLoad>(w0, src);
      lds<Shape::kVLoad, Shape::kVLoad>(w1, src + kPitch);
      lds<Shape::kVLoad, Shape::kVLoad>(w2, src + 8 * kPitch);
      lds<Shape::kVLoad, Shape::kVLoad>(w3, src + 9 * kPitch);
#pragma unroll
      for (int x = 0; x < kWords; ++x) f(ld * kWords + x, w0[x], w1[x], w2[x], w3[x]);
    }
  }
};

}  // namespace decode
}  // namespace cuda
}  // namespace kvattn
