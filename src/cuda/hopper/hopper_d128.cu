// Hopper prefill kernels for head dim 128 (see hopper_instances.h).
#include "cuda/hopper/hopper_launch.cuh"

namespace kvattn {
namespace cuda {
namespace hopper {
KVATTN_HOPPER_INSTANTIATE(128)
}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
