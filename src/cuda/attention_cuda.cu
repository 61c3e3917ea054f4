// The CUDA backend's attention entry points (src/core/backends.h): the router
// that sends short query rows to the split-KV decode family and long ones to
// the prefill family, plus the device queries the split heuristic needs.
// Never reads lengths on the host, allocates nothing, never synchronizes:
// each kernel skips, on the device, the sequences of the other family.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include <cuda_runtime.h>

#include "core/backends.h"
#include "cuda/common/routing.h"
#include "cuda/decode/decode.h"
#include "cuda/hopper/hopper_prefill.h"
#include "cuda/prefill/prefill.h"
#include "cuda/prewiden/prewiden.h"
#include "kvattn/error.h"

namespace kvattn {

namespace {

// Device attributes are cached per ordinal (host-side queries, no sync);
// 0 / -1 mean "not read yet".
constexpr int kMaxCachedDevices = 64;
std::atomic<int> g_sm_count[kMaxCachedDevices];
std::atomic<int> g_cc_major[kMaxCachedDevices];
std::atomic<int> g_l2_bytes[kMaxCachedDevices];

int query_attribute(int device, cudaDeviceAttr attr, const char* what) {
  int value = 0;
  const cudaError_t err = cudaDeviceGetAttribute(&value, attr, device);
  if (err != cudaSuccess) {
    cudaGetLastError();  // do not leave the failure for the next launch check
    throw Error(ErrorCode::kCudaError, "device",
                "cannot read " + std::string(what) + " of CUDA device " + std::to_string(device) + ": " +
                    cudaGetErrorString(err));
  }
  return value;
}

int cached_attribute(std::atomic<int>* cache, int device, cudaDeviceAttr attr, const char* what) {
  if (device < 0 || device >= kMaxCachedDevices) return query_attribute(device, attr, what);
  int value = cache[device].load(std::memory_order_relaxed);
  if (value <= 0) {
    value = query_attribute(device, attr, what);
    cache[device].store(value, std::memory_order_relaxed);
  }
  return value;
}

int sm_count(Device device) {
  return cached_attribute(g_sm_count, device.index, cudaDevAttrMultiProcessorCount, "the multiprocessor count");
}

// Makes the problem's device current for the launches and restores the
// caller's device afterwards.
class ScopedDevice {
 public:
  explicit ScopedDevice(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ != device) {
      const cudaError_t err = cudaSetDevice(device);
      if (err != cudaSuccess) {
        cudaGetLastError();
        throw Error(ErrorCode::kCudaError, "device",
                    "cannot select CUDA device " + std::to_string(device) + ": " + cudaGetErrorString(err));
      }
      switched_ = true;
    }
  }
  ~ScopedDevice() {
    if (switched_ && previous_ >= 0) cudaSetDevice(previous_);
  }
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;

 private:
  int previous_ = -1;
  bool switched_ = false;
};

}  // namespace

void cuda_varlen_attention(const AttentionProblem& p) {
  if (p.batch <= 0 || p.total_q <= 0) return;
  ScopedDevice device(p.device.index);
  const auto stream = static_cast<cudaStream_t>(p.stream);
  // Any sequence may be short (max_seqlen_q only bounds them), so the decode
  // family always runs, and first: decode rows never queue behind prefill tiles.
  cuda::launch_decode_splitkv(p, stream);
  if (p.max_seqlen_q > cuda::kShortQueryMaxLen) {
    // kCudaHopper covers the shapes its kernels were built for; the rest run portable.
    if (p.backend == Backend::kCudaHopper && cuda::hopper_prefill_supports(p)) {
      // FP8 KV widened once into the workspace's scratch when it is there (prewiden.h).
      const size_t split_bytes = cuda::decode_workspace_bytes(p.batch, p.num_q_heads, p.num_kv_heads, p.head_dim,
                                                              p.max_seqlen_q, p.num_splits);
      if (cuda::prewiden_planned(p, split_bytes)) {
        const AttentionProblem wide = cuda::launch_prewiden(p, split_bytes, stream);
        cuda::launch_prefill_hopper(wide, stream, /*skip_short_queries=*/true, /*wait_first=*/true);
      } else {
        cuda::launch_prefill_hopper(p, stream, /*skip_short_queries=*/true);
      }
    } else {
      cuda::launch_prefill_portable(p, stream, /*skip_short_queries=*/true);
    }
  }
}

int cuda_attention_num_splits(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim, int64_t max_seqlen_q,
                              int64_t max_seqlen_k, int requested_splits, Device device) {
  if (requested_splits > 0) {  // explicit: no device query needed
    return cuda::decode_num_splits(batch, num_q_heads, num_kv_heads, head_dim, max_seqlen_q, max_seqlen_k,
                                   requested_splits, 1);
  }
  return cuda::decode_num_splits(batch, num_q_heads, num_kv_heads, head_dim, max_seqlen_q, max_seqlen_k, 0,
                                 sm_count(device));
}

size_t cuda_attention_workspace_size(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim,
                                     int64_t max_seqlen_q, int64_t max_seqlen_k, int num_splits, Device device) {
  // num_splits may be a request (0 = heuristic) or an already resolved count:
  // resolving again is idempotent.
  const int splits = cuda_attention_num_splits(batch, num_q_heads, num_kv_heads, head_dim, max_seqlen_q,
                                               max_seqlen_k, num_splits, device);
  return cuda::decode_workspace_bytes(batch, num_q_heads, num_kv_heads, head_dim, max_seqlen_q, splits);
}

size_t cuda_attention_prewiden_bytes(int64_t batch, int num_kv_heads, int head_dim, int64_t max_seqlen_q,
                                     int64_t max_seqlen_k, DType kv_dtype, Device device) {
  // Sizes first: a call that would not prewiden anywhere needs no device query.
  const size_t bytes = cuda::prewiden_workspace_bytes(batch, num_kv_heads, head_dim, max_seqlen_q, max_seqlen_k, kv_dtype);
  return bytes > 0 && cuda_device_is_hopper(device) ? bytes : 0;
}

bool cuda_device_is_hopper(Device device) {
  return cached_attribute(g_cc_major, device.index, cudaDevAttrComputeCapabilityMajor, "the compute capability") ==
         9;
}

namespace cuda {
int device_sm_count(int device) {
  return cached_attribute(g_sm_count, device, cudaDevAttrMultiProcessorCount, "the multiprocessor count");
}

int64_t device_l2_bytes(int device) {
  return cached_attribute(g_l2_bytes, device, cudaDevAttrL2CacheSize, "the L2 cache size");
}

bool programmatic_launch_enabled(int device) {
  // KVATTN_PDL=0 turns it off (A/B measurements); read once per process.
  static const bool allowed = [] {
    const char* v = std::getenv("KVATTN_PDL");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return allowed &&
         cached_attribute(g_cc_major, device, cudaDevAttrComputeCapabilityMajor, "the compute capability") >= 9;
}
}  // namespace cuda

}  // namespace kvattn
