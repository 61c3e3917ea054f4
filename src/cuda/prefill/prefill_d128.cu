// Prefill kernels for head dim 128 (see prefill_instances.h).
#include "cuda/prefill/prefill_launch.cuh"

namespace kvattn {
namespace cuda {
KVATTN_PREFILL_INSTANTIATE(128)
}  // namespace cuda
}  // namespace kvattn
