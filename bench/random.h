// Counter-based random numbers: element i of a buffer is a pure function of
// (seed, i), so the host and the device fill buffers the same way, in parallel,
// with no generator state.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define KVATTN_BENCH_HD __host__ __device__
#else
#define KVATTN_BENCH_HD
#endif

namespace kvattn_bench {

// SplitMix64 finalizer: a bijection on 64 bits with good avalanche.
KVATTN_BENCH_HD inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in (0, 1) from 24 bits (never 0, so the log below is finite).
KVATTN_BENCH_HD inline float bits_to_unit(uint64_t bits24) {
  return (static_cast<float>(bits24) + 0.5f) * (1.0f / 16777216.0f);
}

// Standard normal sample number i of stream `seed` (Box-Muller on two 24-bit uniforms).
KVATTN_BENCH_HD inline float hash_normal(uint64_t seed, uint64_t i) {
  const uint64_t h = mix64(mix64(seed) ^ i);
  const float u1 = bits_to_unit(h >> 40);
  const float u2 = bits_to_unit(h & 0xffffffull);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

// Uniform in [lo, hi) for sample i of stream `seed`.
KVATTN_BENCH_HD inline float hash_uniform(uint64_t seed, uint64_t i, float lo, float hi) {
  return lo + (hi - lo) * bits_to_unit(mix64(mix64(seed) ^ i) >> 40);
}

}  // namespace kvattn_bench
