// CPU merge_attn_states vs the float64 reference (docs/semantics.md S7),
// including +inf / -inf LSEs on either or both sides.
#include <gtest/gtest.h>

#include "common/merge_case.h"
#include "common/sampled_cases.h"
#include "common/test_env.h"
#include "kvattn/error.h"

namespace kvtest {
namespace {

using kvattn::DType;

::testing::AssertionResult run_cpu_merge(const MergeCase& c) {
  const MergeData d = build_merge_case(c);
  std::vector<uint8_t> out = d.host[kMOut], out_lse = d.host[kMOutLse];
  std::array<void*, kMNumBuffers> p{};
  for (int i = 0; i < kMNumBuffers; ++i) p[i] = const_cast<uint8_t*>(d.host[i].data());
  p[kMOut] = out.data();
  p[kMOutLse] = c.with_out_lse ? out_lse.data() : nullptr;
  kvattn::MergeArgs a = bind_merge_args(d, p, kvattn::Device{});
  a.backend = kvattn::Backend::kCpu;
  try {
    kvattn::merge_attn_states(a);
  } catch (const kvattn::Error& e) {
    return ::testing::AssertionFailure() << "kvattn::Error: " << e.what();
  }
  return check_merge(d, out, out_lse);
}

template <class Adjust>
void run_cases(int count, Adjust adjust) {
  run_sampled_cases<MergeCase>(count, sample_merge_case, run_cpu_merge, adjust);
}

TEST(CpuMerge, RandomCases) {
  run_cases(case_count(40, 6), [](int, MergeCase&) {});
}

TEST(CpuMerge, EveryDtype) {
  const DType dtypes[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};
  run_cases(case_count(9, 3), [&](int i, MergeCase& c) { c.dtype = dtypes[i % 3]; });
}

TEST(CpuMerge, InfiniteLses) {
  // Every (h, t) gets a special pair: -inf or +inf on one or both sides,
  // weights that underflow, equal weights.
  run_cases(case_count(12, 3), [](int i, MergeCase& c) {
    c.special_chance = 1.0;
    c.num_tokens = std::max(c.num_tokens, 8);
    c.with_out_lse = i % 3 != 0;
  });
}

TEST(CpuMerge, StridedOutputsAndTransposedLses) {
  run_cases(case_count(8, 2), [](int i, MergeCase& c) {
    c.token_padding = 16;
    c.head_padding = 8;
    c.lse_transposed = i % 2 == 0;
  });
}

}  // namespace
}  // namespace kvtest
