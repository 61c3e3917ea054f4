// Prefill kernels for head dim 192 (see prefill_instances.h).
#include "cuda/prefill/prefill_launch.cuh"

namespace kvattn {
namespace cuda {
KVATTN_PREFILL_INSTANTIATE(192)
}  // namespace cuda
}  // namespace kvattn
