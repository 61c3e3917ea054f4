// Tile shapes of the portable prefill kernel, per head dim, and the shared-memory
// layout they imply. Compile-time because they fix register and smem layout.
#pragma once
#include <cstdint>

namespace kvattn {
namespace cuda {

// A tile shape: kWarps warps, each owning kMTiles x 16 query rows of the
// kBlockM-row tile, over KV tiles of kBlockN keys.
template <int kHeadDim_, int kWarps_, int kMTiles_, int kBlockN_, int kMinBlocksPerSm_>
struct PrefillShape {
  static constexpr int kHeadDim = kHeadDim_, kWarps = kWarps_, kMTiles = kMTiles_, kBlockN = kBlockN_;
  static constexpr int kMinBlocksPerSm = kMinBlocksPerSm_;
};

// The shape each head dim runs with.
// D 64/96: 4 warps x 2 row tiles, so each K/V fragment read from shared memory
// feeds two MMAs (the O accumulator is 2 x D/2 fp32 registers per thread).
// D 128: 8 warps x 1 row tile, <= 128 registers so two CTAs (16 warps) share an
// SM; on an H100 it beat 4 x 2 (BN 64 or 32) and 8 x 1 with BN 128 for both bf16
// and FP8 KV (4 x 8192 causal prefill, tests/gpu/test_prefill_kernel.cu --bench).
// D >= 192: 8 warps x 1 row tile (two would not fit in registers).
template <int kHeadDim>
struct DefaultPrefillShape;
template <>
struct DefaultPrefillShape<64> : PrefillShape<64, 4, 2, 64, 2> {};
template <>
struct DefaultPrefillShape<96> : PrefillShape<96, 4, 2, 32, 2> {};
template <>
struct DefaultPrefillShape<128> : PrefillShape<128, 8, 1, 64, 2> {};
template <>
struct DefaultPrefillShape<192> : PrefillShape<192, 8, 1, 64, 1> {};
template <>
struct DefaultPrefillShape<256> : PrefillShape<256, 8, 1, 32, 1> {};

// Everything the kernel derives from (head dim, KV storage width).
template <class Shape, bool kFp8Kv_>
struct PrefillTraits : Shape {
  static constexpr int kHeadDim = Shape::kHeadDim;
  static constexpr bool kFp8Kv = kFp8Kv_;
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

  // Shared memory: Q | K stages x2 | V stages x2 | [fp8: widened K | widened V] | row table x2.
  static constexpr int kQBytes = kBlockM * kRow16Bytes;
  static constexpr int kStageBytes = Shape::kBlockN * kStageRowBytes;
  static constexpr int kWideBytes = Shape::kBlockN * kRow16Bytes;
  static constexpr int kOffQ = 0;
  static constexpr int kOffK = kOffQ + kQBytes;
  static constexpr int kOffV = kOffK + 2 * kStageBytes;
  static constexpr int kOffKWide = kOffV + 2 * kStageBytes;
  static constexpr int kOffVWide = kOffKWide + (kFp8Kv ? kWideBytes : 0);
  static constexpr int kOffRows = kOffVWide + (kFp8Kv ? kWideBytes : 0);
  static constexpr int kSmemBytes = kOffRows + 2 * Shape::kBlockN * 16;

  static_assert(kHeadDim % 16 == 0, "head dim must be whole 16-wide MMA steps");
  static_assert(Shape::kBlockN % 16 == 0, "KV tile must hold whole 16-key MMA steps");
  static_assert(Shape::kBlockN <= kThreads, "one thread per row of the row table");
};

}  // namespace cuda
}  // namespace kvattn
