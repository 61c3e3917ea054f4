#include "kvattn/tensor.h"

#include "kvattn/error.h"

namespace kvattn {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat8E4M3: return "float8_e4m3fn";
    case DType::kFloat8E5M2: return "float8_e5m2";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kUInt8: return "uint8";
  }
  return "unknown";
}

int dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: case DType::kInt32: return 4;
    case DType::kFloat16: case DType::kBFloat16: return 2;
    case DType::kFloat8E4M3: case DType::kFloat8E5M2: case DType::kUInt8: return 1;
    case DType::kInt64: return 8;
  }
  return 0;
}

int64_t TensorView::numel() const {
  if (ndim < 0) return 0;
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[i];
  return n;
}

static TensorView make_view(const void* data, DType dtype, std::initializer_list<int64_t> shape,
                            const int64_t* strides, Device device) {
  if (shape.size() > static_cast<size_t>(kMaxDims))
    throw Error(ErrorCode::kInvalidArgument, "shape", "at most 4 dimensions are supported");
  TensorView t;
  t.data = const_cast<void*>(data);
  t.dtype = dtype;
  t.ndim = static_cast<int>(shape.size());
  t.device = device;
  int i = 0;
  for (int64_t s : shape) t.shape[i++] = s;
  int64_t running = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    t.stride[d] = strides ? strides[d] : running;
    running *= t.shape[d];
  }
  return t;
}

TensorView TensorView::contiguous(const void* data, DType dtype, std::initializer_list<int64_t> shape,
                                  Device device) {
  return make_view(data, dtype, shape, nullptr, device);
}

TensorView TensorView::strided(const void* data, DType dtype, std::initializer_list<int64_t> shape,
                               std::initializer_list<int64_t> strides, Device device) {
  if (strides.size() != shape.size())
    throw Error(ErrorCode::kInvalidArgument, "strides", "must have as many entries as shape");
  int64_t s[kMaxDims] = {0, 0, 0, 0};
  int i = 0;
  for (int64_t v : strides) {
    if (i < kMaxDims) s[i] = v;
    ++i;
  }
  return make_view(data, dtype, shape, s, device);
}

}  // namespace kvattn
