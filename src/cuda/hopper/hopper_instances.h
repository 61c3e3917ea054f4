// The compiled Hopper prefill kernels: head dim (64, 128, 256) x q dtype (bf16,
// fp16) x KV kind (16-bit as q, or FP8 with e4m3/e5m2 chosen at run time) = 12,
// except that bf16 q with FP8 KV at D 128 reads K with FP8 WGMMAs, whose format is
// compile-time (kKE4M3, kKE5M2; hopper_traits.h): 13. One translation unit per head
// dim (hopper_d<D>.cu) so they compile in parallel; hopper_prefill.cu dispatches over
// the same list.
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

// problem: for the TMA descriptors of its K/V cache (hopper_tma.h).
template <int kHeadDim, class QT, bool kFp8Kv, int kKFp8 = 0>
void launch_instance(const AttentionProblem& problem, const PrefillParams& params, const PrefillGrid& grid,
                     cudaStream_t stream);

#define KVATTN_HOPPER_INSTANTIATE(D)                                                                          \
  template void launch_instance<D, __nv_bfloat16, false>(const AttentionProblem&, const PrefillParams&,       \
                                                         const PrefillGrid&, cudaStream_t);                   \
  KVATTN_HOPPER_INSTANTIATE_BF16_FP8_##D                                                                     \
  template void launch_instance<D, __half, false>(const AttentionProblem&, const PrefillParams&, const PrefillGrid&, \
                                                  cudaStream_t);                                              \
  template void launch_instance<D, __half, true>(const AttentionProblem&, const PrefillParams&, const PrefillGrid&,  \
                                                 cudaStream_t);

// bf16 q, FP8 KV: K widened (D 64, 256), or split q and FP8 Q K^T (D 128).
#define KVATTN_HOPPER_BF16_FP8_WIDENED(D)                                                               \
  template void launch_instance<D, __nv_bfloat16, true, 0>(const AttentionProblem&, const PrefillParams&, \
                                                           const PrefillGrid&, cudaStream_t);
#define KVATTN_HOPPER_INSTANTIATE_BF16_FP8_64 KVATTN_HOPPER_BF16_FP8_WIDENED(64)
#define KVATTN_HOPPER_INSTANTIATE_BF16_FP8_256 KVATTN_HOPPER_BF16_FP8_WIDENED(256)
#define KVATTN_HOPPER_INSTANTIATE_BF16_FP8_128                                                             \
  template void launch_instance<128, __nv_bfloat16, true, 1>(const AttentionProblem&, const PrefillParams&, \
                                                             const PrefillGrid&, cudaStream_t);             \
  template void launch_instance<128, __nv_bfloat16, true, 2>(const AttentionProblem&, const PrefillParams&, \
                                                             const PrefillGrid&, cudaStream_t);

// Whether (head dim, q dtype) with FP8 KV runs the split-q kernels (kKFp8 = 1 / 2).
constexpr bool hopper_fp8_split_q(int head_dim, bool q_bf16) { return head_dim == 128 && q_bf16; }

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
