// Small device helpers of the decode kernel on top of cuda/common/ptx.h (cp.async,
// mma.sync, packing): prefetch-hinted copies, run-time waits, shared-memory vector
// loads, fp8 -> fp16 widening with the sm_80 descale fold.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/common/ptx.h"
#include "cuda/decode/decode_params.h"

namespace kvattn {
namespace cuda {
namespace decode {

// A 16-byte cp.async (src_bytes = 0 writes zeros) with an L2 prefetch-size hint
// (kPrefetch 64, 128 or 256 bytes; 0 = none):
// the L2 fetches the whole aligned region on a miss, so a warp instruction
// that touches only one sector of a line still brings the line in at once.
template <int kPrefetch>
__device__ __forceinline__ void cp_async_16_pf(void* dst, const void* src, int src_bytes) {
  if constexpr (kPrefetch == 64) {
    asm volatile("cp.async.cg.shared.global.L2::64B [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(src_bytes));
  } else if constexpr (kPrefetch == 128) {
    asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(src_bytes));
  } else if constexpr (kPrefetch == 256) {
    asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(src_bytes));
  } else {
    cp_async_16(smem_addr(dst), src, src_bytes);
  }
}
// cp.async.wait_group for a run-time count (an immediate in PTX); waiting for
// fewer pending groups than asked is always safe, so large counts clamp down.
__device__ __forceinline__ void cp_async_wait_dyn(int pending) {
  switch (pending) {
    case 6: cp_async_wait_group<6>(); break;
    case 5: cp_async_wait_group<5>(); break;
    case 4: cp_async_wait_group<4>(); break;
    case 3: cp_async_wait_group<3>(); break;
    case 2: cp_async_wait_group<2>(); break;
    case 1: cp_async_wait_group<1>(); break;
    default: cp_async_wait_group<0>(); break;
  }
}

// Loads kBytes (16, 8 or 4 per access, kBytes a multiple of the access) from
// shared memory into 32-bit words.
template <int kBytes, int kAccess>
__device__ __forceinline__ void lds(uint32_t (&dst)[kBytes / 4], const uint8_t* src) {
  static_assert(kBytes % kAccess == 0, "access must divide the run");
#pragma unroll
  for (int i = 0; i < kBytes / kAccess; ++i) {
    if constexpr (kAccess == 16) {
      const uint4 v = *reinterpret_cast<const uint4*>(src + 16 * i);
      dst[4 * i] = v.x, dst[4 * i + 1] = v.y, dst[4 * i + 2] = v.z, dst[4 * i + 3] = v.w;
    } else if constexpr (kAccess == 8) {
      const uint2 v = *reinterpret_cast<const uint2*>(src + 8 * i);
      dst[2 * i] = v.x, dst[2 * i + 1] = v.y;
    } else {
      dst[i] = *reinterpret_cast<const uint32_t*>(src + 4 * i);
    }
  }
}

// Widens four fp8 codes (bytes 0..3 of w) to two f16x2 words: lo from bytes
// 0,1 and hi from bytes 2,3 (lower byte -> lower half). Exact: every e4m3 and
// e5m2 value is an fp16 value. On sm_80..sm_88 (no fp8 cvt) e4m3 is widened by
// moving its bits into an fp16 pattern, which yields the value times 2^-8 for
// every finite code (subnormals included); kv_widen_scale() gives the factor
// back and the kernel folds it into the descales. There, e4m3 NaN reads as a
// finite number.
template <KvKind K>
__device__ __forceinline__ void widen_fp8x4(uint32_t w, uint32_t& lo, uint32_t& hi) {
  if constexpr (K == KvKind::kE5M2) {
    // e5m2 is the top byte of the fp16 with the same value.
    lo = __byte_perm(w, 0u, 0x1404);
    hi = __byte_perm(w, 0u, 0x3424);
  } else {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    asm("{\n .reg .b16 l, h;\n mov.b32 {l, h}, %2;\n cvt.rn.f16x2.e4m3x2 %0, l;\n cvt.rn.f16x2.e4m3x2 %1, h;\n}\n"
        : "=r"(lo), "=r"(hi)
        : "r"(w));
#else
    // s.eeee.mmm -> s.0eeee.mmm0000000: sign to bit 15, the rest shifted by 7.
    const uint32_t a = __byte_perm(w, 0u, 0x4140);  // bytes 0,1 -> bits 0..7, 16..23
    const uint32_t b = __byte_perm(w, 0u, 0x4342);  // bytes 2,3
    lo = ((a & 0x00800080u) << 8) | ((a & 0x007f007fu) << 7);
    hi = ((b & 0x00800080u) << 8) | ((b & 0x007f007fu) << 7);
#endif
  }
}

// Factor that turns widened KV values back into the stored values (see widen_fp8x4).
template <KvKind K>
__device__ __forceinline__ float kv_widen_scale() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  return 1.0f;
#else
  return K == KvKind::kE4M3 ? 256.0f : 1.0f;
#endif
}

template <typename T>
__device__ __forceinline__ float to_float(T x) {
  if constexpr (std::is_same<T, __half>::value) {
    return __half2float(x);
  } else {
    return __bfloat162float(x);
  }
}
template <typename T>
__device__ __forceinline__ T from_float(float x) {
  if constexpr (std::is_same<T, __half>::value) {
    return __float2half_rn(x);
  } else {
    return __float2bfloat16_rn(x);
  }
}

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// Attention sink logit for query head h (fp32, bf16 or fp16 storage).
__device__ __forceinline__ float load_sink(const DecodeParams& p, int h) {
  const int64_t i = static_cast<int64_t>(h) * p.sinks_stride;
  if (p.sinks_dtype == 0) return static_cast<const float*>(p.sinks)[i];
  if (p.sinks_dtype == 1) return __bfloat162float(static_cast<const __nv_bfloat16*>(p.sinks)[i]);
  return __half2float(static_cast<const __half*>(p.sinks)[i]);
}

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Final softmax normalisation of one row (S3, S4). m: running max in log2
// units (-inf when the row saw no key), l: sum of exp2(s - m). Returns the
// factor for the unnormalized output and writes the natural-log LSE.
__device__ __forceinline__ float finalize_row(const DecodeParams& p, int h, float m, float l, float& lse) {
  if (m == -INFINITY || !(l > 0.0f)) {  // no visible key: zeros and -inf, sink or not
    lse = -INFINITY;
    return 0.0f;
  }
  float m_all = m;
  float sink_term = 0.0f;
  if (p.sinks != nullptr) {
    const float sink2 = load_sink(p, h) * kLog2e;
    m_all = fmaxf(m, sink2);
    sink_term = exp2f(sink2 - m_all);
  }
  const float keep = exp2f(m - m_all);
  const float total = l * keep + sink_term;
  lse = (m_all + log2f(total)) * kLn2;
  return __fdividef(keep, total);  // total >= 1: the max term contributes exp2(0)
}

}  // namespace decode
}  // namespace cuda
}  // namespace kvattn
