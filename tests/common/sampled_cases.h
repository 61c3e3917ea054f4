// Loop that runs randomized cases of a sampled case type (cache write, merge)
// against the reference, shared by the CPU and GPU suites (the runner decides
// where the call executes). Header-only and CUDA-free.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "common/rng.h"
#include "common/test_env.h"

namespace kvtest {

// Runs cases 0..count-1 (or only KVATTN_TEST_CASE): each is drawn by
// `sample(rng)` with its own seed, then `adjust(index, case)` forces some
// fields, then `run(case)` returns the check's AssertionResult. On failure
// prints the case, its seed and the replay command; stops after 4 failing cases.
template <class Case, class Sample, class Run, class Adjust>
void run_sampled_cases(int count, Sample sample, Run run, Adjust adjust) {
  const std::string test = current_test_name();
  int failures = 0;
  for (int i = 0; i < count && failures < 4; ++i) {
    if (!case_selected(i)) continue;
    const uint64_t seed = case_seed(test, i);
    Rng rng(seed);
    Case c = sample(rng);
    adjust(i, c);
    const ::testing::AssertionResult ok = run(c);
    if (!ok) {
      ++failures;
      ADD_FAILURE() << "case " << i << " (seed 0x" << std::hex << seed << std::dec << "): " << c.describe() << "\n  "
                    << replay_hint(test, i) << "\n  " << ok.message();
    }
  }
}

}  // namespace kvtest
