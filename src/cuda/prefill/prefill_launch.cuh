// Host side of the prefill kernels. Included only by the prefill_d<D>.cu
// translation units (and kernel tests that try other tile shapes).
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include "cuda/common/launch_utils.h"
#include "cuda/prefill/prefill_instances.h"
#include "cuda/prefill/prefill_kernel.cuh"
#include "kvattn/error.h"

namespace kvattn {
namespace cuda {

// Grid: x = (sequence, query head), y = query tiles of max_seqlen_q (host upper bound).
template <class Shape, class QT, KvStore kKvStore>
void launch_prefill_kernel(const PrefillParams& params, const PrefillGrid& g, cudaStream_t stream) {
  using Traits = PrefillTraits<Shape, QT, kKvStore>;
  const dim3 grid = prefill_launch_dims(g, Traits::kBlockM);
  static std::atomic<uint64_t> smem_configured{0};
  auto* kernel = &prefill_kernel<Shape, QT, kKvStore>;
  raise_dynamic_smem_limit(kernel, Traits::kSmemBytes, g.device, smem_configured, "prefill_kernel");
  kernel<<<grid, Traits::kThreads, Traits::kSmemBytes, stream>>>(params);
  throw_if_launch_failed("prefill_kernel");
}

// kFp8Kv: the FP8 format is taken from params.kv_e5m2.
template <class Shape, class QT, bool kFp8Kv>
void launch_prefill_shape(const PrefillParams& params, const PrefillGrid& g, cudaStream_t stream) {
  if constexpr (!kFp8Kv)
    launch_prefill_kernel<Shape, QT, KvStore::k16Bit>(params, g, stream);
  else if (params.kv_e5m2)
    launch_prefill_kernel<Shape, QT, KvStore::kE5M2>(params, g, stream);
  else
    launch_prefill_kernel<Shape, QT, KvStore::kE4M3>(params, g, stream);
}

// Opt-in shared memory per block of `device`, queried once per device (< 64).
inline int max_dynamic_smem(int device) {
  static std::atomic<int> cached[64] = {};
  const bool cacheable = device >= 0 && device < 64;
  if (cacheable) {
    const int v = cached[device].load(std::memory_order_relaxed);
    if (v > 0) return v;
  }
  int v = 0;
  if (cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) {
    (void)cudaGetLastError();
    throw Error(ErrorCode::kCudaError, "device", "cannot query the shared memory per block of device " +
                                                     std::to_string(device));
  }
  if (cacheable) cached[device].store(v, std::memory_order_relaxed);
  return v;
}

// DefaultPrefillShape where the device's shared memory holds it (every Hopper),
// else CompactPrefillShape.
template <int kHeadDim, class QT, bool kFp8Kv>
void launch_prefill_instance(const PrefillParams& params, const PrefillGrid& grid, cudaStream_t stream) {
  using Default = DefaultPrefillShape<kHeadDim>;
  constexpr KvStore kAnyStore = kFp8Kv ? KvStore::kE4M3 : KvStore::k16Bit;  // e5m2 needs the same smem
  if (PrefillTraits<Default, QT, kAnyStore>::kSmemBytes <= max_dynamic_smem(grid.device))
    launch_prefill_shape<Default, QT, kFp8Kv>(params, grid, stream);
  else
    launch_prefill_shape<CompactPrefillShape<kHeadDim>, QT, kFp8Kv>(params, grid, stream);
}

}  // namespace cuda
}  // namespace kvattn
