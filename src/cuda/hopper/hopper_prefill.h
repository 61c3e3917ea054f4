// Hopper (sm_90a) warp-specialized WGMMA attention for long query rows.
#pragma once
#include <cuda_runtime.h>

#include "core/problem.h"

namespace kvattn {
namespace cuda {

// True when this build has a Hopper kernel for p's shape: head dim 64, 128 or
// 256, bf16/fp16 q, every row 16-byte aligned. Callers fall back to the
// portable kernel otherwise. Host-only; reads no device data.
bool hopper_prefill_supports(const AttentionProblem& p);

// Like launch_prefill_portable; requires hopper_prefill_supports(p) and an
// sm_90 device. wait_first: p's K/V are the output of the kernel launched just
// before (launch_prewiden), so the kernel waits for it before it starts.
void launch_prefill_hopper(const AttentionProblem& p, cudaStream_t stream, bool skip_short_queries,
                           bool wait_first = false);

}  // namespace cuda
}  // namespace kvattn
