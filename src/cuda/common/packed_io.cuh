// Vectorized global-memory access for short contiguous runs of elements
// ("fragments"): each fragment moves as the widest accesses its size allows,
// at most 16 bytes each (LDG.128 / STG.128). Callers check alignment on the
// host (see launch_shape.h) before picking a fragment width.
#pragma once
#include <cstdint>

#include <cuda_runtime.h>

namespace kvattn {
namespace cuda {

// Unsigned word of exactly kBytes bytes (the unit of one memory access).
template <int kBytes> struct AccessWord;
template <> struct AccessWord<1> { using type = uint8_t; };
template <> struct AccessWord<2> { using type = uint16_t; };
template <> struct AccessWord<4> { using type = uint32_t; };
template <> struct AccessWord<8> { using type = uint2; };
template <> struct AccessWord<16> { using type = uint4; };

// Bytes per access for a fragment of N elements of T: its size, capped at 16.
template <typename T, int N>
constexpr int fragment_access_bytes() {
  return static_cast<int>(sizeof(T)) * N < 16 ? static_cast<int>(sizeof(T)) * N : 16;
}

// N elements of T, aligned so it can be moved with fragment_access_bytes() words.
template <typename T, int N>
struct alignas(fragment_access_bytes<T, N>()) Fragment {
  T v[N];
};

// Read-only (non-coherent cache) load of N elements at p, which must be aligned
// to fragment_access_bytes<T, N>().
template <typename T, int N>
__device__ __forceinline__ Fragment<T, N> load_fragment(const void* p) {
  constexpr int kAccess = fragment_access_bytes<T, N>();
  constexpr int kCount = static_cast<int>(sizeof(T)) * N / kAccess;
  using Word = typename AccessWord<kAccess>::type;
  Fragment<T, N> f;
  const Word* src = reinterpret_cast<const Word*>(p);
  Word* dst = reinterpret_cast<Word*>(f.v);
#pragma unroll
  for (int i = 0; i < kCount; ++i) dst[i] = __ldg(src + i);
  return f;
}

template <typename T, int N>
__device__ __forceinline__ void store_fragment(void* p, const Fragment<T, N>& f) {
  constexpr int kAccess = fragment_access_bytes<T, N>();
  constexpr int kCount = static_cast<int>(sizeof(T)) * N / kAccess;
  using Word = typename AccessWord<kAccess>::type;
  const Word* src = reinterpret_cast<const Word*>(f.v);
  Word* dst = reinterpret_cast<Word*>(p);
#pragma unroll
  for (int i = 0; i < kCount; ++i) dst[i] = src[i];
}

}  // namespace cuda
}  // namespace kvattn
