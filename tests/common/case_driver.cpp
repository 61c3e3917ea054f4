#include "common/case_driver.h"

#include <gtest/gtest.h>

#include <exception>
#include <sstream>

#include "common/test_env.h"
#include "kvattn/error.h"

namespace kvtest {

namespace {
constexpr int kMaxFailingCases = 4;  // enough to see a pattern without flooding the log
}

void run_attention_cases(int count, const CaseMaker& make, const CaseRunner& run, const ToleranceFn& tolerance) {
  const std::string test = current_test_name();
  int failures = 0;
  for (int i = 0; i < count && failures < kMaxFailingCases; ++i) {
    if (!case_selected(i)) continue;
    const uint64_t seed = case_seed(test, i);
    Rng rng(seed);
    const AttentionCase c = make(i, rng);
    std::ostringstream header;
    header << "case " << i << " (seed 0x" << std::hex << seed << std::dec << "): " << c.describe() << "\n  "
           << replay_hint(test, i);
    try {
      const AttentionCaseData d = build_attention_case(c);
      const kvref::RefAttentionResult ref = run_reference(d);
      const AttentionRun r = run(d);
      const ::testing::AssertionResult ok = check_attention(d, ref, r.out, r.lse, tolerance(c));
      if (!ok) {
        ++failures;
        ADD_FAILURE() << header.str() << "\n" << ok.message();
      }
    } catch (const kvattn::Error& e) {
      ++failures;
      ADD_FAILURE() << header.str() << "\n  kvattn::Error (argument '" << e.argument() << "'): " << e.what();
    } catch (const std::exception& e) {
      ++failures;
      ADD_FAILURE() << header.str() << "\n  exception: " << e.what();
    }
  }
  if (failures >= kMaxFailingCases) ADD_FAILURE() << "stopped after " << failures << " failing cases";
}

AttentionRun run_attention_on_host(const AttentionCaseData& d, kvattn::Backend backend) {
  AttentionRun r;
  r.out = poisoned_like(d.host[kOut]);
  if (d.c.with_lse) r.lse = poisoned_like(d.host[kLse]);
  BufferPointers p = host_input_pointers(d);
  p[kOut] = r.out.data();
  p[kLse] = d.c.with_lse ? r.lse.data() : nullptr;
  kvattn::VarlenAttentionArgs a = bind_attention_args(d, p, kvattn::Device{});
  a.backend = backend;
  kvattn::varlen_attention_forward(a);
  return r;
}

void run_cpu_attention_cases(int count, const CaseMaker& make) {
  run_attention_cases(
      count, make, [](const AttentionCaseData& d) { return run_attention_on_host(d, kvattn::Backend::kCpu); },
      cpu_tolerance);
}

}  // namespace kvtest
