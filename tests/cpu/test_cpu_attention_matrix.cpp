// CPU backend vs the float64 reference over a randomized matrix
// (docs/semantics.md S1-S4). Each test forces one dimension through all its
// values and samples the rest; sizes stay small so the suite fits CI.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "common/attention_case.h"
#include "common/case_driver.h"
#include "common/test_env.h"

namespace kvtest {
namespace {

using kvattn::DType;

AttentionCase sample(Rng& rng, const CaseSpace& space = CaseSpace{}) { return sample_case(space, rng); }

TEST(CpuAttentionMatrix, RandomCombinations) {
  run_cpu_attention_cases(case_count(120, 6), [](int, Rng& rng) { return sample(rng); });
}

TEST(CpuAttentionMatrix, HeadDims) {
  const std::vector<int> dims = {64, 96, 128, 192, 256};
  run_cpu_attention_cases(case_count(25, 5), [&](int i, Rng& rng) {
    CaseSpace s;
    s.head_dims = {dims[i % dims.size()]};
    return sample(rng, s);
  });
}

TEST(CpuAttentionMatrix, GqaRatios) {
  const std::vector<std::pair<int, int>> heads = {{4, 4}, {8, 2}, {10, 2}, {16, 1}, {71, 1}};
  run_cpu_attention_cases(case_count(25, 5), [&](int i, Rng& rng) {
    CaseSpace s;
    s.heads = {heads[i % heads.size()]};
    s.paged = {true, false};
    return sample(rng, s);
  });
}

TEST(CpuAttentionMatrix, PageSizes) {
  const std::vector<int> pages = {1, 16, 64, 256, 7, 13};
  run_cpu_attention_cases(case_count(24, 6), [&](int i, Rng& rng) {
    CaseSpace s;
    s.page_sizes = {pages[i % pages.size()]};
    s.paged = {true};
    return sample(rng, s);
  });
}

TEST(CpuAttentionMatrix, CausalAndWindows) {
  const std::vector<std::pair<int, int>> windows = {{-1, 127}, {127, -1}, {64, 64}, {-1, -1}};
  run_cpu_attention_cases(case_count(32, 8), [&](int i, Rng& rng) {
    CaseSpace s;
    s.windows = {windows[i % windows.size()]};
    s.causal = {(i / windows.size()) % 2 == 1};
    s.max_kv_len = 300;
    return sample(rng, s);
  });
}

TEST(CpuAttentionMatrix, KvDtypesAndDescales) {
  // kv dtype kFloat32 = "same as q".
  const std::vector<DType> kv = {DType::kFloat32, DType::kFloat8E4M3, DType::kFloat8E5M2};
  const std::vector<DescaleKind> descales = {DescaleKind::kNone, DescaleKind::kPerTensor, DescaleKind::kPerSeqHead};
  run_cpu_attention_cases(case_count(36, 9), [&](int i, Rng& rng) {
    CaseSpace s;
    s.kv_dtypes = {kv[i % kv.size()]};
    s.descales = {descales[(i / kv.size()) % descales.size()]};
    s.q_dtypes = {(i / 9) % 2 ? DType::kFloat16 : DType::kBFloat16};
    return sample(rng, s);
  });
}

TEST(CpuAttentionMatrix, SoftcapAndSinks) {
  run_cpu_attention_cases(case_count(24, 4), [&](int i, Rng& rng) {
    CaseSpace s;
    s.softcap_chance = (i % 2) ? 1.0 : 0.0;
    s.sinks_chance = (i / 2) % 2 ? 1.0 : 0.0;
    AttentionCase c = sample(rng, s);
    const DType sink_dtypes[] = {DType::kFloat32, DType::kBFloat16, DType::kFloat16};
    c.sinks_dtype = sink_dtypes[(i / 4) % 3];
    return c;
  });
}

}  // namespace
}  // namespace kvtest
