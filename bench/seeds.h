// Deterministic seeds per (workload, kv dtype, buffer), stable across compilers
// and runs so a result can be reproduced.
#pragma once
#include <cstdint>
#include <string>

namespace kvattn_bench {

inline uint64_t fnv1a(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// `what` names the buffer ("q", "k", "v", "k_descale", "layout", ...); `set` is
// the rotation index of the input set.
inline uint64_t buffer_seed(const std::string& workload, const std::string& kv_dtype, const char* what, int set = 0) {
  return fnv1a(workload + "/" + kv_dtype + "/" + what + "/" + std::to_string(set));
}

}  // namespace kvattn_bench
