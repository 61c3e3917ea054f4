// Small argument checks shared by every entry point's validation. Each throws
// kvattn::Error naming the argument, with a message of the form
// "expected <what>, got <what>" (Error adds the "kvattn: <arg>: " prefix).
// None of them reads tensor data: only shapes, strides, dtypes and devices.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

#include "kvattn/error.h"
#include "kvattn/tensor.h"

namespace kvattn {
namespace check {

// Text helpers for messages.
std::string device_str(Device device);               // "cpu", "cuda:0"
std::string shape_str(const TensorView& view);       // "[4, 8, 128]"
std::string dims_str(std::initializer_list<int64_t> dims);
std::string dtypes_str(std::initializer_list<DType> dtypes);  // "bfloat16 or float16"
std::string num_str(double value);  // shortest readable form: "0.125", "nan", "-inf"

[[noreturn]] void fail(ErrorCode code, const std::string& arg, const std::string& expected,
                       const std::string& got);

bool same_device(Device a, Device b);

// The argument is present. `what` describes it for the message.
void require_defined(const TensorView& view, const char* arg, const char* what);

// Present, of this rank, with non-negative sizes and a data pointer unless it is
// empty. `layout` names the dims, e.g. "[total_q, Hq, D]".
void require_rank(const TensorView& view, const char* arg, int rank, const char* layout);

void require_dtype(const TensorView& view, const char* arg, std::initializer_list<DType> allowed);

// view.shape == dims exactly (rank already checked). `meaning` says where the
// expected sizes come from, e.g. "[B, Hkv]".
void require_shape(const TensorView& view, const char* arg, std::initializer_list<int64_t> dims,
                   const char* meaning);

// view.shape == ref.shape (both ranks already checked).
void require_same_shape(const TensorView& view, const char* arg, const TensorView& ref, const char* ref_arg);

// view.dtype == ref's dtype.
void require_same_dtype(const TensorView& view, const char* arg, DType dtype, const char* ref_arg);

// Stride 1 along the last dim (a dim of size 1 may have any stride).
void require_last_dim_contiguous(const TensorView& view, const char* arg);

// Rank-1 view whose elements are adjacent (the backends index it as a plain array).
void require_contiguous_1d(const TensorView& view, const char* arg);

// A CPU device, or a CUDA device with a non-negative ordinal.
void require_known_device(const TensorView& view, const char* arg);

// A [T, H, D] fp32/fp16/bf16 tensor of rows of heads (merge output, cache-write
// key): rank 3 (`layout` names the dims in the message), a float dtype, the last dim
// contiguous, a known device, H and D below 2^31 ("<heads> and D below 2^31").
void require_float_token_heads(const TensorView& view, const char* arg, const char* layout, const char* heads);

// view is on `device`, the device of argument `ref_arg`.
void require_same_device(const TensorView& view, const char* arg, Device device, const char* ref_arg);

// A host int within [lo, hi].
void require_in_range(int64_t value, const char* arg, int64_t lo, int64_t hi);

}  // namespace check
}  // namespace kvattn
