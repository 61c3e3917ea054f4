#pragma once
#define KVATTN_VERSION_MAJOR 0
#define KVATTN_VERSION_MINOR 1
#define KVATTN_VERSION_PATCH 0
namespace kvattn {
// True when this build contains the CUDA backend.
bool built_with_cuda();
}  // namespace kvattn
