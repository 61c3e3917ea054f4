// Tile shapes of the portable prefill kernel, per head dim, and the shared-memory
// layout they imply. Compile-time because they fix register and smem layout.
#pragma once
#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace kvattn {
namespace cuda {

// Where the FP8 -> fp16 widening of K/V tiles runs (FP8 KV only).
enum WidenPlacement : int {
  kWidenOwnPhase = 0,    // tile j widened after its copy lands, then a second barrier
  kWidenBefore = 1,      // tile j+1 widened before tile j's math (one barrier, 2 widened buffers)
  kWidenAfterQk = 2,     // tile j+1 widened between tile j's QK^T and softmax: its smem loads
                         // and converts issue while that warp's QK^T MMAs are in flight
};

// A tile shape: kWarps warps, each owning kMTiles x 16 query rows of the
// kBlockM-row tile, over KV tiles of kBlockN keys; kWiden: a WidenPlacement.
template <int kHeadDim_, int kWarps_, int kMTiles_, int kBlockN_, int kMinBlocksPerSm_, int kWiden_ = kWidenOwnPhase>
struct PrefillShape {
  static constexpr int kHeadDim = kHeadDim_, kWarps = kWarps_, kMTiles = kMTiles_, kBlockN = kBlockN_;
  static constexpr int kMinBlocksPerSm = kMinBlocksPerSm_;
  static constexpr int kWiden = kWiden_;
};

// The shape each head dim runs with.
// D 64/96: 4 warps x 2 row tiles, so each K/V fragment read from shared memory
// feeds two MMAs (the O accumulator is 2 x D/2 fp32 registers per thread).
// D 128: 8 warps x 2 row tiles (256 query rows, one CTA per SM, 255 registers):
// half the K/V ldmatrix traffic per MMA of 8 x 1 and the per-tile copy/widening
// spread over twice the rows. On an H100 (4 x 8192 causal, random data, median of
// interleaved rounds) it beat 8 x 1 BN64 (two CTAs per SM), 4 x 2 and 16 x 1 for
// bf16 and FP8 KV. FP8: widening one tile ahead before the QK^T (one barrier per
// tile, no spills); widening after the QK^T spilled and lost 4% with bf16 q
// (docs/perf-notes.md).
// D >= 192: 8 warps x 1 row tile (two would not fit in registers), one CTA per
// SM, so FP8 widens ahead too (smem: D192 ~201 KB, D256 ~167 KB; no spills).
template <int kHeadDim>
struct DefaultPrefillShape;
template <>
struct DefaultPrefillShape<64> : PrefillShape<64, 4, 2, 64, 2> {};
template <>
struct DefaultPrefillShape<96> : PrefillShape<96, 4, 2, 32, 2> {};
template <>
struct DefaultPrefillShape<128> : PrefillShape<128, 8, 2, 64, 1, kWidenBefore> {};
template <>
struct DefaultPrefillShape<192> : PrefillShape<192, 8, 1, 64, 1, kWidenAfterQk> {};
template <>
struct DefaultPrefillShape<256> : PrefillShape<256, 8, 1, 32, 1, kWidenAfterQk> {};

// The fallback for devices whose opt-in shared memory per block is below what the
// default shape needs (sm_80: 163 KB, sm_86/89: 99 KB; the FP8 defaults for D >= 128
// take 167-201 KB): the previous shapes, widening in its own phase.
template <int kHeadDim>
struct CompactPrefillShape : DefaultPrefillShape<kHeadDim> {};
template <>
struct CompactPrefillShape<128> : PrefillShape<128, 8, 1, 64, 2> {};
template <>
struct CompactPrefillShape<192> : PrefillShape<192, 8, 1, 64, 1> {};
template <>
struct CompactPrefillShape<256> : PrefillShape<256, 8, 1, 32, 1> {};

// How the KV cache stores elements: the q dtype, or an FP8 format. A compile-time
// kernel parameter so that the widening pass has no format branch (registers).
enum class KvStore : int { k16Bit, kE4M3, kE5M2 };

// Everything the kernel derives from (shape, q dtype, KV storage).
template <class Shape, class QT, KvStore kKvStore_>
struct PrefillTraits : Shape {
  static constexpr int kHeadDim = Shape::kHeadDim;
  static constexpr KvStore kKvStore = kKvStore_;
  static constexpr bool kFp8Kv = kKvStore != KvStore::k16Bit;
  static constexpr int kWiden = kFp8Kv ? Shape::kWiden : kWidenOwnPhase;
  static constexpr bool kWidenAhead = kWiden != kWidenOwnPhase;
  // FP8 KV multiplies in fp16 on both sides (e4m3/e5m2 -> fp16 is one cvt or one
  // byte permute per two values; -> bf16 would take four instructions). A bf16 q
  // is rewritten once per CTA as fp16 times 2^c per row (kQToHalf), c chosen so
  // the row's largest |q| lands in [2^14, 2^15): exact except for elements below
  // 2^-31 of that max; the 2^-c is folded into the row's logit scale.
  static constexpr bool kQToHalf = kFp8Kv && std::is_same<QT, __nv_bfloat16>::value;
  using KT = std::conditional_t<kFp8Kv, __half, QT>;  // QK^T operand type (Q as multiplied, K)
  using VT = KT;                                      // PV operand type (P, V)

