// CPU varlen attention (docs/semantics.md S1-S4): validate data-dependent
// bounds, plan work items, run them on all OpenMP threads, then normalize each
// row (sinks, v_descale, LSE) and write it in q's dtype.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/backends.h"
#include "cpu/attention_plan.h"
#include "cpu/attention_tile.h"
#include "cpu/bounds.h"
#include "cpu/fp8_table.h"
#include "cpu/row_convert.h"

namespace kvattn {

namespace {

using cpu::AttentionPlan;
using cpu::KeyRange;
using cpu::SequenceSpan;
using cpu::WorkItem;

// Writes one output row (and its LSE) of query `i` of sequence `seq` from an
// unnormalized softmax state. `tmp` holds head_dim floats.
void write_row(const AttentionProblem& p, const SequenceSpan& seq, int64_t i, int64_t head, const float* o, float m,
               float l, float v_descale, float* tmp) {
  const int D = p.head_dim;
  const int64_t token = seq.q_start + i;
  // Decided from the mask, not from m or l, so NaN scores stay visible as NaN.
  const KeyRange visible = cpu::visible_keys(p, i, seq.q_len, seq.kv_len);
  float lse = -std::numeric_limits<float>::infinity();
  if (visible.end <= visible.begin) {
    std::fill(tmp, tmp + D, 0.0f);  // the row sees no key: zeros even with a sink (S4)
  } else {
    float norm;
    if (p.sinks) {
      // The sink joins only the denominator; a common max keeps e^x finite.
      const float sink = cpu::load_scalar(p.sinks_dtype, p.sinks, head * p.sinks_stride);
      const float m2 = std::max(m, sink);
      const float keep = std::exp(m - m2);
      const float denom = l * keep + std::exp(sink - m2);
      norm = keep * v_descale / denom;
      lse = m2 + std::log(denom);
    } else {
      norm = v_descale / l;
      lse = m + std::log(l);
    }
    for (int d = 0; d < D; ++d) tmp[d] = o[d] * norm;
  }
  void* dst = static_cast<unsigned char*>(p.out) +
              (token * p.out_stride_token + head * p.out_stride_head) * dtype_size(p.q_dtype);
  cpu::encode_row(p.q_dtype, tmp, dst, D);
  if (p.lse) p.lse[head * p.lse_stride_head + token * p.lse_stride_token] = lse;
}

// Partial softmax states of split items: o rows of `ld` floats, m, l.
struct PartialStates {
  int64_t ld = 0;
  std::vector<float> o, m, l;
};

float score_factor(const AttentionProblem& p, int64_t seq, int kv_head) {
  float f = p.softmax_scale * p.q_descale.at(seq, kv_head) * p.k_descale.at(seq, kv_head);
  if (p.softcap > 0.0f) f /= p.softcap;  // tanh takes s / softcap
  return f;
}

// Runs one item and writes its rows: final output, or partial state when split.
void run_item(const AttentionProblem& p, const AttentionPlan& plan, const WorkItem& item,
              const cpu::RowDecoder& q_decoder, const cpu::RowDecoder& kv_decoder, cpu::TileScratch& scratch,
              PartialStates& partial, float* tmp) {
  const SequenceSpan& seq = plan.seqs[static_cast<size_t>(item.seq)];
  cpu::TileJob job;
  job.p = &p;
  job.seq = &seq;
  job.item = &item;
  job.q_decoder = q_decoder;
  job.kv_decoder = kv_decoder;
  job.score_factor = score_factor(p, item.seq, item.kv_head);
  cpu::compute_tile_states(job, scratch);

  const int G = p.num_q_heads / p.num_kv_heads;
  const int64_t rows = (item.q_end - item.q_begin) * G;
  if (item.partial_row >= 0) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t dst = item.partial_row + r;
      std::memcpy(&partial.o[static_cast<size_t>(dst * partial.ld)], scratch.o + r * scratch.ld,
                  sizeof(float) * static_cast<size_t>(p.head_dim));
      partial.m[static_cast<size_t>(dst)] = scratch.m[r];
      partial.l[static_cast<size_t>(dst)] = scratch.l[r];
    }
    return;
  }
  const float v_descale = p.v_descale.at(item.seq, item.kv_head);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t head = static_cast<int64_t>(item.kv_head) * G + r % G;
    write_row(p, seq, item.q_begin + r / G, head, scratch.o + r * scratch.ld, scratch.m[r], scratch.l[r], v_descale,
              tmp);
  }
}

