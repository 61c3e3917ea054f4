// AVX-512 lookup of fp8 codes in the 256-entry decode table (cpu/fp8_table.h)
// held in registers: a gather costs about one element per cycle, while
// permutes over the table's 128 magnitudes decode 16 codes in a few
// instructions. The table is sign-symmetric (table[c | 0x80] == -table[c]
// bit for bit, NaNs included), so bit 7 is applied as a sign flip.
// Only compiled into functions that target AVX-512 (attention_tile.cpp).
#pragma once
#include <cstdint>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define KVATTN_CPU_AVX512_FP8_DECODE 1

namespace kvattn {
namespace cpu {

__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"))) inline void fp8_row_to_float_avx512(
    const float* table, const uint8_t* src, float* dst, int64_t n) {
  __m512 t[8];
  for (int i = 0; i < 8; ++i) t[i] = _mm512_loadu_ps(table + 16 * i);
  const __m512i bit5 = _mm512_set1_epi32(32), bit6 = _mm512_set1_epi32(64), bit7 = _mm512_set1_epi32(128);
  const __m512 sign = _mm512_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    // (maskz form: GCC 12 warns about the undefined source of the plain one)
    const __m512i c =
        _mm512_maskz_cvtepu8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    // permutex2var uses the low 5 bits: entries 0-31 of each register pair.
    const __m512 q0 = _mm512_permutex2var_ps(t[0], c, t[1]);
    const __m512 q1 = _mm512_permutex2var_ps(t[2], c, t[3]);
    const __m512 q2 = _mm512_permutex2var_ps(t[4], c, t[5]);
    const __m512 q3 = _mm512_permutex2var_ps(t[6], c, t[7]);
    const __mmask16 b5 = _mm512_test_epi32_mask(c, bit5);
    const __m512 low = _mm512_mask_blend_ps(b5, q0, q1);
    const __m512 high = _mm512_mask_blend_ps(b5, q2, q3);
    __m512 v = _mm512_mask_blend_ps(_mm512_test_epi32_mask(c, bit6), low, high);
    v = _mm512_mask_xor_ps(v, _mm512_test_epi32_mask(c, bit7), v, sign);
    _mm512_storeu_ps(dst + i, v);
  }
  for (; i < n; ++i) dst[i] = table[src[i]];
}

}  // namespace cpu
}  // namespace kvattn
#endif
