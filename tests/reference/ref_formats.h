// Independent float64 view of every element format the tests touch
// (docs/semantics.md S5). Written from the format definitions only; shares no
// code with the library (include/kvattn/fp8.h is deliberately not used).
#pragma once
#include <cstdint>

namespace kvref {

enum class Format { kF32, kF16, kBF16, kE4M3, kE5M2 };

int format_bytes(Format f);
const char* format_name(Format f);

// Exact value of a bit pattern (NaN and +-inf where the format has them).
double decode_bits(Format f, uint32_t bits);

// Nearest representable value, ties to even. With `saturate`, finite overflow
// and +-inf clamp to +-max; without it they give inf (or NaN for e4m3fn, which
// has no inf). NaN always stays NaN. For kF32 this is the hardware double->float.
uint32_t encode_bits(Format f, double x, bool saturate);

// Largest finite magnitude of the format.
double format_max(Format f);

// Reads / writes element `index` of a dense array of `f` elements.
uint32_t load_bits(Format f, const void* base, int64_t index);
void store_bits(Format f, void* base, int64_t index, uint32_t bits);
// decode_bits(f, load_bits(...)), through a table of every code for the
// 8- and 16-bit formats (built once from decode_bits).
double load_value(Format f, const void* base, int64_t index);

// A quiet NaN pattern of the format.
uint32_t nan_bits(Format f);

}  // namespace kvref
