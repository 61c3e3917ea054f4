// Non-owning tensor views: how every kvattn entry point receives arrays.
#pragma once
#include <cstdint>
#include <initializer_list>

namespace kvattn {

enum class DType : int {
  kFloat32,
  kFloat16,
  kBFloat16,
  kFloat8E4M3,  // OCP e4m3fn: no infinities, max 448
  kFloat8E5M2,  // OCP e5m2: IEEE-like, max 57344
  kInt32,
  kInt64,
  kUInt8,
};

const char* dtype_name(DType dtype);
int dtype_size(DType dtype);  // bytes per element
constexpr bool is_fp8(DType dtype) { return dtype == DType::kFloat8E4M3 || dtype == DType::kFloat8E5M2; }

enum class DeviceType : int { kCPU, kCUDA };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;  // CUDA device ordinal; ignored for CPU
};

constexpr int kMaxDims = 4;

// A view of someone else's memory. Shapes and strides are in elements
// (not bytes); strides may be 0 (broadcast) and need not be contiguous.
// A default-constructed view is "absent" (ndim == -1): that is how optional
// arguments are left out.
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kFloat32;
  int ndim = -1;
  int64_t shape[kMaxDims] = {0, 0, 0, 0};
  int64_t stride[kMaxDims] = {0, 0, 0, 0};
  Device device;

  bool defined() const { return ndim >= 0; }
  int64_t numel() const;

  // Row-major contiguous view.
  static TensorView contiguous(const void* data, DType dtype, std::initializer_list<int64_t> shape,
                               Device device = {});
  // Explicit strides (in elements).
  static TensorView strided(const void* data, DType dtype, std::initializer_list<int64_t> shape,
                            std::initializer_list<int64_t> strides, Device device = {});
};

}  // namespace kvattn
