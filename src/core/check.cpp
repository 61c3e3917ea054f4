#include "core/check.h"

#include <sstream>

namespace kvattn {
namespace check {

std::string device_str(Device device) {
  switch (device.type) {
    case DeviceType::kCPU: return "cpu";
    case DeviceType::kCUDA: return "cuda:" + std::to_string(device.index);
  }
  return "unknown device type " + std::to_string(static_cast<int>(device.type));
}

std::string shape_str(const TensorView& view) {
  if (!view.defined()) return "none";
  std::ostringstream s;
  s << '[';
  for (int i = 0; i < view.ndim; ++i) s << (i ? ", " : "") << view.shape[i];
  s << ']';
  return s.str();
}

std::string dims_str(std::initializer_list<int64_t> dims) {
  std::ostringstream s;
  s << '[';
  bool first = true;
  for (int64_t d : dims) {
    s << (first ? "" : ", ") << d;
    first = false;
  }
  s << ']';
  return s.str();
}

std::string dtypes_str(std::initializer_list<DType> dtypes) {
  std::string out;
  size_t i = 0;
  for (DType d : dtypes) {
    if (i > 0) out += (i + 1 == dtypes.size()) ? " or " : ", ";
    out += dtype_name(d);
    ++i;
  }
  return out;
}

std::string num_str(double value) {
  std::ostringstream s;
  s << value;
  return s.str();
}

void fail(ErrorCode code, const std::string& arg, const std::string& expected, const std::string& got) {
  throw Error(code, arg, "expected " + expected + ", got " + got);
}

bool same_device(Device a, Device b) {
  if (a.type != b.type) return false;
  return a.type == DeviceType::kCPU || a.index == b.index;  // CPU ignores the index
}

void require_defined(const TensorView& view, const char* arg, const char* what) {
  if (!view.defined()) fail(ErrorCode::kInvalidArgument, arg, what, "none");
}

void require_rank(const TensorView& view, const char* arg, int rank, const char* layout) {
  const std::string expected = "a rank-" + std::to_string(rank) + " tensor " + layout;
  if (!view.defined()) fail(ErrorCode::kInvalidArgument, arg, expected, "none");
  if (view.ndim != rank)
    fail(ErrorCode::kInvalidArgument, arg, expected,
         "rank " + std::to_string(view.ndim) + " " + shape_str(view));
  for (int i = 0; i < rank; ++i)
    if (view.shape[i] < 0)
      fail(ErrorCode::kInvalidArgument, arg, "non-negative sizes " + std::string(layout), shape_str(view));
  if (view.data == nullptr && view.numel() > 0)
    fail(ErrorCode::kInvalidArgument, arg, "a data pointer for a non-empty tensor", "null");
}

void require_dtype(const TensorView& view, const char* arg, std::initializer_list<DType> allowed) {
  for (DType d : allowed)
    if (view.dtype == d) return;
  fail(ErrorCode::kInvalidDType, arg, "dtype " + dtypes_str(allowed), dtype_name(view.dtype));
}

void require_shape(const TensorView& view, const char* arg, std::initializer_list<int64_t> dims,
                   const char* meaning) {
  bool match = view.ndim == static_cast<int>(dims.size());
  int i = 0;
  for (int64_t d : dims) match = match && view.shape[i++] == d;
  if (!match)
    fail(ErrorCode::kInvalidArgument, arg, "shape " + dims_str(dims) + " " + meaning, shape_str(view));
}

void require_same_shape(const TensorView& view, const char* arg, const TensorView& ref, const char* ref_arg) {
  bool match = view.ndim == ref.ndim;
  for (int i = 0; match && i < view.ndim; ++i) match = view.shape[i] == ref.shape[i];
  if (!match)
    fail(ErrorCode::kInvalidArgument, arg, "shape " + shape_str(ref) + " (" + ref_arg + "'s shape)",
         shape_str(view));
}

void require_same_dtype(const TensorView& view, const char* arg, DType dtype, const char* ref_arg) {
  if (view.dtype != dtype)
    fail(ErrorCode::kInvalidDType, arg, std::string("dtype ") + dtype_name(dtype) + " (" + ref_arg + "'s dtype)",
         dtype_name(view.dtype));
}

void require_last_dim_contiguous(const TensorView& view, const char* arg) {
  const int last = view.ndim - 1;
  if (last < 0 || view.shape[last] <= 1) return;
  if (view.stride[last] != 1)
    fail(ErrorCode::kInvalidArgument, arg, "last-dim stride 1", std::to_string(view.stride[last]));
}

void require_contiguous_1d(const TensorView& view, const char* arg) {
  if (view.ndim == 1 && view.shape[0] > 1 && view.stride[0] != 1)
    fail(ErrorCode::kInvalidArgument, arg, "a contiguous 1-D tensor (stride 1)",
         "stride " + std::to_string(view.stride[0]));
}

void require_known_device(const TensorView& view, const char* arg) {
  const bool known = view.device.type == DeviceType::kCPU ||
                     (view.device.type == DeviceType::kCUDA && view.device.index >= 0);
  if (!known) fail(ErrorCode::kInvalidArgument, arg, "device cpu or cuda:<n> with n >= 0", device_str(view.device));
}

void require_float_token_heads(const TensorView& view, const char* arg, const char* layout, const char* heads) {
  require_rank(view, arg, 3, layout);
  require_dtype(view, arg, {DType::kFloat32, DType::kFloat16, DType::kBFloat16});
  require_last_dim_contiguous(view, arg);
  require_known_device(view, arg);
  if (view.shape[1] > INT32_MAX || view.shape[2] > INT32_MAX)
    fail(ErrorCode::kInvalidArgument, arg, std::string(heads) + " and D below 2^31", shape_str(view));
}

void require_same_device(const TensorView& view, const char* arg, Device device, const char* ref_arg) {
  if (!same_device(view.device, device))
    fail(ErrorCode::kInvalidArgument, arg, "device " + device_str(device) + " (" + ref_arg + "'s device)",
         device_str(view.device));
}

void require_in_range(int64_t value, const char* arg, int64_t lo, int64_t hi) {
  if (value < lo || value > hi)
    fail(ErrorCode::kInvalidArgument, arg,
         "a value in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", std::to_string(value));
}

}  // namespace check
}  // namespace kvattn
