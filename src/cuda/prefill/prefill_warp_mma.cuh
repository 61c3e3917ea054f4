// The two warp-level GEMMs of the main loop on m16n8k16 tensor cores:
//   S = Q K^T  (A: this warp's Q rows from smem, B: the K tile, both via ldmatrix)
//   O += P V   (A: P straight from the S accumulators, B: the V tile via ldmatrix.trans)
// Fragment layouts are those of the PTX ISA for mma.m16n8k16: accumulator element e
// of an 8-wide tile sits at row lane/4 (+8 for e >= 2), column 2*(lane%4) + e%2.
#pragma once
#include <cstdint>

#include "cuda/common/ptx.h"

namespace kvattn {
namespace cuda {

// Per-lane byte offsets of the ldmatrix row addresses inside a padded 16-bit tile.
template <class Traits>
struct LaneOffsets {
  // A operand (16x16 of Q): tiles (rows 0-7 | 8-15) x (k 0-7 | 8-15), column-major.
  static __device__ __forceinline__ uint32_t q(int lane) {
    return (lane % 16) * Traits::kRow16Bytes + (lane / 16) * 16;
  }
  // B operand of QK^T for two 8-key tiles: (keys 0-7: d 0-7, d 8-15), (keys 8-15: ...).
  static __device__ __forceinline__ uint32_t k(int lane) {
    return ((lane / 16) * 8 + lane % 8) * Traits::kRow16Bytes + ((lane / 8) % 2) * 16;
  }
  // B operand of PV (transposed) for two 8-wide d tiles: (d 0-7: keys 0-7, 8-15), (d 8-15: ...).
  static __device__ __forceinline__ uint32_t v(int lane) {
    return (lane % 8 + ((lane / 8) % 2) * 8) * Traits::kRow16Bytes + (lane / 16) * 16;
  }
};

// s = Q_warp K_tile^T. q_lane / k_lane: smem addresses with the lane offsets applied.
template <class Traits, class KT>
__device__ __forceinline__ void warp_qk(float (&s)[Traits::kMTiles][Traits::kNTiles][4], uint32_t q_lane,
                                        uint32_t k_lane) {
  constexpr int kRow = Traits::kRow16Bytes;
#pragma unroll
  for (int mt = 0; mt < Traits::kMTiles; ++mt)
#pragma unroll
    for (int nt = 0; nt < Traits::kNTiles; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[mt][nt][e] = 0.0f;

#pragma unroll
  for (int ks = 0; ks < Traits::kHeadDim / 16; ++ks) {
    uint32_t a[Traits::kMTiles][4];
#pragma unroll
    for (int mt = 0; mt < Traits::kMTiles; ++mt) ldmatrix_x4(a[mt], q_lane + mt * 16 * kRow + ks * 32);
#pragma unroll
    for (int np = 0; np < Traits::kNTiles / 2; ++np) {
      uint32_t b[4];
      ldmatrix_x4(b, k_lane + np * 16 * kRow + ks * 32);
#pragma unroll
      for (int mt = 0; mt < Traits::kMTiles; ++mt) {
        MmaOp<KT>::run(s[mt][2 * np], a[mt], b[0], b[1]);
        MmaOp<KT>::run(s[mt][2 * np + 1], a[mt], b[2], b[3]);
      }
    }
  }
}

// o += P V_tile, P = the probabilities in s (rounded to VT).
template <class Traits, class VT>
__device__ __forceinline__ void warp_pv(float (&o)[Traits::kMTiles][Traits::kDTiles][4],
                                        const float (&s)[Traits::kMTiles][Traits::kNTiles][4], uint32_t v_lane) {
  constexpr int kRow = Traits::kRow16Bytes;
#pragma unroll
  for (int kk = 0; kk < Traits::kNTiles / 2; ++kk) {
    uint32_t a[Traits::kMTiles][4];
#pragma unroll
    for (int mt = 0; mt < Traits::kMTiles; ++mt) {
      a[mt][0] = pack2<VT>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
      a[mt][1] = pack2<VT>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
      a[mt][2] = pack2<VT>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
      a[mt][3] = pack2<VT>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
    }
#pragma unroll
    for (int dp = 0; dp < Traits::kHeadDim / 16; ++dp) {
      uint32_t b[4];
      ldmatrix_x4_trans(b, v_lane + kk * 16 * kRow + dp * 32);
#pragma unroll
      for (int mt = 0; mt < Traits::kMTiles; ++mt) {
        MmaOp<VT>::run(o[mt][2 * dp], a[mt], b[0], b[1]);
        MmaOp<VT>::run(o[mt][2 * dp + 1], a[mt], b[2], b[3]);
      }
    }
  }
}

}  // namespace cuda
}  // namespace kvattn
