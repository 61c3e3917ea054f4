// Environment knobs shared by the CPU and GPU suites.
//   KVATTN_TEST_SEED=<n>      base seed (default fixed, so CI is deterministic)
//   KVATTN_TEST_CASE=<i>      run only case i of each randomized test (replay)
//   KVATTN_TEST_REDUCED=1     a handful of cases per test (compute-sanitizer runs)
//   KVATTN_TEST_BACKEND=portable|hopper|auto   forces VarlenAttentionArgs::backend (GPU)
#pragma once
#include <cstdint>
#include <string>

#include "kvattn/attention.h"

namespace kvtest {

bool reduced_matrix();
// Backend for GPU calls: kCudaPortable, kCudaHopper (rejected until Hopper kernels exist) or kAuto.
kvattn::Backend gpu_backend_from_env();
const char* backend_name(kvattn::Backend b);

// Seed of case `index` of the test named `test_name` (mixes the base seed in).
uint64_t case_seed(const std::string& test_name, int index);
// Number of cases to run: `full`, or `reduced` under KVATTN_TEST_REDUCED.
int case_count(int full, int reduced);
// Whether case `index` runs (all, or only KVATTN_TEST_CASE).
bool case_selected(int index);
// "replay: KVATTN_TEST_CASE=<i> [KVATTN_TEST_SEED=<s>] --gtest_filter=<test>"
std::string replay_hint(const std::string& test_name, int index);
// "<Suite>.<Name>" of the running GoogleTest test.
std::string current_test_name();

}  // namespace kvtest
