// Host rule for GQA packing in the Hopper prefill kernel (hopper_tile.cuh): pack
// the Hq / Hkv query heads of a KV head into one tile's rows when that fills the
// 128-row tiles clearly better than one head per tile -- short chunks (q_len <=
// 64 with 4:1 GQA fill a tile only when packed). Long rows gain nothing from it
// (the same tiles and K/V traffic), so they stay unpacked. max_seqlen_q is the
// host bound; the lengths themselves are never read on the host.
#pragma once
#include <cstdint>

namespace kvattn {
namespace cuda {
namespace hopper {

// Share of a tile's rows that hold queries when rows rows fill ceil(rows / block_m) tiles.
inline double tile_fill(int64_t rows, int block_m) {
  const int64_t tiles = (rows + block_m - 1) / block_m;
  return tiles > 0 ? static_cast<double>(rows) / static_cast<double>(tiles * block_m) : 1.0;
}

// Rows per query of a launch: group_size when packed, else 1. force: -1 the rule
// (pack when unpacked tiles are under 90% as full as packed ones, FlashAttention-3's
// criterion), 0 never, 1 whenever group_size > 1 (KVATTN_HOPPER_PACK_GQA).
inline int hopper_rows_per_query(int64_t max_seqlen_q, int group_size, int block_m, int force) {
  if (group_size <= 1 || force == 0) return 1;
  if (force == 1) return group_size;
  const double unpacked = tile_fill(max_seqlen_q, block_m);
  const double packed = tile_fill(max_seqlen_q * group_size, block_m);
  return unpacked < 0.9 * packed ? group_size : 1;
}

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
