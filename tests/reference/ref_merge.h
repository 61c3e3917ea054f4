// Float64 reference of merging two partial attention states (docs/semantics.md S7).
#pragma once
#include <cstdint>
#include <vector>

#include "reference/ref_formats.h"

namespace kvref {

struct RefMergeInput {
  int64_t num_tokens = 0;
  int num_heads = 0;
  int head_dim = 0;
  Format format = Format::kF32;  // of both partial outputs
  const void* prefix = nullptr;  // (t, h, d) at prefix[t * prefix_stride_token + h * prefix_stride_head + d]
  int64_t prefix_stride_token = 0, prefix_stride_head = 0;
  const float* prefix_lse = nullptr;  // (h, t) at prefix_lse[h * stride_head + t * stride_token]
  int64_t prefix_lse_stride_head = 0, prefix_lse_stride_token = 0;
  const void* suffix = nullptr;
  int64_t suffix_stride_token = 0, suffix_stride_head = 0;
  const float* suffix_lse = nullptr;
  int64_t suffix_lse_stride_head = 0, suffix_lse_stride_token = 0;
};

struct RefMergeResult {
  int num_heads = 0;
  int head_dim = 0;
  int64_t num_tokens = 0;
  std::vector<double> out;        // [(t * H + h) * D + d]
  std::vector<double> magnitude;  // (wp |o_p| + ws |o_s|) / (wp + ws): scale of fp32 rounding error
  std::vector<double> lse;        // [h * T + t]
  int64_t out_index(int64_t t, int h, int d) const { return (t * num_heads + h) * head_dim + d; }
};

RefMergeResult reference_merge(const RefMergeInput& in);

}  // namespace kvref
