// Loop that runs randomized attention cases against the reference, shared by
// the CPU and GPU suites (the runner decides where the call executes).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "common/attention_case.h"
#include "common/attention_check.h"
#include "common/attention_data.h"
#include "kvattn/attention.h"

namespace kvtest {

// Host copies of the outputs after one call.
struct AttentionRun {
  std::vector<uint8_t> out;
  std::vector<uint8_t> lse;
};

// Case `index` of a test; `rng` is seeded from (base seed, test name, index).
using CaseMaker = std::function<AttentionCase(int index, Rng& rng)>;
// Executes the call for the case (poisoning outputs first) and returns them.
using CaseRunner = std::function<AttentionRun(const AttentionCaseData&)>;
using ToleranceFn = std::function<AttentionTolerance(const AttentionCase&)>;

// Runs cases 0..count-1 (or only KVATTN_TEST_CASE). On failure prints the case
// description, its seed, the replay command and the checker's findings; stops
// after a few failing cases. A kvattn::Error thrown by the call is a failure.
void run_attention_cases(int count, const CaseMaker& make, const CaseRunner& run, const ToleranceFn& tolerance);

// Runner: the public API on host buffers with `backend`.
AttentionRun run_attention_on_host(const AttentionCaseData& d, kvattn::Backend backend);

// run_attention_cases on the CPU backend with cpu_tolerance.
void run_cpu_attention_cases(int count, const CaseMaker& make);

}  // namespace kvtest
