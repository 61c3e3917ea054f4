#include "reference/ref_merge.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kvref {

RefMergeResult reference_merge(const RefMergeInput& in) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  RefMergeResult r;
  r.num_heads = in.num_heads;
  r.head_dim = in.head_dim;
  r.num_tokens = in.num_tokens;
  r.out.assign(static_cast<size_t>(in.num_tokens) * in.num_heads * in.head_dim, 0.0);
  r.magnitude.assign(r.out.size(), 0.0);
  r.lse.assign(static_cast<size_t>(in.num_tokens) * in.num_heads, kNegInf);
  for (int64_t t = 0; t < in.num_tokens; ++t) {
    for (int h = 0; h < in.num_heads; ++h) {
      double lp = in.prefix_lse[h * in.prefix_lse_stride_head + t * in.prefix_lse_stride_token];
      double ls = in.suffix_lse[h * in.suffix_lse_stride_head + t * in.suffix_lse_stride_token];
      if (lp == std::numeric_limits<double>::infinity()) lp = kNegInf;  // S7: +inf counts as -inf
      if (ls == std::numeric_limits<double>::infinity()) ls = kNegInf;
      const double m = std::max(lp, ls);
      if (m == kNegInf) continue;  // both empty: zeros, -inf
      const double wp = std::exp(lp - m);
      const double ws = std::exp(ls - m);
      r.lse[h * in.num_tokens + t] = m + std::log(wp + ws);
      for (int d = 0; d < in.head_dim; ++d) {
        const double op = load_value(in.format, in.prefix, t * in.prefix_stride_token + h * in.prefix_stride_head + d);
        const double os = load_value(in.format, in.suffix, t * in.suffix_stride_token + h * in.suffix_stride_head + d);
        // A side with zero weight contributes nothing (even if its output is garbage).
        const double num = (wp > 0 ? wp * op : 0.0) + (ws > 0 ? ws * os : 0.0);
        r.out[r.out_index(t, h, d)] = num / (wp + ws);
        r.magnitude[r.out_index(t, h, d)] =
            ((wp > 0 ? wp * std::fabs(op) : 0.0) + (ws > 0 ? ws * std::fabs(os) : 0.0)) / (wp + ws);
      }
    }
  }
  return r;
}

}  // namespace kvref
