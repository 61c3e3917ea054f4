#include "cpu/fp8_table.h"

#include <array>
#include <cstdint>

#include "kvattn/fp8.h"

namespace kvattn {
namespace cpu {

namespace {
std::array<float, 256> build_table(DType dtype) {
  std::array<float, 256> table{};
  for (int code = 0; code < 256; ++code) table[code] = fp8::decode(dtype, static_cast<uint8_t>(code));
  return table;
}
}  // namespace

const float* fp8_decode_table(DType dtype) {
  // Function-local statics: built on first use, thread-safe.
  static const std::array<float, 256> e4m3 = build_table(DType::kFloat8E4M3);
  static const std::array<float, 256> e5m2 = build_table(DType::kFloat8E5M2);
  return dtype == DType::kFloat8E5M2 ? e5m2.data() : e4m3.data();
}

}  // namespace cpu
}  // namespace kvattn
