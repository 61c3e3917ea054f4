// The compiled Hopper prefill kernels: head dim (64, 128, 256) x q dtype (bf16,
// fp16) x KV kind (16-bit as q, or FP8 with e4m3/e5m2 chosen at run time) =
// 12. One translation unit per head dim (hopper_d<D>.cu) so they compile in
// parallel; hopper_prefill.cu dispatches over the same list.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "core/problem.h"
#include "cuda/prefill/prefill_instances.h"
#include "cuda/prefill/prefill_params.h"

namespace kvattn {
namespace cuda {
namespace hopper {

#define KVATTN_HOPPER_HEAD_DIMS(X) X(64) X(128) X(256)

// problem: for the TMA descriptors of its K/V cache (hopper_tma.h). wait_first: K/V
// are the previous kernel's output (HopperParams::wait_first).
template <int kHeadDim, class QT, bool kFp8Kv>
void launch_instance(const AttentionProblem& problem, const PrefillParams& params, const PrefillGrid& grid,
                     cudaStream_t stream, bool wait_first);

#define KVATTN_HOPPER_INSTANTIATE(D)                                                                    \
  template void launch_instance<D, __nv_bfloat16, false>(const AttentionProblem&, const PrefillParams&, \
                                             const PrefillGrid&, cudaStream_t, bool);                   \
  template void launch_instance<D, __nv_bfloat16, true>(const AttentionProblem&, const PrefillParams&,  \
                                             const PrefillGrid&, cudaStream_t, bool);                   \
  template void launch_instance<D, __half, false>(const AttentionProblem&, const PrefillParams&,        \
                                             const PrefillGrid&, cudaStream_t, bool);                   \
  template void launch_instance<D, __half, true>(const AttentionProblem&, const PrefillParams&,         \
                                             const PrefillGrid&, cudaStream_t, bool);

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
