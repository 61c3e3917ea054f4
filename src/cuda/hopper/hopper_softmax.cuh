// Online softmax on WGMMA accumulator fragments (docs/semantics.md S1-S4).
// A warpgroup's m64nN fp32 accumulator gives each thread two rows: value k of
// the fragment is row lane/4 + 8 * ((k / 2) % 2) of the warp's 16 rows, column
// 8 * (k / 4) + 2 * (lane % 4) + k % 2 -- the mma.sync C layout repeated along
// N, so the logit transforms and masks are the portable kernel's
// (prefill_softmax.cuh).
#pragma once
#include <cstdint>
#include <cute/tensor.hpp>

#include "cuda/prefill/prefill_softmax.cuh"

namespace kvattn {
namespace cuda {
namespace hopper {

__device__ __forceinline__ constexpr int frag_half(int k) { return (k >> 1) & 1; }
__device__ __forceinline__ int frag_col(int k, int lane) { return 8 * (k >> 2) + 2 * (lane & 3) + (k & 1); }

struct FragSoftmax {
  float row_max[2];
  float row_sum[2];  // this thread's partial sums; the quad is reduced at the end

  __device__ __forceinline__ void init() {
    row_max[0] = row_max[1] = -INFINITY;
    row_sum[0] = row_sum[1] = 0.0f;
  }

  // Softcap / non-positive-scale modes rewrite the logits first (LogitScale).
  template <class FragS>
  static __device__ __forceinline__ void transform(FragS& s, const LogitScale& logit, const float (&mult)[2]) {
    if (!logit.transform) return;
    const float inv0 = LogitScale::inverse_factor(mult[0]), inv1 = LogitScale::inverse_factor(mult[1]);
#pragma unroll
    for (int k = 0; k < cute::size(s); ++k)
      s(k) = logit.transformed(s(k), frag_half(k) ? mult[1] : mult[0], frag_half(k) ? inv1 : inv0);
  }

  // Hidden keys -> -inf. q_row: the query rows (in the sequence) of this thread's
  // two fragment rows (8 tile rows apart); n0: first key of the tile.
  template <class FragS>
  static __device__ __forceinline__ void mask(FragS& s, const KeyWindow& w, const int (&q_row)[2], int n0, int lane) {
    const int lo0 = w.lo(q_row[0]), hi0 = w.hi(q_row[0]), lo1 = w.lo(q_row[1]), hi1 = w.hi(q_row[1]);
#pragma unroll
    for (int k = 0; k < cute::size(s); ++k) {
      const int j = n0 + frag_col(k, lane);
      const bool hidden = frag_half(k) ? (j < lo1 || j > hi1) : (j < lo0 || j > hi0);
      if (hidden) s(k) = -INFINITY;
    }
  }

  // Logits -> unnormalized probabilities (in place), running max and sums updated.
  // alpha: the factor O must be multiplied by before this tile's P V is added;
  // returns false when it is exactly 1 for every row of the warp (the max settled,
  // as on most tiles of a long row) so the caller can skip rescale().
  // (Measured, H100: the row max as four interleaved chains instead of one serial
  // chain, 1-3% slower on 16-bit KV; 2^x of every 4th column group by an FMA-pipe
  // polynomial instead of the MUFU, 3-20% slower. docs/perf-notes.md, session 6.)
  template <class FragS>
  __device__ __forceinline__ bool scores(FragS& s, const float (&mult)[2], float (&alpha)[2]) {
    float mx[2] = {row_max[0], row_max[1]};
#pragma unroll
    for (int k = 0; k < cute::size(s); ++k) mx[frag_half(k)] = fmaxf(mx[frag_half(k)], s(k));
    float m_scaled[2];
    bool moved = false;
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      mx[hf] = fmaxf(mx[hf], __shfl_xor_sync(0xffffffffu, mx[hf], 1));
      mx[hf] = fmaxf(mx[hf], __shfl_xor_sync(0xffffffffu, mx[hf], 2));
      // A row that has seen no key yet keeps max -inf; subtract 0 then (exp2(-inf) = 0).
      m_scaled[hf] = mx[hf] == -INFINITY ? 0.0f : mx[hf] * mult[hf];
      alpha[hf] = fast_exp2(row_max[hf] * mult[hf] - m_scaled[hf]);
      moved |= mx[hf] != row_max[hf];
      row_max[hf] = mx[hf];
      row_sum[hf] *= alpha[hf];
    }
#pragma unroll
    for (int k = 0; k < cute::size(s); ++k) {
      const int hf = frag_half(k);
      const float pr = fast_exp2(fmaf(s(k), mult[hf], -m_scaled[hf]));
      s(k) = pr;
      row_sum[hf] += pr;
    }
    return __any_sync(0xffffffffu, moved);
  }

  template <class FragO>
  static __device__ __forceinline__ void rescale(FragO& o, const float (&alpha)[2]) {
#pragma unroll
    for (int k = 0; k < cute::size(o); ++k) o(k) *= alpha[frag_half(k)];
  }
};

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