  static constexpr int kThreads = Shape::kWarps * 32;
  static constexpr int kWarpRows = Shape::kMTiles * 16;
  static constexpr int kBlockM = Shape::kWarps * kWarpRows;
  static constexpr int kNTiles = Shape::kBlockN / 8;  // 8-key MMA tiles per KV tile
  static constexpr int kDTiles = kHeadDim / 8;        // 8-wide MMA tiles of the output

  // 16-bit tiles (Q, O staging, K/V as the MMAs read them): rows padded by 16 bytes so
  // that ldmatrix's eight rows fall in eight different bank groups (D/8 + 1 is odd).
  static constexpr int kRow16Bytes = kHeadDim * 2 + 16;
  // KV tiles as copied from global memory: fp8 rows are packed (read back linearly by
  // the widening pass); 16-bit rows are the padded rows the MMAs read directly.
  static constexpr int kKvElemBytes = kFp8Kv ? 1 : 2;
  static constexpr int kStageRowBytes = kFp8Kv ? kHeadDim : kRow16Bytes;
  static constexpr int kStageChunks = kHeadDim * kKvElemBytes / 16;  // 16-byte copies per KV row

  // Shared memory: Q | K stages x2 | V stages x2 | [fp8: widened K x n | widened V x n]
  // | row table x2 | [kQToHalf: per-row logit factors].
  static constexpr int kWideStages = kFp8Kv ? (kWidenAhead ? 2 : 1) : 0;
  static constexpr int kQBytes = kBlockM * kRow16Bytes;
  static constexpr int kStageBytes = Shape::kBlockN * kStageRowBytes;
  static constexpr int kWideBytes = Shape::kBlockN * kRow16Bytes;
  static constexpr int kOffQ = 0;
  static constexpr int kOffK = kOffQ + kQBytes;
  static constexpr int kOffV = kOffK + 2 * kStageBytes;
  static constexpr int kOffKWide = kOffV + 2 * kStageBytes;
  static constexpr int kOffVWide = kOffKWide + kWideStages * kWideBytes;
  static constexpr int kOffRows = kOffVWide + kWideStages * kWideBytes;
  static constexpr int kOffRowScale = kOffRows + 2 * Shape::kBlockN * 16;
  static constexpr int kSmemBytes = kOffRowScale + (kQToHalf ? kBlockM * 4 : 0);

  static_assert(kHeadDim % 16 == 0, "head dim must be whole 16-wide MMA steps");
  static_assert(Shape::kBlockN % 16 == 0, "KV tile must hold whole 16-key MMA steps");
  static_assert(Shape::kBlockN <= kThreads, "one thread per row of the row table");
  static_assert(kThreads % kBlockM == 0, "whole threads per Q row (the Q rewrite pass)");
};

}  // namespace cuda
}  // namespace kvattn
