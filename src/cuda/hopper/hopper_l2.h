// Host rule for the L2 sections of the Hopper kernel's persistent walk
// (hopper_kernel.cuh, WorkWalk): how many head slots the CTAs work on together, so
// that the K/V those heads read stays in L2 while every row tile of theirs passes.
// Over all heads at once (one section) the CTAs at work together stream the K/V of
// every sequence and KV head, more than L2 holds: prefill_4x8k (134 MB of bf16 K/V)
// read 4.25 GB from HBM where SDPA cuDNN read 0.40 (ncu, docs/perf-notes.md session 14).
#pragma once
#include <algorithm>
#include <cstdint>

namespace kvattn {
namespace cuda {
namespace hopper {

// Row tiles of one head slot that surely exist: the query rows that cannot belong to
// short (decode-family) sequences, total_q - batch x short_max (host values), over
// the tile height; 0 when decode rows may make up all of total_q. An underestimate on
// purpose: it sets the smallest section the rule below allows.
inline int64_t hopper_sure_row_tiles(int64_t total_q, int64_t batch, int short_max, int pack, int block_m) {
  const int64_t long_rows = total_q - batch * short_max;
  return long_rows > 0 ? long_rows * pack / block_m : 0;
}

// Head slots per section (>= 1; heads = one section): as many KV heads' K/V as fit
// in half of L2 (batch x max_seqlen_k rows of K and V each, host bounds), rounded
// to whole KV heads (head slots per KV head: group_size unpacked, 1 packed) -- but
// at least enough for 4 waves of tiles (tiles_per_slot: hopper_sure_row_tiles),
// because the walk is longest-first only within a section:
// small sections put long tiles of later sections behind short ones (a 2k chunk
// among 128 decodes, 8 sections of 68 tiles for 132 CTAs: +13-22%, session 14).
// force: -1 the rule, 0 one section (all heads), 1 one KV head per section
// (KVATTN_HOPPER_L2_SECTIONS).
inline int hopper_l2_section_heads(int64_t batch, int64_t max_seqlen_k, int head_dim, int kv_elem_bytes,
                                   int heads, int slots_per_kv_head, int64_t l2_bytes, int64_t tiles_per_slot,
                                   int64_t ctas, int force) {
  if (force == 0 || heads <= slots_per_kv_head) return std::max(heads, 1);
  if (force == 1) return slots_per_kv_head;
  // In double: batch x max_seqlen_k x head_dim may pass 2^63 for absurd host bounds.
  const double kv_head_bytes = static_cast<double>(batch) * static_cast<double>(max_seqlen_k) * head_dim * 2.0 *
                               kv_elem_bytes;
  const double fit = kv_head_bytes > 0 ? static_cast<double>(l2_bytes / 2) / kv_head_bytes : static_cast<double>(heads);
  int64_t kv_heads = std::max<int64_t>(1, static_cast<int64_t>(std::min(fit, static_cast<double>(heads))));
  const int64_t tiles_per_kv_head = std::max<int64_t>(1, tiles_per_slot * slots_per_kv_head);
  kv_heads = std::max(kv_heads, (4 * ctas + tiles_per_kv_head - 1) / tiles_per_kv_head);
  return static_cast<int>(std::min<int64_t>(heads, kv_heads * slots_per_kv_head));
}

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
