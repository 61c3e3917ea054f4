// The run without a GPU: the standard workloads scaled down, on the CPU backend.
#pragma once
#include <vector>

#include "options.h"
#include "results.h"
#include "workloads.h"

namespace kvattn_bench {

// Lengths / 32 and counts / 8 keep every workload well under a second on two cores.
constexpr Scale kCpuScale{32, 8};

// Appends one row per (workload, kv dtype) to report.rows; never throws for a
// failing workload (the row says "error").
void run_cpu(const Options& opts, const std::vector<Workload>& workloads, Report& report);

}  // namespace kvattn_bench
