// End of the prefill kernel: normalize O (sinks, v_descale), write O and LSE
// (docs/semantics.md S3, S4). O goes through the warp's own Q rows in smem so
// that global stores are whole 16-byte row chunks.
#pragma once
#include <cstdint>

#include "cuda/common/ptx.h"
#include "cuda/prefill/prefill_loads.cuh"
#include "cuda/prefill/prefill_params.h"
#include "cuda/prefill/prefill_softmax.cuh"

namespace kvattn {
namespace cuda {

__device__ __forceinline__ float read_sink(const PrefillParams& p, int h) {
  const int64_t i = h * p.sinks_stride;
  switch (p.sinks_dtype) {
    case DType::kBFloat16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p.sinks)[i]);
    case DType::kFloat16:
      return __half2float(static_cast<const __half*>(p.sinks)[i]);
    default:
      return static_cast<const float*>(p.sinks)[i];
  }
}

// The end of one row's online softmax: O's factor (1 / sum with the sink in the
// denominator, times v_descale) and the LSE in natural-log units. sum: the
// row's full (quad-reduced) sum of exp2(logit * mult - row_max * mult); row_max: its
// running max (-inf when the row saw no key: S4, zeros and LSE -inf).
__device__ __forceinline__ void normalize_row(float sum, float row_max, float mult, bool has_sink, float sink,
                                              float v_descale, float& factor, float& lse) {
  factor = 0.0f;
  lse = -INFINITY;
  if (row_max == -INFINITY) return;
  float m2 = row_max * mult;  // log2 units
  float scale_o = 1.0f;
  if (has_sink) {  // S3: the sink joins the denominator only
    const float s2 = sink * kLog2e;
    const float m_all = fmaxf(m2, s2);
    scale_o = exp2f(m2 - m_all);
    sum = sum * scale_o + exp2f(s2 - m_all);
    m2 = m_all;
  }
  factor = scale_o / sum * v_descale;
  lse = (m2 + log2f(sum)) * kLn2;
}

// Copies `rows` rows of the staged 16-bit tile at `stage` to out rows starting at
// token q_row0 (only rows < rows_valid); `first`/`step` split the chunks among threads.
template <class Traits, class QT>
__device__ __forceinline__ void store_rows(const PrefillParams& p, uint32_t stage, int rows, int rows_valid,
                                           int64_t q_row0, int h, int first, int step) {
  constexpr int kChunks = Traits::kHeadDim / 8;
  QT* out = static_cast<QT*>(p.out) + h * p.out_stride_head;
  for (int idx = first; idx < rows * kChunks; idx += step) {
    const int r = idx / kChunks, c = idx % kChunks;
    if (r >= rows_valid) break;
    const uint4 v = lds128(stage + r * Traits::kRow16Bytes + c * 16);
    store16_to_global(out + (q_row0 + r) * p.out_stride_token + c * 8, v, p.aligned16);
  }
}

// Normalizes this warp's O rows and writes O and LSE. q_row0: token of the warp's
// first row; rows_valid: how many of the warp's rows exist in the sequence.
template <class Traits, class QT>
__device__ __forceinline__ void write_warp_output(
    const PrefillParams& p, float (&o)[Traits::kMTiles][Traits::kDTiles][4],
    const OnlineSoftmax<Traits::kMTiles, Traits::kNTiles, Traits::kDTiles>& softmax,
    const float (&mult)[Traits::kMTiles][2], float v_descale,
    bool has_sink, float sink, uint32_t warp_stage, int64_t q_row0, int rows_valid, int h, int lane) {
  __syncwarp();  // the staging rows are this warp's Q rows: every lane's last ldmatrix of them is done
#pragma unroll
  for (int mt = 0; mt < Traits::kMTiles; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      float sum = softmax.row_sum[mt][hf];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      float factor, lse;
      normalize_row(sum, softmax.row_max[mt][hf], mult[mt][hf], has_sink, sink, v_descale, factor, lse);
      const int r = mt * 16 + hf * 8 + lane / 4;
      if (p.lse != nullptr && lane % 4 == 0 && r < rows_valid)
        p.lse[h * p.lse_stride_head + (q_row0 + r) * p.lse_stride_token] = lse;
#pragma unroll
      for (int dt = 0; dt < Traits::kDTiles; ++dt) {
        const uint32_t v = pack2<QT>(o[mt][dt][2 * hf] * factor, o[mt][dt][2 * hf + 1] * factor);
        sts32(warp_stage + r * Traits::kRow16Bytes + (dt * 8 + 2 * (lane % 4)) * 2, v);
      }
    }
  __syncwarp();
  store_rows<Traits, QT>(p, warp_stage, Traits::kWarpRows, rows_valid, q_row0, h, lane, 32);
}

// A tile whose rows see no key at all: zeros and LSE -inf (S4), written by the CTA.
template <class Traits, class QT>
__device__ __forceinline__ void write_empty_tile(const PrefillParams& p, uint32_t sq, int64_t q_row0, int rows_valid,
                                                 int h, int tid) {
  constexpr int kChunks = Traits::kHeadDim / 8;
  for (int idx = tid; idx < rows_valid * kChunks; idx += Traits::kThreads)
    sts128(sq + (idx / kChunks) * Traits::kRow16Bytes + (idx % kChunks) * 16, make_uint4(0u, 0u, 0u, 0u));
  __syncthreads();
  store_rows<Traits, QT>(p, sq, Traits::kBlockM, rows_valid, q_row0, h, tid, Traits::kThreads);
  if (p.lse != nullptr)
    for (int r = tid; r < rows_valid; r += Traits::kThreads)
      p.lse[h * p.lse_stride_head + (q_row0 + r) * p.lse_stride_token] = -INFINITY;
}

}  // namespace cuda
}  // namespace kvattn
