// Kernel-side description of one decode launch: AttentionProblem flattened
// into what the split-KV and combine kernels read (byte strides for KV, the
// packed-row geometry, the workspace views). Built once per call on the host.
#pragma once
#include <cstddef>
#include <cstdint>

#include <vector_types.h>

#include "core/problem.h"

namespace kvattn {
namespace cuda {
namespace decode {

// How KV elements are stored relative to q. 16-bit KV always has q's dtype.
enum class KvKind : int { k16Bit = 0, kE4M3 = 1, kE5M2 = 2 };

// Keys per shared-memory tile: 4 slices of 16 (one mma k-extent each).
constexpr int kTileKeys = 64;
constexpr int kThreads = 128;  // 4 warps
constexpr int kWarps = kThreads / 32;
// Packed rows per CTA: 16 * row_frags with row_frags in {1, 2, 4} (wide
// kernel), or 8 (narrow kernel).
constexpr int kMaxTileRows = 64;
// Upper bound of the run-time pipeline depth (DecodeParams::stages).
constexpr int kMaxStages = 8;

// How the KV tile copies map threads to bytes (DecodeParams::copy_mode).
//  0: a lane pair covers 32 contiguous bytes of one row per cp.async, so one
//     warp instruction touches 16 rows (16 cache lines, one sector each); each
//     thread walks its own row through the block table.
//  1: consecutive lanes cover consecutive 16-byte chunks of a row, so one warp
//     instruction covers whole rows (full 128-byte lines); the per-row byte
//     offsets of a tile are computed once (one block-table read per row) into a
//     small shared-memory table a tile ahead of the copies.
constexpr int kCopyPairs = 0;
constexpr int kCopyRows = 1;

struct DecodeParams {
  int batch = 0;
  int num_q_heads = 0;
  int num_kv_heads = 0;
  int group = 1;       // g = Hq / Hkv
  int rows_bound = 0;  // min(max_seqlen_q, 16) * g: packed rows per (sequence, kv head)
  bool narrow = false;  // 8-row tiles, transposed MMAs (decode_rows_narrow.cuh)
  int row_frags = 1;    // wide kernel: 16-row mma fragments per CTA (1, 2 or 4); narrow: 1
  int row_tiles = 1;    // ceil(rows_bound / tile rows)
  int num_splits = 1;
  // Tuning knobs (decode.cu: defaults, KVATTN_DECODE_VARIANT overrides).
  int copy_mode = kCopyPairs;  // kCopyPairs or kCopyRows
  int stages = 0;              // cp.async ring depth; 0 = the shape's default (DecodeShape::kStages)
  int prefetch = 0;            // L2 prefetch size hint on the KV copies: 0, 64, 128 or 256 bytes

  const void* q = nullptr;
  int64_t q_stride_token = 0, q_stride_head = 0;  // elements

  // KV in bytes: element d of (block/token, head) is at base + ... + d * kv_bytes.
  const uint8_t* k = nullptr;
  const uint8_t* v = nullptr;
  int64_t k_stride_block = 0, k_stride_token = 0, k_stride_head = 0;  // bytes
  int64_t v_stride_block = 0, v_stride_token = 0, v_stride_head = 0;  // bytes
  bool paged = false;
  bool kv_aligned16 = true;  // every KV row start is 16-byte aligned (cp.async path)
  int page_size = 1;
  int tile_pages = 0;  // kTileKeys / page_size: advance of a row's page per tile
  int tile_rem = 0;    // kTileKeys % page_size
  const int32_t* block_table = nullptr;
  int64_t block_table_stride = 0;
  const int32_t* cu_seqlens_q = nullptr;
  const int32_t* cu_seqlens_k = nullptr;
  const int32_t* seqused_k = nullptr;

  DescaleView q_descale, k_descale, v_descale;
  float softmax_scale = 1.0f;
  float softcap = 0.0f;
  int window_left = -1;
  int window_right = -1;

  const void* sinks = nullptr;
  int sinks_dtype = 0;  // 0 fp32, 1 bf16, 2 fp16
  int64_t sinks_stride = 1;

  void* out = nullptr;
  int64_t out_stride_token = 0, out_stride_head = 0;
  float* lse = nullptr;
  int64_t lse_stride_head = 0, lse_stride_token = 0;

  // Split partials, [split][batch][kv head][packed row]: unnormalized fp32
  // output rows of head_dim floats, and (max in log2 units, sum) pairs.
  float* ws_out = nullptr;
  float2* ws_ml = nullptr;
};

}  // namespace decode
}  // namespace cuda
}  // namespace kvattn
