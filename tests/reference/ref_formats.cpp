#include "reference/ref_formats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

namespace kvref {

namespace {

// Binary interchange layout: 1 sign bit, `ebits` exponent bits, `mbits`
// mantissa bits. `fn` marks e4m3fn: no infinities, only all-ones is NaN.
struct Layout {
  int ebits;
  int mbits;
  bool fn;
  int bias() const { return (1 << (ebits - 1)) - 1; }
  uint32_t exp_all_ones() const { return (1u << ebits) - 1; }
  uint32_t man_all_ones() const { return (1u << mbits) - 1; }
  uint32_t sign_bit() const { return 1u << (ebits + mbits); }
};

Layout layout_of(Format f) {
  switch (f) {
    case Format::kF16: return {5, 10, false};
    case Format::kBF16: return {8, 7, false};
    case Format::kE4M3: return {4, 3, true};
    case Format::kE5M2: return {5, 2, false};
    case Format::kF32: return {8, 23, false};
  }
  throw std::logic_error("unknown format");
}

double decode_layout(const Layout& l, uint32_t bits) {
  const bool negative = (bits & l.sign_bit()) != 0;
  const uint32_t e = (bits >> l.mbits) & l.exp_all_ones();
  const uint32_t m = bits & l.man_all_ones();
  double v;
  if (l.fn && e == l.exp_all_ones() && m == l.man_all_ones()) {
    v = std::numeric_limits<double>::quiet_NaN();
  } else if (!l.fn && e == l.exp_all_ones()) {
    v = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else if (e == 0) {
    v = std::ldexp(static_cast<double>(m), 1 - l.bias() - l.mbits);  // subnormal
  } else {
    v = std::ldexp(static_cast<double>(m + (1u << l.mbits)), static_cast<int>(e) - l.bias() - l.mbits);
  }
  return negative ? -v : v;
}

// Largest finite code (positive): e4m3fn loses only the all-ones mantissa at
// the top exponent; IEEE-like formats lose the whole top exponent.
uint32_t max_code(const Layout& l) {
  if (l.fn) return (l.exp_all_ones() << l.mbits) | (l.man_all_ones() - 1);
  return ((l.exp_all_ones() - 1) << l.mbits) | l.man_all_ones();
}

uint32_t nan_code(const Layout& l) {
  if (l.fn) return (l.exp_all_ones() << l.mbits) | l.man_all_ones();
  return (l.exp_all_ones() << l.mbits) | (1u << (l.mbits - 1));
}

uint32_t overflow_code(const Layout& l, bool saturate) {
  if (saturate) return max_code(l);
  return l.fn ? nan_code(l) : (l.exp_all_ones() << l.mbits);  // NaN or inf
}

uint32_t encode_layout(const Layout& l, double x, bool saturate) {
  if (std::isnan(x)) return nan_code(l);
  const uint32_t sign = std::signbit(x) ? l.sign_bit() : 0u;
  const double a = std::fabs(x);
  const double max_finite = decode_layout(l, max_code(l));
  if (std::isinf(a)) return sign | overflow_code(l, saturate);

  // Quantum of the binade holding `a` (subnormals share the lowest one).
  const int emin = 1 - l.bias();
  int e2 = 0;
  std::frexp(a, &e2);  // a = f * 2^e2, f in [0.5, 1)
  const int exponent = std::max(e2 - 1, emin);
  const int quantum_exp = exponent - l.mbits;
  // Scaling by a power of two is exact; nearbyint rounds ties to even under
  // the default rounding mode, which these tests never change.
  const double steps = std::nearbyint(std::ldexp(a, -quantum_exp));
  const double rounded = std::ldexp(steps, quantum_exp);
  if (rounded > max_finite) return sign | overflow_code(l, saturate);
  if (rounded == 0.0) return sign;

  const uint64_t n = static_cast<uint64_t>(steps);
  const uint64_t hidden = 1ull << l.mbits;
  if (n < hidden) return sign | static_cast<uint32_t>(n);  // subnormal (exponent field 0)
  int field = exponent + l.bias();
  uint64_t mant = n;
  if (mant == (hidden << 1)) {  // rounded up into the next binade
    mant = hidden;
    ++field;
  }
  return sign | (static_cast<uint32_t>(field) << l.mbits) | static_cast<uint32_t>(mant - hidden);
}

}  // namespace

int format_bytes(Format f) {
  switch (f) {
    case Format::kF32: return 4;
    case Format::kF16: case Format::kBF16: return 2;
    case Format::kE4M3: case Format::kE5M2: return 1;
  }
  return 0;
}

const char* format_name(Format f) {
  switch (f) {
    case Format::kF32: return "f32";
    case Format::kF16: return "f16";
    case Format::kBF16: return "bf16";
    case Format::kE4M3: return "e4m3";
    case Format::kE5M2: return "e5m2";
  }
  return "?";
}

double decode_bits(Format f, uint32_t bits) {
  if (f == Format::kF32) {
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  return decode_layout(layout_of(f), bits);
}

uint32_t encode_bits(Format f, double x, bool saturate) {
  if (f == Format::kF32) {
    float v = static_cast<float>(x);
    if (saturate && std::isinf(v)) v = std::copysign(std::numeric_limits<float>::max(), v);
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return bits;
  }
  return encode_layout(layout_of(f), x, saturate);
}

double format_max(Format f) {
  if (f == Format::kF32) return std::numeric_limits<float>::max();
  const Layout l = layout_of(f);
  return decode_layout(l, max_code(l));
}

uint32_t nan_bits(Format f) {
  if (f == Format::kF32) return 0x7fc00000u;
  return nan_code(layout_of(f));
}

uint32_t load_bits(Format f, const void* base, int64_t index) {
  const auto* p = static_cast<const unsigned char*>(base) + index * format_bytes(f);
  switch (format_bytes(f)) {
    case 1: return p[0];
    case 2: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    default: { uint32_t v; std::memcpy(&v, p, 4); return v; }
  }
}

namespace {
std::vector<double> build_table(Format f) {
  std::vector<double> t(size_t{1} << (8 * format_bytes(f)));
  for (size_t code = 0; code < t.size(); ++code) t[code] = decode_bits(f, static_cast<uint32_t>(code));
  return t;
}
}  // namespace

double load_value(Format f, const void* base, int64_t index) {
  static const std::vector<double> tables[] = {{}, build_table(Format::kF16), build_table(Format::kBF16),
                                               build_table(Format::kE4M3), build_table(Format::kE5M2)};
  const uint32_t bits = load_bits(f, base, index);
  if (f == Format::kF32) return decode_bits(f, bits);
  return tables[static_cast<int>(f)][bits];
}

void store_bits(Format f, void* base, int64_t index, uint32_t bits) {
  auto* p = static_cast<unsigned char*>(base) + index * format_bytes(f);
  switch (format_bytes(f)) {
    case 1: p[0] = static_cast<unsigned char>(bits); break;
    case 2: { const uint16_t v = static_cast<uint16_t>(bits); std::memcpy(p, &v, 2); break; }
    default: std::memcpy(p, &bits, 4); break;
  }
}

}  // namespace kvref
