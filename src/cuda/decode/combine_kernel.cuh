// Merges the split-KV partial states of each packed row into the final output
// and LSE (S3 sinks, S4 empty rows, v_descale). One warp per packed row;
// splits are summed in index order so results are bitwise reproducible.
#pragma once
#include <cstdint>

#include "cuda/common/ptx.h"
#include "cuda/common/routing.h"
#include "cuda/decode/decode_params.h"
#include "cuda/decode/decode_primitives.cuh"

#include "kvattn/attention.h"

namespace kvattn {
namespace cuda {
namespace decode {

constexpr int kCombineRowsPerBlock = kWarps;  // one warp per row

template <int D, typename QT>
__global__ void __launch_bounds__(kThreads, 4) decode_combine_kernel(const __grid_constant__ DecodeParams p) {
  __shared__ float weights[kWarps][kMaxSplits];
  // Launched with programmatic serialization (decode_launch.cuh): lets the
  // prefill kernel that follows in a mixed batch start on SMs the decode kernel
  // frees, then waits for the split partials (every thread, so this grid's
  // completion still implies the decode kernel's).
  grid_dependents_may_launch();
  grid_dependency_wait();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int row_groups = (p.rows_bound + kCombineRowsPerBlock - 1) / kCombineRowsPerBlock;
  int bx = blockIdx.x;
  const int group = bx % row_groups;
  bx /= row_groups;
  const int hk = bx % p.num_kv_heads;
  const int b = bx / p.num_kv_heads;
  const int pr = group * kCombineRowsPerBlock + warp;

  const int q_begin = p.cu_seqlens_q[b];
  const int q_len = p.cu_seqlens_q[b + 1] - q_begin;
  if (!is_short_query(q_len) || pr >= q_len * p.group) return;  // whole warp leaves

  const int num_splits = p.num_splits;
  auto slot = [&](int s) { return ((int64_t(s) * p.batch + b) * p.num_kv_heads + hk) * p.rows_bound + pr; };
  const float2 empty = make_float2(-INFINITY, 0.0f);
  const float2 ml0 = lane < num_splits ? p.ws_ml[slot(lane)] : empty;
  const float2 ml1 = lane + 32 < num_splits ? p.ws_ml[slot(lane + 32)] : empty;
  const float m_all = warp_max(fmaxf(ml0.x, ml1.x));
  const float w0 = ml0.x == -INFINITY ? 0.0f : exp2f(ml0.x - m_all);
  const float w1 = ml1.x == -INFINITY ? 0.0f : exp2f(ml1.x - m_all);
  const float l_all = warp_sum(w0 * ml0.y + w1 * ml1.y);
  weights[warp][lane] = w0;
  weights[warp][lane + 32] = w1;
  __syncwarp();

  const int h = hk * p.group + pr % p.group;
  const int64_t token = q_begin + pr / p.group;
  float lse;
  const float f = finalize_row(p, h, m_all, l_all, lse) * p.v_descale.at(b, hk);
  QT* out = static_cast<QT*>(p.out) + token * p.out_stride_token + int64_t(h) * p.out_stride_head;
#pragma unroll
  for (int k = 0; k < D / 32; ++k) {
    const int d = lane + 32 * k;
    float acc = 0.0f;
    for (int s = 0; s < num_splits; ++s) {
      const float w = weights[warp][s];
      if (w != 0.0f) acc += w * p.ws_out[slot(s) * D + d];
    }
    out[d] = from_float<QT>(acc * f);
  }
  if (lane == 0 && p.lse != nullptr) p.lse[h * p.lse_stride_head + token * p.lse_stride_token] = lse;
}

}  // namespace decode
}  // namespace cuda
}  // namespace kvattn
