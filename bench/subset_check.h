// The correctness gate run before timing: a few sampled query rows of a
// batched call's output recomputed by the CPU backend, through the public API,
// as small single-sequence problems. The GPU run checks its device output this
// way; the CPU run checks its batched call against the per-sequence windows.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "call_args.h"
#include "host_data.h"
#include "workloads.h"

namespace kvattn_bench {

constexpr int64_t kCheckRows = 32;        // query rows per checked window
constexpr double kCheckTolerance = 2e-2;  // relative L2 error per (window, head)

struct CheckResult {
  bool ok = true;
  double max_rel_l2 = 0;  // worst (window, head)
  std::string message;    // the first failure
};

// Reads `bytes` at `src` (memory of the checked call) into host memory `dst`.
using CopyToHost = std::function<void(void* dst, const void* src, size_t bytes)>;

// Checks sequences 0, B/2 and B-1: their last kCheckRows rows with the full KV
// context, and (causal, longer sequences) their first kCheckRows rows with the
// keys those rows can see. `src` holds the checked call's buffers (q, k, v and
// out are read through `copy`; out must already hold the result); the descales
// are host copies (empty = none).
CheckResult check_against_cpu(const Workload& w, const BatchLayout& layout, kvattn::DType kv_dtype,
                              const BatchBuffers& src, const std::vector<float>& k_descale,
                              const std::vector<float>& v_descale, const CopyToHost& copy);

}  // namespace kvattn_bench
