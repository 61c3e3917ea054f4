#include "cpu/attention_plan.h"

#include <algorithm>
#include <cmath>

namespace kvattn {
namespace cpu {

namespace {

// Rows (queries x heads of a GQA group) an item aims for: enough to amortize
// decoding a K/V tile, few enough that Q, O and the score tile stay in L2.
constexpr int64_t kTargetRows = 64;
// Splitting along keys only when each chunk keeps at least this many keys.
constexpr int64_t kMinSplitKeys = 256;
// Per-row overhead (loading q, writing out) in units of one key of work.
constexpr double kRowOverhead = 16.0;

KeyRange union_of_visible(const AttentionProblem& p, const SequenceSpan& s, int64_t q_begin, int64_t q_end) {
  KeyRange u{s.kv_len, 0};
  for (int64_t i = q_begin; i < q_end; ++i) {
    const KeyRange r = visible_keys(p, i, s.q_len, s.kv_len);
    if (r.end <= r.begin) continue;
    u.begin = std::min(u.begin, r.begin);
    u.end = std::max(u.end, r.end);
  }
  if (u.end <= u.begin) return KeyRange{0, 0};
  return u;
}

}  // namespace

AttentionPlan make_attention_plan(const AttentionProblem& p, int num_threads) {
  AttentionPlan plan;
  const int group = p.num_q_heads / p.num_kv_heads;
  const int64_t q_tile = std::max<int64_t>(1, kTargetRows / group);

  plan.seqs.resize(static_cast<size_t>(p.batch));
  for (int64_t b = 0; b < p.batch; ++b) {
    SequenceSpan& s = plan.seqs[static_cast<size_t>(b)];
    s.q_start = p.cu_seqlens_q[b];
    s.q_len = static_cast<int64_t>(p.cu_seqlens_q[b + 1]) - p.cu_seqlens_q[b];
    if (p.paged) {
      s.kv_len = p.seqused_k[b];
    } else {
      s.kv_start = p.cu_seqlens_k[b];
      s.kv_len = static_cast<int64_t>(p.cu_seqlens_k[b + 1]) - p.cu_seqlens_k[b];
    }
  }

  // Query tiles of every (sequence, kv head).
  std::vector<WorkItem> tiles;
  for (int64_t b = 0; b < p.batch; ++b) {
    const SequenceSpan& s = plan.seqs[static_cast<size_t>(b)];
    for (int64_t q0 = 0; q0 < s.q_len; q0 += q_tile) {
      WorkItem t;
      t.seq = b;
      t.q_begin = q0;
      t.q_end = std::min(s.q_len, q0 + q_tile);
      t.keys = union_of_visible(p, s, t.q_begin, t.q_end);
      const int64_t rows = (t.q_end - t.q_begin) * group;
      t.cost = static_cast<double>(rows) * (static_cast<double>(t.keys.end - t.keys.begin) + kRowOverhead);
      plan.max_queries_per_item = std::max(plan.max_queries_per_item, t.q_end - t.q_begin);
      for (int h = 0; h < p.num_kv_heads; ++h) {
        t.kv_head = h;
        tiles.push_back(t);
      }
    }
  }
  plan.max_rows_per_item = plan.max_queries_per_item * group;

  // Split along keys when there are too few tiles for the threads (about four
  // items per thread lets the dynamic schedule even out unequal costs): each
  // tile gets chunks in proportion to its share of the total work.
  const int64_t wanted_items = num_threads > 1 ? 4 * static_cast<int64_t>(num_threads) : 1;
  const int64_t num_tiles = static_cast<int64_t>(tiles.size());
  double total_cost = 0.0;
  for (const WorkItem& t : tiles) total_cost += t.cost;
  const double cost_per_item = total_cost / static_cast<double>(wanted_items);
  for (const WorkItem& t : tiles) {
    const int64_t span = t.keys.end - t.keys.begin;
    int64_t chunks = 1;
    if (num_tiles < wanted_items && cost_per_item > 0.0) {
      chunks = std::min(static_cast<int64_t>(std::ceil(t.cost / cost_per_item)), span / kMinSplitKeys);
      chunks = std::max<int64_t>(chunks, 1);
    }
    if (chunks == 1) {
      plan.items.push_back(t);
      continue;
    }
    const int64_t chunk_keys = ((span + chunks - 1) / chunks + kKeyTile - 1) / kKeyTile * kKeyTile;
    chunks = (span + chunk_keys - 1) / chunk_keys;
    SplitGroup g;
    g.seq = t.seq;
    g.kv_head = t.kv_head;
    g.q_begin = t.q_begin;
    g.q_end = t.q_end;
    g.partial_row = plan.partial_rows;
    g.num_chunks = static_cast<int>(chunks);
    const int64_t rows = (t.q_end - t.q_begin) * group;
    for (int64_t c = 0; c < chunks; ++c) {
      WorkItem item = t;
      item.keys.begin = t.keys.begin + c * chunk_keys;
      item.keys.end = std::min(t.keys.end, item.keys.begin + chunk_keys);
      item.partial_row = g.partial_row + c * rows;
      item.cost = static_cast<double>(rows) * (static_cast<double>(item.keys.end - item.keys.begin) + kRowOverhead);
      plan.items.push_back(item);
    }
    plan.partial_rows += chunks * rows;
    plan.groups.push_back(g);
  }

  std::stable_sort(plan.items.begin(), plan.items.end(),
                   [](const WorkItem& a, const WorkItem& b) { return a.cost > b.cost; });
  return plan;
}

}  // namespace cpu
}  // namespace kvattn
