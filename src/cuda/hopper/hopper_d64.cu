// Hopper prefill kernels for head dim 64 (see hopper_instances.h).
#include "cuda/hopper/hopper_launch.cuh"

namespace kvattn {
namespace cuda {
namespace hopper {
KVATTN_HOPPER_INSTANTIATE(64)
}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
