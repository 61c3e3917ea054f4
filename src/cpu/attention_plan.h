// How the CPU backend cuts one attention call into independent work items.
// An item is (sequence, kv head, tile of queries, range of keys): it computes
// every query head of the kv head's GQA group for those queries, so each K/V
// row is decoded once and reused by the whole group. Items whose sequence has
// many keys but too few items to keep every thread busy (decode) are split
// along the keys; their partial softmax states are combined afterwards.
#pragma once
#include <cstdint>
#include <vector>

#include "core/problem.h"

namespace kvattn {
namespace cpu {

struct SequenceSpan {
  int64_t q_start = 0;   // first global query row
  int64_t q_len = 0;
  int64_t kv_start = 0;  // contiguous KV: first global key row; paged: 0
  int64_t kv_len = 0;
};

// Keys [begin, end) of a sequence; empty when end <= begin.
struct KeyRange {
  int64_t begin = 0;
  int64_t end = 0;
};

// Keys query i (0-based in its sequence) may see (docs/semantics.md S2).
inline KeyRange visible_keys(const AttentionProblem& p, int64_t i, int64_t q_len, int64_t kv_len) {
  const int64_t diag = i + kv_len - q_len;  // bottom-right aligned
  KeyRange r{0, kv_len};
  if (p.window_left >= 0 && diag - p.window_left > r.begin) r.begin = diag - p.window_left;
  if (p.window_right >= 0 && diag + p.window_right + 1 < r.end) r.end = diag + p.window_right + 1;
  return r;
}

struct WorkItem {
  int64_t seq = 0;
  int kv_head = 0;
  int64_t q_begin = 0, q_end = 0;  // queries of the sequence
  KeyRange keys;                   // keys this item reads (a chunk when split)
  int64_t partial_row = -1;        // split items: first row of their partial states; else -1
  double cost = 0.0;
};

// The chunks of one split (sequence, kv head, query tile): chunk c wrote its
// rows at partial_row + c * rows.
struct SplitGroup {
  int64_t seq = 0;
  int kv_head = 0;
  int64_t q_begin = 0, q_end = 0;
  int64_t partial_row = 0;
  int num_chunks = 0;
};

struct AttentionPlan {
  std::vector<SequenceSpan> seqs;
  std::vector<WorkItem> items;  // most expensive first
  std::vector<SplitGroup> groups;
  int64_t partial_rows = 0;     // rows of partial state the split items need
  int64_t max_queries_per_item = 0;
  int64_t max_rows_per_item = 0;  // max queries * group size
};

// Keys per tile the kernel walks; split chunks hold a multiple of it.
constexpr int64_t kKeyTile = 64;

AttentionPlan make_attention_plan(const AttentionProblem& p, int num_threads);

}  // namespace cpu
}  // namespace kvattn
