// CPU cache write (reshape_and_cache_flash) vs the float64 reference
// (docs/semantics.md S6): exact codes, untouched slots, saturation, NaN.
#include <gtest/gtest.h>

#include <sstream>

#include "common/cache_write_case.h"
#include "common/sampled_cases.h"
#include "common/test_env.h"
#include "kvattn/error.h"

namespace kvtest {
namespace {

using kvattn::DType;
using kvattn::KvCacheDType;

// Runs case `c` on the CPU and compares the whole cache buffer.
::testing::AssertionResult run_cpu_cache_write(const CacheWriteCase& c) {
  const CacheWriteData d = build_cache_write_case(c);
  const std::vector<uint8_t> expected = expected_cache(d);
  std::vector<uint8_t> cache = d.host[kCwCache];
  std::array<void*, kCwNumBuffers> p{};
  for (int i = 0; i < kCwNumBuffers; ++i) p[i] = const_cast<uint8_t*>(d.host[i].data());
  p[kCwCache] = cache.data();
  kvattn::CacheWriteArgs a = bind_cache_write_args(d, p, kvattn::Device{});
  a.backend = kvattn::Backend::kCpu;
  try {
    kvattn::reshape_and_cache_flash(a);
  } catch (const kvattn::Error& e) {
    return ::testing::AssertionFailure() << "kvattn::Error: " << e.what();
  }
  return check_cache_write(d, expected, cache);
}

// Samples `count` cases, lets `adjust` force some fields, runs each.
template <class Adjust>
void run_cases(int count, Adjust adjust) {
  run_sampled_cases<CacheWriteCase>(count, sample_cache_write_case, run_cpu_cache_write, adjust);
}

TEST(CpuCacheWrite, RandomCases) {
  run_cases(case_count(60, 6), [](int, CacheWriteCase&) {});
}

TEST(CpuCacheWrite, EveryDtypePair) {
  const DType srcs[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};
  const KvCacheDType caches[] = {KvCacheDType::kAuto, KvCacheDType::kFp8E4M3, KvCacheDType::kFp8E5M2};
  run_cases(case_count(18, 9), [&](int i, CacheWriteCase& c) {
    c.src_dtype = srcs[i % 3];
    c.kv_cache_dtype = caches[(i / 3) % 3];
    c.cache_as_uint8 = c.kv_cache_dtype != KvCacheDType::kAuto && i >= 9;
  });
}

TEST(CpuCacheWrite, SkippedSlotsAndShortSlotMapping) {
  // slot -1 skips the token; T' < T leaves the last tokens unread.
  run_cases(case_count(12, 3), [](int i, CacheWriteCase& c) {
    c.skip_chance = 0.5;
    c.num_tokens = std::max(c.num_tokens, 4);
    c.num_tokens = std::min(c.num_tokens, c.num_blocks * c.page_size);
    c.num_slots = (i % 2) ? c.num_tokens / 2 : c.num_tokens;
  });
}

TEST(CpuCacheWrite, PerHeadAndPerTensorScales) {
  run_cases(case_count(12, 2), [](int i, CacheWriteCase& c) {
    c.per_head_scale = i % 2 == 1;
    c.num_kv_heads = 4;
    if (c.kv_cache_dtype == KvCacheDType::kAuto) c.kv_cache_dtype = KvCacheDType::kFp8E4M3;
  });
}

TEST(CpuCacheWrite, SaturatesLargeInputsAndKeepsNaN) {
  run_cases(case_count(12, 2), [](int i, CacheWriteCase& c) {
    c.kv_cache_dtype = (i % 2) ? KvCacheDType::kFp8E5M2 : KvCacheDType::kFp8E4M3;
    c.huge_chance = 0.2;
    c.nan_chance = 0.05;
    c.num_tokens = std::min(std::max(c.num_tokens, 8), c.num_blocks * c.page_size);
    c.num_slots = c.num_tokens;
  });
}

TEST(CpuCacheWrite, AutoIsABitCopy) {
  run_cases(case_count(9, 3), [](int i, CacheWriteCase& c) {
    const DType srcs[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};
    c.kv_cache_dtype = KvCacheDType::kAuto;
    c.cache_as_uint8 = false;
    c.src_dtype = srcs[i % 3];
    c.huge_chance = 0.1;
    c.nan_chance = 0.05;
  });
}

}  // namespace
}  // namespace kvtest
