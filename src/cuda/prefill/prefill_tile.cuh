// Which query rows and keys one prefill CTA covers, decided on the device from
// the grid position (x = sequence * heads + head slot, y = row tile, last tile first so
// that the longest causal tiles start first) and the sequence lengths. Shared by
// the portable and the Hopper prefill kernels.
#pragma once
#include <cstdint>

#include "cuda/common/routing.h"
#include "cuda/prefill/prefill_params.h"
#include "cuda/prefill/prefill_softmax.cuh"

namespace kvattn {
namespace cuda {

struct PrefillTile {
  int h, b;            // query head (GQA-packed: the group's first), sequence
  int q_len, m0;       // the sequence's query length; first row of the tile
  int rows_valid;      // rows of the tile inside the sequence
  int k_row0, kv_len;  // contiguous KV: first row of the sequence (paged: 0); keys of the sequence
  KeyWindow window;
  int key_lo, key_end;  // keys any row of the tile sees: [key_lo, key_end), empty when key_lo >= key_end
  int64_t q_row0;       // token index of the tile's first row
};

// Whether a row tile starting at row m0 of a sequence with q_len queries is the
// prefill family's work: the sequence is not short (left to the decode family
// when p.skip_short_queries) and the tile starts inside its q_len x rows_per_query
// rows (rows_per_query > 1: GQA-packed rows, below).
__device__ __forceinline__ bool prefill_tile_has_rows(const PrefillParams& p, int q_len, int m0,
                                                      int rows_per_query = 1) {
  return !(p.skip_short_queries && is_short_query(q_len)) && int64_t{m0} < int64_t{q_len} * rows_per_query;
}

// The tile at grid position x = sequence * heads + head slot, row tile m_block.
// False when it has nothing to do: its sequence is short (left to the decode
// family when p.skip_short_queries) or its row tile starts past the sequence's rows.
// rows_per_query = 1: the head slot is query head t.h and tile row r is query
// t.m0 + r. rows_per_query = Hq / Hkv (GQA packing, the Hopper kernel's
// hopper_tile.cuh): the head slot is a KV head, t.h its group's first query head,
// and row i of the sequence's q_len x rows_per_query rows is query i / rows_per_query
// of head t.h + i % rows_per_query; t.m0 / t.rows_valid count those rows, the key
// range covers their queries and t.q_row0 is the token of the tile's first row.
__device__ __forceinline__ bool locate_prefill_tile_at(const PrefillParams& p, int block_m, int64_t x, int m_block,
                                                       PrefillTile& t, int rows_per_query = 1) {
  const int heads = p.num_q_heads / rows_per_query;
  t.h = static_cast<int>(x % heads) * rows_per_query;
  t.b = static_cast<int>(x / heads);
  const int q_begin = p.cu_seqlens_q[t.b];
  t.q_len = p.cu_seqlens_q[t.b + 1] - q_begin;
  t.m0 = m_block * block_m;
  if (!prefill_tile_has_rows(p, t.q_len, t.m0, rows_per_query)) return false;
  const int64_t rows = int64_t{t.q_len} * rows_per_query;
  t.rows_valid = static_cast<int>(rows - t.m0 < block_m ? rows - t.m0 : block_m);
  t.k_row0 = p.paged ? 0 : p.cu_seqlens_k[t.b];
  t.kv_len = p.paged ? p.seqused_k[t.b] : p.cu_seqlens_k[t.b + 1] - t.k_row0;
  t.window = KeyWindow{t.kv_len - t.q_len, t.kv_len, p.window_left, p.window_right};
  const int first_query = t.m0 / rows_per_query, last_query = (t.m0 + t.rows_valid - 1) / rows_per_query;
  t.key_lo = t.window.lo(first_query);
  t.key_end = t.window.hi(last_query) + 1;
  t.q_row0 = int64_t{q_begin} + first_query;
  return true;
}

// Whether locate_prefill_tile_at would find rows in row tile m_block of sequence
// b (any head slot), without locating the rest of the tile.
__device__ __forceinline__ bool prefill_sequence_has_rows(const PrefillParams& p, int block_m, int b, int m_block,
                                                          int rows_per_query = 1) {
  return prefill_tile_has_rows(p, p.cu_seqlens_q[b + 1] - p.cu_seqlens_q[b], m_block * block_m, rows_per_query);
}

// This CTA's tile in a grid of one CTA per tile (the last row tile first).
__device__ __forceinline__ bool locate_prefill_tile(const PrefillParams& p, int block_m, PrefillTile& t) {
  return locate_prefill_tile_at(p, block_m, blockIdx.x, gridDim.y - 1 - blockIdx.y, t);
}

}  // namespace cuda
}  // namespace kvattn
