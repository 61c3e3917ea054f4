// The run on a CUDA device: ceilings, then every (workload, kv dtype) checked
// against the CPU backend and timed with CUDA events.
#pragma once
#include <vector>

#include "options.h"
#include "results.h"
#include "workloads.h"

namespace kvattn_bench {

// Fills report.device/gpu/ceilings and appends rows; a failing workload gives a
// row with status "error" or "mismatch" instead of throwing.
void run_gpu(const Options& opts, const std::vector<Workload>& workloads, Report& report);

}  // namespace kvattn_bench
