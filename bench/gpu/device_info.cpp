#include "device_info.h"

#include <cuda_runtime.h>

#include "cuda_util.h"

namespace kvattn_bench {

bool cuda_device_available(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    *why = std::string("no usable CUDA device: ") + cudaGetErrorString(err);
    return false;
  }
  if (count == 0) {
    *why = "no CUDA device";
    return false;
  }
  return true;
}

DeviceInfo query_device(int device) {
  cudaDeviceProp prop{};
  BENCH_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  DeviceInfo d;
  d.name = prop.name;
  d.sm_count = prop.multiProcessorCount;
  d.cc_major = prop.major;
  d.cc_minor = prop.minor;
  d.mem_bus_width = prop.memoryBusWidth;
  d.l2_bytes = prop.l2CacheSize;
  d.memory_bytes = static_cast<long long>(prop.totalGlobalMem);
  // CUDA 13 dropped the clock fields from cudaDeviceProp; the attributes remain (kHz).
  int khz = 0;
  if (cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device) == cudaSuccess) d.clock_mhz = khz / 1000;
  if (cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, device) == cudaSuccess) d.mem_clock_mhz = khz / 1000;
  cudaGetLastError();
  BENCH_CUDA_CHECK(cudaDriverGetVersion(&d.driver_version));
  BENCH_CUDA_CHECK(cudaRuntimeGetVersion(&d.runtime_version));
  return d;
}

}  // namespace kvattn_bench
