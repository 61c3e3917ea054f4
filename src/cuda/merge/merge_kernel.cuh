// Merge of two partial attention states (docs/semantics.md S7). A row is one
// token (all heads); each thread merges one chunk of N contiguous elements of
// one head, reading both LSEs of that (head, token) and, when out_lse is
// wanted, the thread holding the head's first chunk writes the merged LSE.
#pragma once
#include <cstdint>

#include "cuda/common/float_convert.cuh"
#include "cuda/common/packed_io.cuh"

namespace kvattn {
namespace cuda {

struct MergeParams {
  int64_t num_tokens = 0;
  int chunks_per_head = 0;
  int chunks_per_token = 0;  // num_heads * chunks_per_head
  // Outputs and partial outputs: byte pointers, byte strides (last dim contiguous).
  char* out = nullptr;
  int64_t out_stride_token = 0, out_stride_head = 0;
  const char* prefix = nullptr;
  int64_t prefix_stride_token = 0, prefix_stride_head = 0;
  const char* suffix = nullptr;
  int64_t suffix_stride_token = 0, suffix_stride_head = 0;
  // LSEs: element strides.
  float* out_lse = nullptr;  // optional
  int64_t out_lse_stride_head = 0, out_lse_stride_token = 0;
  const float* prefix_lse = nullptr;
  int64_t prefix_lse_stride_head = 0, prefix_lse_stride_token = 0;
  const float* suffix_lse = nullptr;
  int64_t suffix_lse_stride_head = 0, suffix_lse_stride_token = 0;
};

// S7 counts +inf as -inf (an empty state some kernels report as +inf).
__device__ __forceinline__ float lse_or_empty(float lse) { return lse == INFINITY ? -INFINITY : lse; }

template <typename T, int N>
__global__ void __launch_bounds__(256) merge_kernel(const MergeParams p) {
  const int64_t row_step = static_cast<int64_t>(gridDim.x) * blockDim.y;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; t < p.num_tokens; t += row_step) {
    for (int c = threadIdx.x; c < p.chunks_per_token; c += blockDim.x) {
      const int head = c / p.chunks_per_head;
      const int col = c - head * p.chunks_per_head;
      const float lp = lse_or_empty(__ldg(p.prefix_lse + head * p.prefix_lse_stride_head + t * p.prefix_lse_stride_token));
      const float ls = lse_or_empty(__ldg(p.suffix_lse + head * p.suffix_lse_stride_head + t * p.suffix_lse_stride_token));
      const float m = fmaxf(lp, ls);

      Fragment<T, N> merged;
      float lse;
      if (m == -INFINITY) {  // both states empty: zeros, lse -inf
#pragma unroll
        for (int i = 0; i < N; ++i) merged.v[i] = from_float<T>(0.0f);
        lse = -INFINITY;
      } else {
        const Fragment<T, N> a = load_fragment<T, N>(p.prefix + t * p.prefix_stride_token +
                                                     head * p.prefix_stride_head + col * N * sizeof(T));
        const Fragment<T, N> b = load_fragment<T, N>(p.suffix + t * p.suffix_stride_token +
                                                     head * p.suffix_stride_head + col * N * sizeof(T));
        // One side empty gives weights exactly 1 and 0: that side passes through unchanged.
        const float wp = expf(lp - m);
        const float ws = expf(ls - m);
        const float sum = wp + ws;
        const float scale_p = wp / sum;
        const float scale_s = ws / sum;
#pragma unroll
        for (int i = 0; i < N; ++i) merged.v[i] = from_float<T>(to_float(a.v[i]) * scale_p + to_float(b.v[i]) * scale_s);
        lse = m + logf(sum);
      }
      store_fragment(p.out + t * p.out_stride_token + head * p.out_stride_head + col * N * sizeof(T), merged);
      if (p.out_lse != nullptr && col == 0)
        p.out_lse[head * p.out_lse_stride_head + t * p.out_lse_stride_token] = lse;
    }
  }
}

}  // namespace cuda
}  // namespace kvattn
