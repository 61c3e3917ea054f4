// 256-entry fp8 -> float decode tables, built once per format from the codecs
// in kvattn/fp8.h. A table lookup is the cheapest exact decode on the host.
#pragma once
#include "kvattn/tensor.h"

namespace kvattn {
namespace cpu {

// dtype must be kFloat8E4M3 or kFloat8E5M2. The table lives for the program.
const float* fp8_decode_table(DType dtype);

}  // namespace cpu
}  // namespace kvattn
