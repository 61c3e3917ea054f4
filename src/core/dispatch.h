// Backend choice and routing: which implementation runs a validated problem.
#pragma once
#include "core/problem.h"
#include "kvattn/attention.h"
#include "kvattn/tensor.h"

namespace kvattn {

const char* backend_name(Backend backend);

// The one place that decides which backend runs a call whose tensors are on
// `device`: kAuto picks by device (and, on CUDA, by architecture); a forced
// backend that cannot run there throws naming "backend". Returns kCpu,
// kCudaPortable or kCudaHopper.
Backend resolve_backend(Backend requested, Device device);

// Route a validated problem to p.backend's implementation.
void run_attention(const AttentionProblem& p);
void run_cache_write(const CacheWriteProblem& p);
void run_merge(const MergeProblem& p);

}  // namespace kvattn
