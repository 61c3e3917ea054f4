// Turns Python array arguments (anything nanobind imports through DLPack or the
// buffer protocol: torch, numpy, CuPy, raw DLPack capsules) into
// kvattn::TensorView, and keeps the imported arrays alive for the duration of
// one call (the call itself runs with the GIL released).
#pragma once
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstddef>
#include <cstdint>

#include "kvattn/tensor.h"

namespace kvattn_py {

namespace nb = nanobind;

class ArrayArgs {
 public:
  // A read-only input. obj is None (absent view), an array, or a pair
  // (array, dtype) with dtype an int(kvattn::DType) or its name
  // ("float8_e4m3fn", "bfloat16", ...): it reinterprets the array's raw bits
  // (uint8 / uint16 data of the same width) as that dtype, which is how fp8 and
  // bf16 arrive from libraries whose DLPack cannot carry them.
  kvattn::TensorView input(nb::handle obj, const char* name);
  // An array kvattn writes (out, lse, caches, workspace): must be writable.
  kvattn::TensorView output(nb::handle obj, const char* name);

 private:
  // At least as many as any entry point takes (attention: 11 inputs, 3 outputs).
  static constexpr std::size_t kMaxInputs = 12;
  static constexpr std::size_t kMaxOutputs = 4;
  nb::ndarray<nb::ro> inputs_[kMaxInputs];
  nb::ndarray<> outputs_[kMaxOutputs];
  std::size_t num_inputs_ = 0;
  std::size_t num_outputs_ = 0;
};

// The stream argument: Python hands over the raw cudaStream_t as an int.
inline void* stream_from_int(std::uintptr_t stream) { return reinterpret_cast<void*>(stream); }

}  // namespace kvattn_py
