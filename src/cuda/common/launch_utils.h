// Host helpers shared by the CUDA launchers: launch-error checks and the
// once-per-device opt-in to more than 48 KB of dynamic shared memory.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>

#include <cuda_runtime.h>

#include "kvattn/error.h"

namespace kvattn {
namespace cuda {

// Throws kvattn::Error(kCudaError) naming the failing kernel if the last launch failed.
inline void throw_if_launch_failed(const char* kernel_name) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw Error(ErrorCode::kCudaError, "kernel", std::string(kernel_name) + ": " + cudaGetErrorString(err));
}

// n rounded up to a multiple of a (workspace layouts).
inline size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

// Multiprocessor count of a CUDA device (cached per device; a host query, no sync).
int device_sm_count(int device);
// L2 cache bytes of `device` (cached host query, no sync).
int64_t device_l2_bytes(int device);

// Whether launches on `device` may overlap the previous kernel in the stream
// (programmatic dependent launch: compute capability >= 9.0, and KVATTN_PDL is
// not 0). Cached host queries, no sync.
bool programmatic_launch_enabled(int device);

// kernel<<<grid, block, smem, stream>>>(args...); with `overlap_previous` the
// launch carries programmatic stream serialization: the kernel may start once
// every CTA of the previous kernel in the stream has run
// grid_dependents_may_launch() (ptx.h) or exited, and must run
// grid_dependency_wait() before it reads that kernel's results and before it
// exits (so that its completion still means all earlier work completed, for
// whatever the stream runs next). Throws kvattn::Error naming the kernel if the
// launch fails.
template <class... Params, class... Args>
void launch_kernel(const char* kernel_name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, bool overlap_previous, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = overlap_previous ? &attribute : nullptr;
  config.numAttrs = overlap_previous ? 1 : 0;
  const cudaError_t err = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw Error(ErrorCode::kCudaError, "kernel", std::string(kernel_name) + ": " + cudaGetErrorString(err));
  }
}

// cudaFuncSetAttribute(MaxDynamicSharedMemorySize) the first time `kernel` runs on a
// device (one bit per device in `done`; devices >= 64 set it every time). A host-only
// call, no synchronization: fine inside stream capture.
template <class Kernel>
void raise_dynamic_smem_limit(Kernel kernel, int bytes, int device, std::atomic<uint64_t>& done,
                              const char* kernel_name) {
  const uint64_t bit = device >= 0 && device < 64 ? uint64_t{1} << device : 0;
  if (bit != 0 && (done.load(std::memory_order_acquire) & bit)) return;
  const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();  // do not leave the error for an unrelated later check
    throw Error(ErrorCode::kCudaError, "kernel",
                std::string(kernel_name) + ": cannot use " + std::to_string(bytes) +
                    " bytes of shared memory on this device: " + cudaGetErrorString(err));
  }
  done.fetch_or(bit, std::memory_order_release);
}

}  // namespace cuda
}  // namespace kvattn