// Combines the chunks of one split group row by row and writes the result.
void finish_split_group(const AttentionProblem& p, const AttentionPlan& plan, const cpu::SplitGroup& g,
                        const PartialStates& partial, float* acc, float* tmp) {
  const int G = p.num_q_heads / p.num_kv_heads;
  const int D = p.head_dim;
  const int64_t rows = (g.q_end - g.q_begin) * G;
  const SequenceSpan& seq = plan.seqs[static_cast<size_t>(g.seq)];
  const float v_descale = p.v_descale.at(g.seq, g.kv_head);
  for (int64_t r = 0; r < rows; ++r) {
    float m = -std::numeric_limits<float>::infinity();
    for (int c = 0; c < g.num_chunks; ++c) m = std::max(m, partial.m[static_cast<size_t>(g.partial_row + c * rows + r)]);
    float l = 0.0f;
    std::fill(acc, acc + D, 0.0f);
    for (int c = 0; c < g.num_chunks; ++c) {
      const int64_t src = g.partial_row + c * rows + r;
      const float mc = partial.m[static_cast<size_t>(src)];
      if (mc == -std::numeric_limits<float>::infinity()) continue;  // chunk saw no key of this row
      const float w = std::exp(mc - m);
      l += partial.l[static_cast<size_t>(src)] * w;
      const float* o = &partial.o[static_cast<size_t>(src * partial.ld)];
      for (int d = 0; d < D; ++d) acc[d] += o[d] * w;
    }
    const int64_t head = static_cast<int64_t>(g.kv_head) * G + r % G;
    write_row(p, seq, g.q_begin + r / G, head, acc, m, l, v_descale, tmp);
  }
}

}  // namespace

void cpu_varlen_attention(const AttentionProblem& p) {
  cpu::check_attention_bounds(p);  // throws before anything is written
  const int max_threads = std::max(1, omp_get_max_threads());
  const AttentionPlan plan = cpu::make_attention_plan(p, max_threads);
  if (plan.items.empty()) return;

  const cpu::RowDecoder q_decoder{p.q_dtype, nullptr};
  const cpu::RowDecoder kv_decoder{p.kv_dtype, is_fp8(p.kv_dtype) ? cpu::fp8_decode_table(p.kv_dtype) : nullptr};

  PartialStates partial;
  partial.ld = p.head_dim;
  partial.o.resize(static_cast<size_t>(plan.partial_rows * partial.ld));
  partial.m.resize(static_cast<size_t>(plan.partial_rows));
  partial.l.resize(static_cast<size_t>(plan.partial_rows));

  const int64_t num_items = static_cast<int64_t>(plan.items.size());
  const int64_t num_groups = static_cast<int64_t>(plan.groups.size());
  const int threads = static_cast<int>(std::min<int64_t>(max_threads, num_items));
#pragma omp parallel num_threads(threads)
  {
    cpu::TileScratch scratch;
    scratch.reserve(plan.max_rows_per_item, plan.max_queries_per_item, p.head_dim);
    std::vector<float> tmp(static_cast<size_t>(2 * p.head_dim));
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < num_items; ++i) {
      run_item(p, plan, plan.items[static_cast<size_t>(i)], q_decoder, kv_decoder, scratch, partial, tmp.data());
    }
    // (implicit barrier: every chunk is written before groups combine)
#pragma omp for schedule(dynamic, 1)
    for (int64_t g = 0; g < num_groups; ++g) {
      finish_split_group(p, plan, plan.groups[static_cast<size_t>(g)], partial, tmp.data(),
                         tmp.data() + p.head_dim);
    }
  }
}

}  // namespace kvattn
