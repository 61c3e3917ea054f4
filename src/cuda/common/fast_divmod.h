// Division by a divisor known only at run time but fixed for a whole launch
// (page size): one multiply-high, one add and one shift instead of the ~20
// instructions of a generic integer division. Granlund & Montgomery,
// "Division by invariant integers using multiplication" (1994).
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define KVATTN_HOST_DEVICE __host__ __device__
#else
#define KVATTN_HOST_DEVICE
#endif

namespace kvattn {
namespace cuda {

struct FastDivmod {
  uint32_t divisor = 1;
  uint32_t multiplier = 0;
  uint32_t shift = 0;

  FastDivmod() = default;
  // divisor >= 1. Quotients are exact for dividends in [0, 2^31).
  explicit FastDivmod(uint32_t d) : divisor(d) {
    while ((uint64_t{1} << shift) < d) ++shift;  // shift = ceil(log2(d))
    multiplier = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << shift) - d)) / d + 1);
  }

  KVATTN_HOST_DEVICE inline uint32_t div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
    const uint32_t hi = __umulhi(n, multiplier);
#else
    const uint32_t hi = static_cast<uint32_t>((uint64_t{n} * multiplier) >> 32);
#endif
    return (hi + n) >> shift;
  }
  KVATTN_HOST_DEVICE inline void divmod(uint32_t n, uint32_t& quotient, uint32_t& remainder) const {
    quotient = div(n);
    remainder = n - quotient * divisor;
  }
};

}  // namespace cuda
}  // namespace kvattn
