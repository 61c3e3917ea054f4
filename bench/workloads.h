// The standard serving workloads and the numbers every report derives from
// them (visible pairs, FLOPs, bytes). One list, shared by the GPU run and the
// scaled-down CPU run; bench/compare.py mirrors it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kvattn/tensor.h"

namespace kvattn_bench {

// `count` sequences that each add `q_len` new tokens on top of `cached` ones
// (kv_len = cached + q_len; the queries are the last q_len positions). With
// cached_hi >= 0 the cached lengths spread evenly from `cached` to `cached_hi`
// over the group (a ragged batch, longest last).
struct SeqGroup {
  int64_t count = 0;
  int64_t q_len = 0;
  int64_t cached = 0;
  int64_t cached_hi = -1;
  // Cached tokens of the group's sequence i.
  int64_t cached_of(int64_t i) const {
    return cached_hi < 0 || count < 2 ? cached : cached + (cached_hi - cached) * i / (count - 1);
  }
};

struct Workload {
  std::string name;
  std::vector<SeqGroup> groups;
  int num_q_heads = 32;
  int num_kv_heads = 8;
  int head_dim = 128;
  int page_size = 16;
  bool causal = true;
};

// Per-sequence lengths, flattened in batch order.
struct SeqLens {
  int64_t q_len = 0;
  int64_t kv_len = 0;
};

std::vector<Workload> standard_workloads();
// Throws std::invalid_argument naming the unknown workload and listing the known ones.
std::vector<Workload> select_workloads(const std::vector<std::string>& names);

// The CPU stand-in: lengths divided by `len_div` (lengths up to kKeepShortLen
// are kept, so decode stays decode and spec-dec stays 4 tokens), counts divided
// by `count_div`, never below 1. Heads, head dim and page size are unchanged.
struct Scale {
  int64_t len_div = 1;
  int64_t count_div = 1;
};
constexpr int64_t kKeepShortLen = 16;
Workload scaled(const Workload& w, Scale scale);

std::vector<SeqLens> sequences(const Workload& w);
// Compact description, e.g. "4x(8192,0)" or "1x(2048,2048)+128x(1,4096)".
std::string shape_string(const Workload& w);

// (query, key) pairs a query head attends to, summed over sequences. Causal is
// bottom-right aligned: query i of a sequence sees keys j <= i + kv_len - q_len.
int64_t visible_pairs(const Workload& w);
// 4 * D per visible pair per query head (QK^T and PV, 2 FLOP per MAC each).
double attention_flops(const Workload& w);
// Bytes a perfect kernel moves: K and V read once, q read, out written, the used
// block-table entries, and the two descale tables when the cache is fp8.
double attention_bytes(const Workload& w, kvattn::DType kv_dtype, kvattn::DType q_dtype);

}  // namespace kvattn_bench
