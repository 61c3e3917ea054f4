#include "core/dispatch.h"

#include <string>

#include "core/backends.h"
#include "core/check.h"
#include "kvattn/error.h"

namespace kvattn {

namespace {

// Builds with the CUTLASS headers and an sm_90a pass have the Hopper kernels:
// kAuto then prefers them on sm_90. Without, kAuto on CUDA never queries the
// device architecture.
#if defined(KVATTN_HAVE_HOPPER_KERNELS)
constexpr bool kHopperPathAvailable = true;
#else
constexpr bool kHopperPathAvailable = false;
#endif

Backend auto_cuda_backend(Device device) {
  return (kHopperPathAvailable && cuda_device_is_hopper(device)) ? Backend::kCudaHopper : Backend::kCudaPortable;
}

[[noreturn]] void wrong_device(Backend requested, Device device, const char* expected) {
  check::fail(ErrorCode::kInvalidArgument, "backend",
              std::string(expected) + " for tensors on " + check::device_str(device),
              backend_name(requested));
}

}  // namespace

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::kAuto: return "kAuto";
    case Backend::kCpu: return "kCpu";
    case Backend::kCudaPortable: return "kCudaPortable";
    case Backend::kCudaHopper: return "kCudaHopper";
  }
  return "unknown";
}

Backend resolve_backend(Backend requested, Device device) {
  switch (requested) {
    case Backend::kAuto:
    case Backend::kCpu:
    case Backend::kCudaPortable:
    case Backend::kCudaHopper: break;
    default:
      check::fail(ErrorCode::kInvalidArgument, "backend", "kAuto, kCpu, kCudaPortable or kCudaHopper",
                  std::to_string(static_cast<int>(requested)));
  }
  if (device.type == DeviceType::kCPU) {
    if (requested != Backend::kAuto && requested != Backend::kCpu) wrong_device(requested, device, "kAuto or kCpu");
    return Backend::kCpu;
  }
  switch (requested) {
    case Backend::kAuto: return auto_cuda_backend(device);
    case Backend::kCpu: wrong_device(requested, device, "kAuto, kCudaPortable or kCudaHopper");
    case Backend::kCudaHopper:
      // Forcing a path that does not exist must not silently run another one.
      if (!kHopperPathAvailable)
        check::fail(ErrorCode::kNotImplemented, "backend", "kAuto or kCudaPortable",
                    "kCudaHopper (this build has no Hopper kernels: CUTLASS headers or the sm_90a pass missing)");
      if (!cuda_device_is_hopper(device))
        check::fail(ErrorCode::kNotImplemented, "backend",
                    "a Hopper (sm_90) device for kCudaHopper", check::device_str(device) + ", which is not sm_90");
      return Backend::kCudaHopper;
    default: return Backend::kCudaPortable;
  }
}

void run_attention(const AttentionProblem& p) {
  if (p.backend == Backend::kCpu)
    cpu_varlen_attention(p);
  else
    cuda_varlen_attention(p);
}

void run_cache_write(const CacheWriteProblem& p) {
  if (p.backend == Backend::kCpu)
    cpu_cache_write(p);
  else
    cuda_cache_write(p);
}

void run_merge(const MergeProblem& p) {
  if (p.backend == Backend::kCpu)
    cpu_merge(p);
  else
    cuda_merge(p);
}

}  // namespace kvattn
