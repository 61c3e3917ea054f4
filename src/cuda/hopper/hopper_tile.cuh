// Work tiles of the Hopper prefill kernel and the rows they hold.
//
// A work tile is (sequence b, head slot x % heads, row tile). Unpacked, the head
// slot is a query head and row r of the tile is query m0 + r of that head. With
// GQA packing (pack = Hq / Hkv), the head slot is a KV head and the tile's rows
// are "packed rows" m0 + r of the sequence: packed row i is query i / pack of
// query head hk * pack + i % pack. A short chunk (q_len * pack <= 128, e.g. 32
// queries of 4 heads) then fills one 128-row tile instead of four quarter-full
// ones, and its K/V tiles are loaded once for the whole group.
#pragma once
#include <cstdint>

#include "cuda/hopper/hopper_params.h"
#include "cuda/prefill/prefill_tile.cuh"

namespace kvattn {
namespace cuda {
namespace hopper {

// Row r of a work tile -> (query row of the sequence, token, query head).
struct RowMap {
  int64_t token0;  // token index of the sequence's query 0
  int m0;          // first (packed) row of the tile
  int pack;        // rows per query: 1 unpacked, Hq / Hkv packed
  int head0;       // query head of packed row 0 (unpacked: the tile's head)

  __host__ __device__ __forceinline__ int query(int r) const { return pack == 1 ? m0 + r : (m0 + r) / pack; }
  __host__ __device__ __forceinline__ int64_t token(int r) const { return token0 + query(r); }
  __host__ __device__ __forceinline__ int head(int r) const { return pack == 1 ? head0 : head0 + (m0 + r) % pack; }
};

// The tile at head slot x (= sequence * heads + head slot) and row tile m_block
// (locate_prefill_tile_at with hp.pack rows per query), and its row map.
__device__ __forceinline__ bool locate_hopper_tile(const HopperParams& hp, int block_m, int64_t x, int m_block,
                                                   PrefillTile& t, RowMap& rows) {
  if (!locate_prefill_tile_at(hp.p, block_m, x, m_block, t, hp.pack)) return false;
  rows = RowMap{t.q_row0 - t.m0 / hp.pack, t.m0, hp.pack, t.h};  // token0: the sequence's query 0
  return true;
}

// A work tile as the producer found it, handed to the consumers in shared memory
// (kTileSlots slots, hopper_pipeline.cuh): the consumers neither walk the schedule
// nor look tiles up in global memory (both on their critical path between work
// tiles: ~2400 cycles per tile, docs/perf-notes.md), and read the fields again
// where they need them instead of holding them across the KV-tile loop.
struct TileSlot {
  PrefillTile tile;
  RowMap rows;
  int v;   // work tile; -1: no more
  int ok;  // next_tile found rows (else the tile is skipped by both sides)
};

// Work tile v (of m_blocks x num_bh): row tile m_blocks - 1 - v / num_bh of head
// slot v % num_bh, so the longest causal row tiles come first.
__device__ __forceinline__ bool next_tile(const HopperParams& hp, int block_m, int v, PrefillTile& tile,
                                          RowMap& rows) {
  const int m_block = hp.m_blocks - 1 - v / hp.num_bh;
  return locate_hopper_tile(hp, block_m, v % hp.num_bh, m_block, tile, rows);
}

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
