#include "array_args.h"

#include <climits>
#include <cstring>
#include <string>

#include "kvattn/error.h"

namespace kvattn_py {

namespace {

using kvattn::DType;
using kvattn::Error;
using kvattn::ErrorCode;
namespace dl = nb::dlpack;

// DLPack device types (dlpack.h): kDLCPU 1, kDLCUDA 2, kDLCUDAHost 3, kDLCUDAManaged 13.
constexpr int kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3, kDLCUDAManaged = 13;

bool dtype_from_dlpack(dl::dtype dt, DType* out) {
  if (dt.lanes != 1) return false;
  const auto code = static_cast<dl::dtype_code>(dt.code);
  switch (code) {
    case dl::dtype_code::Float:
      if (dt.bits == 32) { *out = DType::kFloat32; return true; }
      if (dt.bits == 16) { *out = DType::kFloat16; return true; }
      return false;
    case dl::dtype_code::Bfloat:
      if (dt.bits == 16) { *out = DType::kBFloat16; return true; }
      return false;
    case dl::dtype_code::Int:
      if (dt.bits == 32) { *out = DType::kInt32; return true; }
      if (dt.bits == 64) { *out = DType::kInt64; return true; }
      return false;
    case dl::dtype_code::UInt:
      if (dt.bits == 8) { *out = DType::kUInt8; return true; }
      return false;
    case dl::dtype_code::Float8_E4M3FN:
      if (dt.bits == 8) { *out = DType::kFloat8E4M3; return true; }
      return false;
    case dl::dtype_code::Float8_E5M2:
      if (dt.bits == 8) { *out = DType::kFloat8E5M2; return true; }
      return false;
    default:
      return false;
  }
}

std::string describe_dlpack_dtype(dl::dtype dt) {
  const std::string bits = std::to_string(dt.bits);
  std::string name;
  switch (static_cast<dl::dtype_code>(dt.code)) {
    case dl::dtype_code::Int: name = "int" + bits; break;
    case dl::dtype_code::UInt: name = "uint" + bits; break;
    case dl::dtype_code::Float: name = "float" + bits; break;
    case dl::dtype_code::Bfloat: name = "bfloat" + bits; break;
    case dl::dtype_code::Complex: name = "complex" + bits; break;
    case dl::dtype_code::Bool: name = "bool"; break;
    default: name = "DLPack type code " + std::to_string(dt.code) + " of " + bits + " bits"; break;
  }
  if (dt.lanes != 1) name += " x " + std::to_string(dt.lanes) + " lanes";
  return name;
}

constexpr int kNoDTypeOverride = -1;

bool valid_override(int code) {
  return code >= static_cast<int>(DType::kFloat32) && code <= static_cast<int>(DType::kUInt8);
}

// Raw-bit reinterpretation is allowed from unsigned integers of the same width
// (uint8 for fp8, uint16 for bf16/fp16) or when the dtype already matches.
DType resolve_dtype(dl::dtype dt, int override_code, const char* name) {
  if (override_code != kNoDTypeOverride) {
    if (!valid_override(override_code))
      throw Error(ErrorCode::kInvalidDType, name, "unknown dtype override " + std::to_string(override_code));
    const DType wanted = static_cast<DType>(override_code);
    const bool raw_bits = dt.lanes == 1 && dt.code == static_cast<uint8_t>(dl::dtype_code::UInt) &&
                          dt.bits == 8 * kvattn::dtype_size(wanted);
    DType own;
    const bool same = dtype_from_dlpack(dt, &own) && own == wanted;
    if (!raw_bits && !same)
      throw Error(ErrorCode::kInvalidDType, name,
                  std::string("cannot be read as ") + kvattn::dtype_name(wanted) + ": expected " +
                      kvattn::dtype_name(wanted) + " data or uint" + std::to_string(8 * kvattn::dtype_size(wanted)) +
                      " raw bits, got " + describe_dlpack_dtype(dt));
    return wanted;
  }
  DType own;
  if (!dtype_from_dlpack(dt, &own))
    throw Error(ErrorCode::kInvalidDType, name,
                "unsupported element type (" + describe_dlpack_dtype(dt) +
                    "); expected float16, bfloat16, float32, int32, int64, uint8, float8_e4m3fn or float8_e5m2");
  return own;
}

kvattn::Device device_from_dlpack(int type, int index, const char* name) {
  kvattn::Device d;
  switch (type) {
    case kDLCPU:
    case kDLCUDAHost:  // pinned host memory: the CPU reads it directly
      d.type = kvattn::DeviceType::kCPU;
      d.index = 0;
      return d;
    case kDLCUDA:
    case kDLCUDAManaged:
      d.type = kvattn::DeviceType::kCUDA;
      d.index = index;
      return d;
    default:
      throw Error(ErrorCode::kInvalidArgument, name,
                  "unsupported device (DLPack device type " + std::to_string(type) + "); expected CPU or CUDA memory");
  }
}

template <typename Array>
kvattn::TensorView make_view(const Array& a, const char* name, int dtype_override) {
  if (a.ndim() > static_cast<size_t>(kvattn::kMaxDims))
    throw Error(ErrorCode::kInvalidArgument, name,
                "has " + std::to_string(a.ndim()) + " dimensions; at most " + std::to_string(kvattn::kMaxDims) +
                    " are supported");
  kvattn::TensorView v;
  v.data = const_cast<void*>(static_cast<const void*>(a.data()));
  v.dtype = resolve_dtype(a.dtype(), dtype_override, name);
  v.ndim = static_cast<int>(a.ndim());
  for (int i = 0; i < v.ndim; ++i) {
    v.shape[i] = a.shape(i);
    v.stride[i] = a.stride(i);
  }
  v.device = device_from_dlpack(a.device_type(), a.device_id(), name);
  return v;
}

std::string python_type_name(nb::handle obj) { return nb::type_name(obj.type()).c_str(); }

int dtype_code_from_name(const char* text, const char* name) {
  for (int code = static_cast<int>(DType::kFloat32); code <= static_cast<int>(DType::kUInt8); ++code)
    if (std::strcmp(kvattn::dtype_name(static_cast<DType>(code)), text) == 0) return code;
  throw Error(ErrorCode::kInvalidDType, name,
              std::string("unknown dtype name '") + text +
                  "'; expected float32, float16, bfloat16, float8_e4m3fn, float8_e5m2, int32, int64 or uint8");
}

// Splits the optional (array, dtype) pair; dtype is an int(kvattn::DType) or its name.
nb::handle unpack(nb::handle obj, int* dtype_override, const char* name) {
  *dtype_override = kNoDTypeOverride;
  if (!PyTuple_CheckExact(obj.ptr())) return obj;
  if (PyTuple_GET_SIZE(obj.ptr()) != 2)
    throw Error(ErrorCode::kInvalidArgument, name, "a tuple argument must be (array, dtype)");
  nb::handle dtype = PyTuple_GET_ITEM(obj.ptr(), 1);
  if (PyLong_CheckExact(dtype.ptr())) {
    int overflow = 0;
    const long code = PyLong_AsLongAndOverflow(dtype.ptr(), &overflow);
    if (overflow || code < INT_MIN || code > INT_MAX)
      throw Error(ErrorCode::kInvalidDType, name, "unknown dtype override " + std::string(nb::str(dtype).c_str()));
    *dtype_override = static_cast<int>(code);
  } else if (PyUnicode_Check(dtype.ptr())) {
    const char* text = PyUnicode_AsUTF8(dtype.ptr());
    if (text == nullptr) {  // not encodable as UTF-8 (e.g. a lone surrogate)
      PyErr_Clear();
      throw Error(ErrorCode::kInvalidDType, name, "the dtype name of an (array, dtype) pair is not valid UTF-8");
    }
    *dtype_override = dtype_code_from_name(text, name);
  } else {
    throw Error(ErrorCode::kInvalidArgument, name, "the dtype of an (array, dtype) pair must be an int code or a name");
  }
  return PyTuple_GET_ITEM(obj.ptr(), 0);
}

}  // namespace

kvattn::TensorView ArrayArgs::input(nb::handle obj, const char* name) {
  if (obj.is_none()) return kvattn::TensorView{};
  int dtype_override;
  nb::handle array = unpack(obj, &dtype_override, name);
  if (num_inputs_ == kMaxInputs)
    throw Error(ErrorCode::kInvalidArgument, name, "too many array arguments (internal limit of the binding)");
  nb::ndarray<nb::ro>& slot = inputs_[num_inputs_];
  if (!nb::try_cast(array, slot, /*convert=*/false))
    throw Error(ErrorCode::kInvalidArgument, name,
                "expected an array that supports DLPack or the buffer protocol (torch, numpy, CuPy), got " +
                    python_type_name(array));
  ++num_inputs_;
  return make_view(slot, name, dtype_override);
}

kvattn::TensorView ArrayArgs::output(nb::handle obj, const char* name) {
  if (obj.is_none()) return kvattn::TensorView{};
  int dtype_override;
  nb::handle array = unpack(obj, &dtype_override, name);
  if (num_outputs_ == kMaxOutputs)
    throw Error(ErrorCode::kInvalidArgument, name, "too many array arguments (internal limit of the binding)");
  nb::ndarray<>& slot = outputs_[num_outputs_];
  if (!nb::try_cast(array, slot, /*convert=*/false))
    throw Error(ErrorCode::kInvalidArgument, name,
                "expected a writable array that supports DLPack or the buffer protocol (torch, numpy, CuPy), got " +
                    python_type_name(array) + " (read-only arrays cannot be written)");
  ++num_outputs_;
  return make_view(slot, name, dtype_override);
}

}  // namespace kvattn_py
