#include "common/test_env.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

namespace kvtest {

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

constexpr uint64_t kDefaultBaseSeed = 0x6b7661747465ull;  // fixed: CI runs the same cases every time

uint64_t base_seed() {
  const char* s = env("KVATTN_TEST_SEED");
  return s ? std::strtoull(s, nullptr, 0) : kDefaultBaseSeed;
}

// splitmix64 finalizer: neighbouring indices give unrelated seeds.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

bool reduced_matrix() {
  const char* v = env("KVATTN_TEST_REDUCED");
  return v && std::strcmp(v, "0") != 0;
}

kvattn::Backend gpu_backend_from_env() {
  const char* v = env("KVATTN_TEST_BACKEND");
  if (!v || std::strcmp(v, "auto") == 0) return kvattn::Backend::kAuto;
  if (std::strcmp(v, "portable") == 0) return kvattn::Backend::kCudaPortable;
  if (std::strcmp(v, "hopper") == 0) return kvattn::Backend::kCudaHopper;
  ADD_FAILURE() << "KVATTN_TEST_BACKEND must be portable, hopper or auto, got '" << v << "'";
  return kvattn::Backend::kAuto;
}

const char* backend_name(kvattn::Backend b) {
  switch (b) {
    case kvattn::Backend::kAuto: return "auto";
    case kvattn::Backend::kCpu: return "cpu";
    case kvattn::Backend::kCudaPortable: return "cuda-portable";
    case kvattn::Backend::kCudaHopper: return "cuda-hopper";
  }
  return "?";
}

uint64_t case_seed(const std::string& test_name, int index) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a of the test name
  for (unsigned char c : test_name) h = (h ^ c) * 1099511628211ull;
  return mix(mix(base_seed() ^ h) + static_cast<uint64_t>(index));
}

int case_count(int full, int reduced) { return reduced_matrix() ? reduced : full; }

bool case_selected(int index) {
  const char* v = env("KVATTN_TEST_CASE");
  return !v || std::atoi(v) == index;
}

std::string replay_hint(const std::string& test_name, int index) {
  std::ostringstream os;
  os << "replay: KVATTN_TEST_CASE=" << index;
  if (const char* s = env("KVATTN_TEST_SEED")) os << " KVATTN_TEST_SEED=" << s;
  os << " --gtest_filter=" << test_name;
  return os.str();
}

std::string current_test_name() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return info ? std::string(info->test_suite_name()) + "." + info->name() : "?";
}

}  // namespace kvtest
