// How one varlen call is split between the kernel families. The router
// (src/cuda/attention_cuda.cu) never reads lengths on the host: it launches the
// decode family for sequences with q_len <= kShortQueryMaxLen and the prefill
// family for the rest, and each kernel skips, on the device, sequences that
// belong to the other family.
#pragma once

namespace kvattn {
namespace cuda {

constexpr int kShortQueryMaxLen = 16;  // decode + speculative verify

#if defined(__CUDACC__)
__host__ __device__
#endif
inline bool is_short_query(int q_len) { return q_len <= kShortQueryMaxLen; }

}  // namespace cuda
}  // namespace kvattn
