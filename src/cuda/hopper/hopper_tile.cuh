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

// Whether row tile m_block of sequence b has rows for this kernel (see
// prefill_tile_has_rows; packed rows count pack per query).
__device__ __forceinline__ bool hopper_sequence_has_rows(const HopperParams& hp, int block_m, int b, int m_block) {
  const PrefillParams& p = hp.p;
  const int q_len = p.cu_seqlens_q[b + 1] - p.cu_seqlens_q[b];
  return !(p.skip_short_queries && is_short_query(q_len)) && int64_t{m_block} * block_m < int64_t{q_len} * hp.pack;
}

// The tile at head slot x (= sequence * heads + head slot) and row tile m_block;
// false when it has no rows. In packed mode t.h is the group's first query head
// (t.h / group_size is still the KV head), t.m0 / t.rows_valid count packed rows,
// and the key range covers the queries of those rows.
__device__ __forceinline__ bool locate_hopper_tile(const HopperParams& hp, int block_m, int64_t x, int m_block,
                                                   PrefillTile& t, RowMap& rows) {
  const PrefillParams& p = hp.p;
  if (hp.pack == 1) {
    if (!locate_prefill_tile_at(p, block_m, x, m_block, t)) return false;
    rows = RowMap{t.q_row0 - t.m0, t.m0, 1, t.h};
    return true;
  }
  const int hk = static_cast<int>(x % hp.heads);
  t.b = static_cast<int>(x / hp.heads);
  t.h = hk * p.group_size;
  const int q_begin = p.cu_seqlens_q[t.b];
  t.q_len = p.cu_seqlens_q[t.b + 1] - q_begin;
  t.m0 = m_block * block_m;
  const int64_t packed_rows = int64_t{t.q_len} * hp.pack;
  if ((p.skip_short_queries && is_short_query(t.q_len)) || t.m0 >= packed_rows) return false;
  t.rows_valid = static_cast<int>(packed_rows - t.m0 < block_m ? packed_rows - t.m0 : block_m);
  t.k_row0 = p.paged ? 0 : p.cu_seqlens_k[t.b];
  t.kv_len = p.paged ? p.seqused_k[t.b] : p.cu_seqlens_k[t.b + 1] - t.k_row0;
  t.window = KeyWindow{t.kv_len - t.q_len, t.kv_len, p.window_left, p.window_right};
  rows = RowMap{int64_t{q_begin}, t.m0, hp.pack, t.h};
  t.key_lo = t.window.lo(rows.query(0));
  t.key_end = t.window.hi(rows.query(t.rows_valid - 1)) + 1;
  t.q_row0 = rows.token(0);
  return true;
}

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
