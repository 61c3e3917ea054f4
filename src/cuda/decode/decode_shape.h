// Compile-time geometry of the split-KV decode kernel for one (head dim, KV
// element size): shared-memory row pitches, pipeline depth, per-thread load
// widths. Host code uses smem_bytes() to size the launch.
#pragma once
#include "cuda/decode/decode_params.h"

namespace kvattn {
namespace cuda {
namespace decode {

// Largest of 16, 8, 4 that divides n (the widest shared-memory access that
// keeps every per-thread run aligned).
constexpr int widest_access(int n) { return n % 16 == 0 ? 16 : (n % 8 == 0 ? 8 : 4); }
constexpr int clamp_int(int x, int lo, int hi) { return x < lo ? lo : (x > hi ? hi : x); }
constexpr int max_int(int a, int b) { return a > b ? a : b; }

// Shared memory of an SM (sm_90) and what the hardware keeps of it per resident CTA.
constexpr int kSmemPerSm = 228 * 1024;
constexpr int kSmemReservedPerCta = 1024;

// CTAs per SM the launch bounds promise (the ring depths below let shared memory
// hold as many); the split heuristic fills the last wave at 2 and at 4. The
// narrow kernel with fp8 KV (up to D 128) asks for 4 (<= 128 registers, no
// spills); with 16-bit KV its ring leaves room for 3 at most, and 3 (168
// registers) spilled.
constexpr int decode_min_blocks_per_sm(int head_dim, bool narrow = false, int kv_bytes = 1) {
  return narrow && head_dim <= 128 && kv_bytes == 1 ? 4 : 2;
}

template <int D, int KvBytes>
struct DecodeShape {
  static_assert(D % 32 == 0, "head dim must be a multiple of 32");
  // One K or V row in shared memory; the 16-byte pad spreads the rows that a
  // quarter-warp reads together over all banks.
  static constexpr int kRowBytes = D * KvBytes;
  static constexpr int kRowPitch = kRowBytes + 16;
  static constexpr int kChunksPerRow = kRowBytes / 16;  // 16-byte cp.async chunks
  static_assert(kChunksPerRow % 2 == 0 && kThreads == 2 * kTileKeys, "two copying threads per row");
  static constexpr int kStageBytes = 2 * kTileKeys * kRowPitch;  // K tile + V tile
  // As many stages as fit ~106 KB, so that two CTAs share an SM and keep
  // ~100 KB of loads in flight per SM, which is what saturates HBM.
  static constexpr int kStages = clamp_int(106 * 1024 / kStageBytes, 2, 6);

  // QK^T: lane (row r, column c = lane % 4) owns head-dim elements
  // [c * D/4, (c+1) * D/4) of every K row it reads (the same columns of Q).
  static constexpr int kKBytesPerThread = D / 4 * KvBytes;
  static constexpr int kKLoad = widest_access(kKBytesPerThread);
  static constexpr int kKStepsPerLoad = kKLoad / KvBytes / 4;  // 4 elements per mma k-step
  // P.V: lane (i = lane / 4) owns output elements [i * D/8, (i+1) * D/8).
  static constexpr int kVBytesPerThread = D / 8 * KvBytes;
  static constexpr int kVLoad = widest_access(kVBytesPerThread);

  static constexpr int kQPitch = (D + 8) * 2;  // bytes, 16-bit Q rows
  static constexpr int kRedPitch = D + 4;      // floats, cross-warp reduction rows
  static constexpr int kRedBytes = kWarps * 16 * kRedPitch * 4;
  // kCopyRows: per stage, int64 byte offsets of the tile's K rows then V rows.
  static constexpr int kTableBytes = 2 * kTileKeys * 8;

  // Shared-memory map for a run-time ring depth (offsets in bytes, each
  // 16-aligned): KV ring (reused for the cross-warp reduction), float2 m/l
  // [4][16], float row scales [64], the Q tile of q_rows rows, then (kCopyRows
  // only) the per-stage row-offset tables.
  static constexpr int kv_region(int stages) { return max_int(stages * kStageBytes, kRedBytes); }
  static constexpr int ml_offset(int stages) { return kv_region(stages); }
  static constexpr int row_scale_offset(int stages) { return ml_offset(stages) + kWarps * 16 * 8; }
  static constexpr int q_offset(int stages) { return row_scale_offset(stages) + kMaxTileRows * 4; }
  static constexpr int table_offset(int stages, int q_rows) { return q_offset(stages) + q_rows * kQPitch; }
  static constexpr int smem_bytes(int q_rows, int stages, int copy_mode) {
    return table_offset(stages, q_rows) + (copy_mode == kCopyRows ? stages * kTableBytes : 0);
  }
  static constexpr bool narrow_fits_four(int stages) {
    return 4 * (smem_bytes(8, stages, kCopyRows) + kSmemReservedPerCta) <= kSmemPerSm;
  }
  // Ring depth of the narrow (8-row) kernel. Where its launch bounds ask for four
  // CTAs per SM (FP8 up to D 128: more warps to hide the latency of each warp's
  // dependent MMA / softmax chain), the deepest ring with which four really fit;
  // the split heuristic counts its waves with four (decode.cu). Else as many
  // stages as fit ~58 KB.
  static constexpr int narrow_stages() {
    if (decode_min_blocks_per_sm(D, /*narrow=*/true, KvBytes) == 4) {
      int s = 6;
      while (s > 2 && !narrow_fits_four(s)) --s;
      return s;
    }
    return clamp_int(58 * 1024 / kStageBytes, 2, 6);
  }
  // Deepest ring that fits the 227 KB per-CTA opt-in limit in every mode.
  static constexpr int max_stages() {
    int s = kMaxStages;
    while (s > 2 && smem_bytes(kMaxTileRows, s, kCopyRows) > 227 * 1024) --s;
    return s;
  }
  static_assert(smem_bytes(kMaxTileRows, 2, kCopyRows) <= 227 * 1024, "two stages must fit");
};

// Four narrow FP8 CTAs share an SM at every head dim whose launch bounds promise it.
static_assert(DecodeShape<64, 1>::narrow_fits_four(DecodeShape<64, 1>::narrow_stages()) &&
                  DecodeShape<96, 1>::narrow_fits_four(DecodeShape<96, 1>::narrow_stages()) &&
                  DecodeShape<128, 1>::narrow_fits_four(DecodeShape<128, 1>::narrow_stages()),
              "narrow FP8 ring too deep for four CTAs per SM");

}  // namespace decode
}  // namespace cuda
}  // namespace kvattn
