// Portable tensor-core (mma.sync, sm_80+) attention for long query rows.
#pragma once
#include <cuda_runtime.h>

#include "core/problem.h"

namespace kvattn {
namespace cuda {

// True when every Q/K/V/out row start is 16-byte aligned (the cp.async fast path;
// the Hopper kernel requires it).
bool prefill_rows_aligned16(const AttentionProblem& p);

// Computes every sequence of p (when skip_short_queries is false) or only the
// sequences with q_len > kShortQueryMaxLen (when true). Asynchronous on stream;
// no allocation, no host sync. Throws kvattn::Error(kCudaError) on launch failure.
void launch_prefill_portable(const AttentionProblem& p, cudaStream_t stream, bool skip_short_queries);

}  // namespace cuda
}  // namespace kvattn
