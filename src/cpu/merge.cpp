// CPU merge of two partial attention states (vLLM's merge_attn_states,
// docs/semantics.md S7), accumulated in fp32.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/backends.h"
#include "cpu/row_convert.h"

namespace kvattn {

namespace {

// +inf marks an empty state in some producers; treat it like -inf.
float normalize_lse(float lse) { return lse == std::numeric_limits<float>::infinity() ? -lse : lse; }

}  // namespace

void cpu_merge(const MergeProblem& p) {
  const int D = p.head_dim;
  const int bytes = dtype_size(p.dtype);
  const cpu::RowDecoder decoder{p.dtype, nullptr};
  const int64_t rows = p.num_tokens * p.num_heads;
  const float neg_inf = -std::numeric_limits<float>::infinity();
#pragma omp parallel if (rows * D > (1 << 16))
  {
    std::vector<float> buf(static_cast<size_t>(3 * D));
    float* prefix = buf.data();
    float* suffix = prefix + D;
    float* merged = suffix + D;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t t = i / p.num_heads;
      const int64_t h = i % p.num_heads;
      const float lp = normalize_lse(p.prefix_lse[h * p.prefix_lse_stride_head + t * p.prefix_lse_stride_token]);
      const float ls = normalize_lse(p.suffix_lse[h * p.suffix_lse_stride_head + t * p.suffix_lse_stride_token]);
      const float m = std::max(lp, ls);
      float lse = neg_inf;
      std::fill(merged, merged + D, 0.0f);
      if (m != neg_inf) {
        const float wp = std::exp(lp - m);
        const float ws = std::exp(ls - m);
        const float denom = wp + ws;
        // A side with weight 0 is not read: its output may be anything.
        if (wp > 0.0f) {
          cpu::decode_row(decoder, static_cast<const unsigned char*>(p.prefix) +
                                       (t * p.prefix_stride_token + h * p.prefix_stride_head) * bytes,
                          prefix, D);
          for (int d = 0; d < D; ++d) merged[d] += wp * prefix[d];
        }
        if (ws > 0.0f) {
          cpu::decode_row(decoder, static_cast<const unsigned char*>(p.suffix) +
                                       (t * p.suffix_stride_token + h * p.suffix_stride_head) * bytes,
                          suffix, D);
          for (int d = 0; d < D; ++d) merged[d] += ws * suffix[d];
        }
        for (int d = 0; d < D; ++d) merged[d] /= denom;
        lse = m + std::log(denom);
      }
      cpu::encode_row(p.dtype,
                      merged, static_cast<unsigned char*>(p.out) + (t * p.out_stride_token + h * p.out_stride_head) * bytes,
                      D);
      if (p.out_lse) p.out_lse[h * p.out_lse_stride_head + t * p.out_lse_stride_token] = lse;
    }
  }
}

}  // namespace kvattn
