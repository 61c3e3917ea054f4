#include "reference/ref_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kvref {

namespace {

int64_t kv_length(const RefAttentionInput& in, int b) {
  return in.paged ? in.seqused_k[b] : in.cu_seqlens_k[b + 1] - in.cu_seqlens_k[b];
}

// Element offset of (position, kv head) of sequence b, before adding d.
int64_t kv_offset(const RefAttentionInput& in, int b, int64_t pos, int kv_head, bool value) {
  const int64_t sb = value ? in.v_stride_block : in.k_stride_block;
  const int64_t st = value ? in.v_stride_token : in.k_stride_token;
  const int64_t sh = value ? in.v_stride_head : in.k_stride_head;
  if (in.paged) {
    const int64_t block = in.block_table[b * in.block_table_stride + pos / in.page_size];
    return block * sb + (pos % in.page_size) * st + kv_head * sh;
  }
  return (in.cu_seqlens_k[b] + pos) * st + kv_head * sh;
}

// S2: key j visible to query i of a sequence with these lengths.
bool visible(const RefAttentionInput& in, int64_t i, int64_t j, int64_t q_len, int64_t kv_len) {
  const int64_t off = kv_len - q_len;
  const int right = in.causal ? 0 : in.window_right;
  if (in.window_left >= 0 && j < i + off - in.window_left) return false;
  if (right >= 0 && j > i + off + right) return false;
  return true;
}

}  // namespace

RefAttentionResult reference_attention(const RefAttentionInput& in) {
  RefAttentionResult r;
  r.total_q = in.cu_seqlens_q[in.batch];
  r.num_q_heads = in.num_q_heads;
  r.head_dim = in.head_dim;
  const int D = in.head_dim;
  r.out.assign(static_cast<size_t>(r.total_q) * in.num_q_heads * D, 0.0);
  r.out_magnitude.assign(r.out.size(), 0.0);
  r.lse.assign(static_cast<size_t>(r.total_q) * in.num_q_heads, -std::numeric_limits<double>::infinity());
  r.keys_seen.assign(r.lse.size(), 0);
  const int group = in.num_q_heads / in.num_kv_heads;
  const double scale = in.softmax_scale != 0.0 ? in.softmax_scale : 1.0 / std::sqrt(static_cast<double>(D));

  // Work items: (sequence, head, block of query rows), so long prefills with
  // few heads still spread over every thread.
  constexpr int64_t kRowsPerItem = 64;
  struct Item {
    int b, h;
    int64_t row_begin, row_end;
  };
  std::vector<Item> items;
  for (int b = 0; b < in.batch; ++b) {
    const int64_t q_len = in.cu_seqlens_q[b + 1] - in.cu_seqlens_q[b];
    for (int h = 0; h < in.num_q_heads; ++h)
      for (int64_t r0 = 0; r0 < q_len; r0 += kRowsPerItem) items.push_back({b, h, r0, std::min(q_len, r0 + kRowsPerItem)});
  }
  const int64_t work_items = static_cast<int64_t>(items.size());
#pragma omp parallel for schedule(dynamic)
  for (int64_t item = 0; item < work_items; ++item) {
    const int b = items[item].b;
    const int h = items[item].h;
    const int kvh = h / group;
    const int64_t q_start = in.cu_seqlens_q[b];
    const int64_t q_len = in.cu_seqlens_q[b + 1] - q_start;
    const int64_t kv_len = kv_length(in, b);
    const double score_scale = scale * in.q_descale.at(b, kvh) * in.k_descale.at(b, kvh);
    const double v_scale = in.v_descale.at(b, kvh);
    const bool has_sink = in.sinks != nullptr;
    const double sink = has_sink ? load_value(in.sinks_format, in.sinks, h * in.sinks_stride) : 0.0;

    // Decode this (sequence, kv head)'s keys and values once.
    std::vector<double> kmat(static_cast<size_t>(kv_len) * D), vmat(kmat.size());
    for (int64_t j = 0; j < kv_len; ++j) {
      const int64_t k_off = kv_offset(in, b, j, kvh, false);
      const int64_t v_off = kv_offset(in, b, j, kvh, true);
      for (int d = 0; d < D; ++d) {
        kmat[j * D + d] = load_value(in.kv_format, in.k, k_off + d);
        vmat[j * D + d] = load_value(in.kv_format, in.v, v_off + d);
      }
    }

    std::vector<double> q(D), scores;
    std::vector<int64_t> keys;
    for (int64_t i = items[item].row_begin; i < items[item].row_end; ++i) {
      const int64_t t = q_start + i;
      for (int d = 0; d < D; ++d)
        q[d] = load_value(in.q_format, in.q, t * in.q_stride_token + h * in.q_stride_head + d);

      // S1: scores of the visible keys.
      keys.clear();
      scores.clear();
      for (int64_t j = 0; j < kv_len; ++j) {
        if (!visible(in, i, j, q_len, kv_len)) continue;
        const double* k = &kmat[j * D];
        double dot = 0.0;
        for (int d = 0; d < D; ++d) dot += q[d] * k[d];
        double s = dot * score_scale;
        if (in.softcap > 0.0) s = in.softcap * std::tanh(s / in.softcap);
        keys.push_back(j);
        scores.push_back(s);
      }
      r.keys_seen[r.row_index(h, t)] = static_cast<int>(keys.size());
      if (keys.empty()) continue;  // S4: zeros and -inf

      // S3/S4: softmax with the sink in the denominator only.
      double m = *std::max_element(scores.begin(), scores.end());
      if (has_sink) m = std::max(m, sink);
      double denom = has_sink ? std::exp(sink - m) : 0.0;
      for (double s : scores) denom += std::exp(s - m);
      r.lse[r.row_index(h, t)] = m + std::log(denom);

      double* out = &r.out[r.out_index(t, h, 0)];
      double* mag = &r.out_magnitude[r.out_index(t, h, 0)];
      for (size_t n = 0; n < keys.size(); ++n) {
        const double p = std::exp(scores[n] - m) / denom;
        const double* vrow = &vmat[keys[n] * D];
        for (int d = 0; d < D; ++d) {
          const double v = vrow[d];
          out[d] += p * v;
          mag[d] += p * std::fabs(v);
        }
      }
      for (int d = 0; d < D; ++d) {
        out[d] *= v_scale;
        mag[d] *= std::fabs(v_scale);
      }
    }
  }
  return r;
}

}  // namespace kvref
