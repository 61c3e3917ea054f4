// The compiled prefill kernels: head dim x q dtype x KV kind (16-bit same as q,
// or FP8 with e4m3/e5m2 chosen at run time), 5 x 2 x 2 = 20 per architecture.
// One translation unit per head dim (prefill_d<D>.cu) instantiates the four
// kernels of that head dim, so they compile in parallel; prefill.cu dispatches
// over the same list (KVATTN_PREFILL_HEAD_DIMS).
#pragma once
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda/prefill/prefill_params.h"

namespace kvattn {
namespace cuda {

#define KVATTN_PREFILL_HEAD_DIMS(X) X(64) X(96) X(128) X(192) X(256)

// Host sizes the grid is built from (upper bounds only).
struct PrefillGrid {
  int64_t batch = 0;
  int num_q_heads = 0;
  int64_t max_seqlen_q = 0;
  int device = 0;
};

// Launches the prefill kernel of DefaultPrefillShape<kHeadDim> (prefill_launch.cuh).
template <int kHeadDim, class QT, bool kFp8Kv>
void launch_prefill_instance(const PrefillParams& params, const PrefillGrid& grid, cudaStream_t stream);

#define KVATTN_PREFILL_INSTANTIATE(D)                                                                              \
  template void launch_prefill_instance<D, __nv_bfloat16, false>(const PrefillParams&, const PrefillGrid&,       \
                                                                 cudaStream_t);                                  \
  template void launch_prefill_instance<D, __nv_bfloat16, true>(const PrefillParams&, const PrefillGrid&,        \
                                                                cudaStream_t);                                   \
  template void launch_prefill_instance<D, __half, false>(const PrefillParams&, const PrefillGrid&, cudaStream_t); \
  template void launch_prefill_instance<D, __half, true>(const PrefillParams&, const PrefillGrid&, cudaStream_t);

}  // namespace cuda
}  // namespace kvattn
