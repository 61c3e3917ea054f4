// Maps the library's dtypes onto the reference's element formats.
#pragma once
#include <stdexcept>

#include "kvattn/tensor.h"
#include "reference/ref_formats.h"

namespace kvtest {

inline kvref::Format ref_format(kvattn::DType d) {
  switch (d) {
    case kvattn::DType::kFloat32: return kvref::Format::kF32;
    case kvattn::DType::kFloat16: return kvref::Format::kF16;
    case kvattn::DType::kBFloat16: return kvref::Format::kBF16;
    case kvattn::DType::kFloat8E4M3: return kvref::Format::kE4M3;
    case kvattn::DType::kFloat8E5M2: return kvref::Format::kE5M2;
    default: throw std::invalid_argument("no floating-point format for this dtype");
  }
}

using kvattn::is_fp8;

}  // namespace kvtest
