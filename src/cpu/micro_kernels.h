// Small dense kernels of the CPU attention tile, written as plain loops over
// fixed-size accumulator arrays so the compiler keeps the accumulators in
// vector registers. NR (columns per block) is two vectors of the target ISA:
// 8 (SSE), 16 (AVX2), 32 (AVX-512). Rows are flagged in groups of kRowBlock;
// work on a group whose flag in block_active is 0 is skipped.
#pragma once
#include <cstdint>

namespace kvattn {
namespace cpu {

constexpr int64_t kRowBlock = 4;

// C[MR x NR] (+)= A[MR x k] * B[k x NR].
template <int MR, int NR>
inline void micro_gemm(float* __restrict c, int64_t ldc, const float* __restrict a, int64_t lda,
                       const float* __restrict b, int64_t ldb, int64_t k, bool accumulate) {
  float acc[MR][NR];
  for (int r = 0; r < MR; ++r) {
    for (int n = 0; n < NR; ++n) acc[r][n] = accumulate ? c[r * ldc + n] : 0.0f;
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* __restrict brow = b + kk * ldb;
    for (int r = 0; r < MR; ++r) {
      const float av = a[r * lda + kk];
      for (int n = 0; n < NR; ++n) acc[r][n] += av * brow[n];
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (int n = 0; n < NR; ++n) c[r * ldc + n] = acc[r][n];
  }
}

// C[rows x cols] (+)= A[rows x k] * B[k x cols] in MR-row blocks (MR a
// multiple of kRowBlock; rows a multiple of MR, cols of NR). A block runs when
// any of its kRowBlock groups is active.
template <int MR, int NR>
inline void gemm(float* c, int64_t ldc, const float* a, int64_t lda, const float* b, int64_t ldb, int64_t rows,
                 int64_t cols, int64_t k, bool accumulate, const unsigned char* block_active) {
  static_assert(MR % kRowBlock == 0, "MR must be whole row blocks");
  for (int64_t i = 0; i < rows; i += MR) {
    bool active = false;
    for (int64_t blk = i / kRowBlock; blk < (i + MR) / kRowBlock; ++blk) active = active || block_active[blk];
    if (!active) continue;
    for (int64_t j = 0; j < cols; j += NR) {
      micro_gemm<MR, NR>(c + i * ldc + j, ldc, a + i * lda, lda, b + j, ldb, k, accumulate);
    }
  }
}

// S[r][j] = dot(Q[r], K[j]) over `depth` (a multiple of W, the vector width)
// for kRowBlock rows and two keys at a time: K stays row-major, which saves
// transposing it when few rows share a key tile (decode).
template <int W>
inline void dot_scores(float* __restrict s, int64_t lds, const float* __restrict q, int64_t ldq,
                       const float* __restrict k, int64_t ldk, int64_t rows, int64_t keys, int64_t depth,
                       const unsigned char* block_active) {
  for (int64_t i = 0; i < rows; i += kRowBlock) {
    if (!block_active[i / kRowBlock]) continue;
    const float* qb = q + i * ldq;
    for (int64_t j = 0; j < keys; j += 2) {
      const bool pair = j + 1 < keys;
      const float* k0 = k + j * ldk;
      const float* k1 = pair ? k0 + ldk : k0;
      float acc0[kRowBlock][W] = {};
      float acc1[kRowBlock][W] = {};
      for (int64_t d = 0; d < depth; d += W) {
        for (int r = 0; r < kRowBlock; ++r) {
          for (int w = 0; w < W; ++w) {
            acc0[r][w] += qb[r * ldq + d + w] * k0[d + w];
            acc1[r][w] += qb[r * ldq + d + w] * k1[d + w];
          }
        }
      }
      for (int r = 0; r < kRowBlock; ++r) {
        float sum0 = 0.0f, sum1 = 0.0f;
        for (int w = 0; w < W; ++w) {
          sum0 += acc0[r][w];
          sum1 += acc1[r][w];
        }
        s[(i + r) * lds + j] = sum0;
        if (pair) s[(i + r) * lds + j + 1] = sum1;
      }
    }
  }
}

}  // namespace cpu
}  // namespace kvattn
