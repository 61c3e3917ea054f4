// Launch plumbing for the cache-write and merge entry points: make the tensors'
// device current for the launch, and turn a failed launch into kvattn::Error.
#pragma once
#include <cuda_runtime.h>

#include "kvattn/error.h"

namespace kvattn {
namespace cuda {

[[noreturn]] inline void throw_cuda_error(const char* argument, cudaError_t e) {
  throw Error(ErrorCode::kCudaError, argument, cudaGetErrorString(e));
}

// Switches to `device` for the scope when it is not already current (a
// stream belongs to one device; launching from another fails).
class ScopedDevice {
 public:
  explicit ScopedDevice(int device) {
    cudaError_t e = cudaGetDevice(&previous_);
    if (e != cudaSuccess) throw_cuda_error("device", e);
    if (previous_ != device) {
      e = cudaSetDevice(device);
      if (e != cudaSuccess) throw_cuda_error("device", e);
    }
    switched_ = previous_ != device;
  }
  ~ScopedDevice() {
    if (switched_) cudaSetDevice(previous_);
  }
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

// Call right after a launch (launches are asynchronous; this sees only
// configuration errors such as a bad shape or a missing kernel image).
inline void check_launch() {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw_cuda_error("kernel", e);
}

}  // namespace cuda
}  // namespace kvattn
