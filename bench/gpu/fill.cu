#include "fill.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "cuda_util.h"
#include "random.h"

namespace kvattn_bench {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;  // grid-stride beyond this

int64_t grid_for(int64_t count) {
  return std::clamp<int64_t>((count + kThreads - 1) / kThreads, 1, kMaxBlocks);
}

struct ToBf16 {
  __device__ __nv_bfloat16 operator()(float x) const { return __float2bfloat16_rn(x); }
};
struct ToFp16 {
  __device__ __half operator()(float x) const { return __float2half_rn(x); }
};
struct ToE4M3 {
  __device__ __nv_fp8_storage_t operator()(float x) const {
    return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3);
  }
};
struct ToE5M2 {
  __device__ __nv_fp8_storage_t operator()(float x) const {
    return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2);
  }
};

template <typename Out, typename Convert>
__global__ void fill_normal_kernel(Out* dst, int64_t count, uint64_t seed, float scale, Convert convert) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride)
    dst[i] = convert(scale * hash_normal(seed, static_cast<uint64_t>(i)));
}

template <typename Out, typename Convert>
void launch_fill(void* dst, int64_t count, uint64_t seed, float scale, cudaStream_t stream) {
  if (count == 0) return;
  fill_normal_kernel<<<static_cast<unsigned>(grid_for(count)), kThreads, 0, stream>>>(static_cast<Out*>(dst), count,
                                                                                      seed, scale, Convert{});
  BENCH_CUDA_CHECK(cudaGetLastError());
}

// bf16 is non-finite iff its exponent bits are all ones.
__global__ void count_nonfinite_bf16_kernel(const uint16_t* values, int64_t count, unsigned long long* result) {
  unsigned long long local = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride)
    local += (values[i] & 0x7f80u) == 0x7f80u;
  if (local) atomicAdd(result, local);
}

}  // namespace

void fill_normal_device(void* dst, kvattn::DType dtype, int64_t count, uint64_t seed, float scale,
                        cudaStream_t stream) {
  switch (dtype) {
    case kvattn::DType::kBFloat16:
      return launch_fill<__nv_bfloat16, ToBf16>(dst, count, seed, scale, stream);
    case kvattn::DType::kFloat16:
      return launch_fill<__half, ToFp16>(dst, count, seed, scale, stream);
    case kvattn::DType::kFloat8E4M3:
      return launch_fill<__nv_fp8_storage_t, ToE4M3>(dst, count, seed, scale, stream);
    case kvattn::DType::kFloat8E5M2:
      return launch_fill<__nv_fp8_storage_t, ToE5M2>(dst, count, seed, scale, stream);
    default:
      throw std::invalid_argument(std::string("fill_normal_device: unsupported dtype ") + kvattn::dtype_name(dtype));
  }
}

int64_t count_nonfinite_bf16_device(const void* values, int64_t count, cudaStream_t stream) {
  DeviceBuffer counter(sizeof(unsigned long long));
  BENCH_CUDA_CHECK(cudaMemsetAsync(counter.get(), 0, counter.bytes(), stream));
  if (count > 0) {
    count_nonfinite_bf16_kernel<<<static_cast<unsigned>(grid_for(count)), kThreads, 0, stream>>>(
        static_cast<const uint16_t*>(values), count, counter.as<unsigned long long>());
    BENCH_CUDA_CHECK(cudaGetLastError());
  }
  unsigned long long host = 0;
  BENCH_CUDA_CHECK(cudaMemcpyAsync(&host, counter.get(), sizeof host, cudaMemcpyDeviceToHost, stream));
  BENCH_CUDA_CHECK(cudaStreamSynchronize(stream));
  return static_cast<int64_t>(host);
}

}  // namespace kvattn_bench
