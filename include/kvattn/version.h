#pragma once
#define KVATTN_VERSION_MAJOR 0
#define KVATTN_VERSION_MINOR 1
#define KVATTN_VERSION_PATCH 0
namespace kvattn {
// True when this build contains the CUDA backend.
bool built_with_cuda();
// True when this build contains the Hopper (sm_90a, WGMMA) prefill kernels that
// Backend::kAuto prefers on sm_90 devices (needs the CUTLASS headers at build time).
bool built_with_hopper_kernels();
}  // namespace kvattn
