// CPU backend vs the float64 reference: memory layouts (contiguous KV,
// strided q/out/LSE, interleaved K/V, block tables with repeats), length edge
// cases and garbage in KV slots nobody may read.
#include <gtest/gtest.h>

#include <vector>

#include "common/attention_case.h"
#include "common/case_driver.h"
#include "common/test_env.h"

namespace kvtest {
namespace {

using kvattn::DType;

TEST(CpuAttentionLayouts, ContiguousVarlenKv) {
  run_cpu_attention_cases(case_count(20, 4), [](int, Rng& rng) {
    CaseSpace s;
    s.paged = {false};
    return sample_case(s, rng);
  });
}

TEST(CpuAttentionLayouts, NonContiguousStridesAndInterleavedKv) {
  run_cpu_attention_cases(case_count(24, 4), [](int i, Rng& rng) {
    CaseSpace s;
    s.strided_chance = 1.0;
    AttentionCase c = sample_case(s, rng);
    cycle_kv_packing(c, i);
    return c;
  });
}

TEST(CpuAttentionLayouts, RepeatedAndOutOfOrderBlocks) {
  run_cpu_attention_cases(case_count(16, 4), [](int, Rng& rng) {
    CaseSpace s;
    s.paged = {true};
    s.page_sizes = {1, 7, 16};
    s.repeated_blocks_chance = 1.0;
    s.min_batch = 2;
    return sample_case(s, rng);
  });
}

TEST(CpuAttentionLayouts, MaxSeqlenHintsAboveRealLengths) {
  run_cpu_attention_cases(case_count(16, 4), [](int, Rng& rng) {
    CaseSpace s;
    s.hint_slack_chance = 1.0;
    return sample_case(s, rng);
  });
}

TEST(CpuAttentionLayouts, UnusedKvSlotsHoldNaN) {
  // Slots past each sequence's length, unused blocks and the padding between
  // heads hold NaN: a backend that reads them (even to multiply by p = 0)
  // produces NaN.
  run_cpu_attention_cases(case_count(16, 4), [](int, Rng& rng) {
    CaseSpace s;
    s.strided_chance = 0.5;
    AttentionCase c = sample_case(s, rng);
    c.poison_unused_kv = true;
    c.extra_blocks = 2;
    return c;
  });
}

// Hand-picked length patterns; the rest of the case is sampled.
TEST(CpuAttentionLengths, EdgeCases) {
  const std::vector<std::vector<SeqLens>> patterns = {
      {{0, 0}},                                 // nothing at all
      {{0, 50}, {0, 1}},                         // no queries
      {{3, 0}, {1, 0}},                          // no keys: zeros, LSE -inf
      {{1, 1}},                                  // one query, one key
      {{1, 300}, {1, 1}, {1, 257}, {1, 64}},     // decodes
      {{7, 300}, {16, 200}, {2, 2}},             // spec-verify
      {{64, 300}, {32, 280}},                    // chunks on long context
      {{40, 40}, {17, 17}},                      // prefill from scratch
      {{50, 10}, {5, 1}, {9, 3}},                // q_len > kv_len (first rows empty under causal)
      {{0, 0}, {12, 100}, {0, 0}, {1, 0}, {1, 33}},  // empties mixed in
  };
  run_cpu_attention_cases(case_count(static_cast<int>(2 * patterns.size()), 10), [&](int i, Rng& rng) {
    CaseSpace s;
    s.heads = {{4, 4}, {8, 2}, {10, 2}};
    s.head_dims = {64, 128};
    s.max_work = 1e9;  // the pattern sets the size
    AttentionCase c = sample_case(s, rng);
    c.seqs = patterns[i % patterns.size()];
    c.causal = (i / patterns.size()) % 2 == 1;
    if (c.causal && c.window_right > 0) c.window_right = -1;
    return c;
  });
}

TEST(CpuAttentionLengths, QueriesOutnumberKeysCausal) {
  // Bottom-right alignment: with causal, rows i < q_len - kv_len see nothing.
  run_cpu_attention_cases(case_count(10, 3), [](int, Rng& rng) {
    CaseSpace s;
    AttentionCase c = sample_case(s, rng);
    c.causal = true;
    c.window_right = -1;
    c.seqs.clear();
    const int batch = rng.uniform_int(1, 3);
    for (int b = 0; b < batch; ++b) {
      const int kv = rng.uniform_int(0, 20);
      c.seqs.push_back({kv + rng.uniform_int(1, 30), kv});
    }
    fit_work(c, 2e7);
    return c;
  });
}

}  // namespace
}  // namespace kvtest
