// Kernel parameters of the Hopper prefill kernel: the shared prefill parameters
// plus the TMA descriptors of the paged K/V cache (hopper_tma.cu builds them).
#pragma once
#include <cuda.h>  // CUtensorMap

#include "cuda/prefill/prefill_params.h"

namespace kvattn {
namespace cuda {
namespace hopper {

// How the producer brings K/V tiles in. With tma, every tile that lies inside
// the sequence arrives as TMA boxes of box_rows = gcd(page, tile) cache rows (one
// per page when pages divide the tile), straight into the swizzled stage (16-bit KV) or
// the FP8 staging tile; the one tile that crosses kv_len is gathered with
// zero-filling cp.async (rows past kv_len must be zeros, not whatever the
// page's unused slots hold: 0 * NaN would poison P V). Without tma (contiguous
// KV, page sizes TMA cannot tile, strides it cannot express) every tile is gathered.
struct HopperKvLoad {
  // FP8 and D 64: dims (d, row in page, kv head, block), innermost first. 16-bit D > 64: (64 columns,
  // row in an 8-row group, 64-column slice, 8-row group, kv head), a box being a page's
  // rows of a tile in the stage's order (hopper_traits.h); the groups of block b are
  // b * groups + row / 8 (groups = the block stride in 8-row groups).
  CUtensorMap k_map, v_map;
  bool tma = false;
  int box_rows = 0;
  int k_groups = 0, v_groups = 0;
};

// How a consumer warpgroup moves its 64 Q rows in and its 64 output rows out. Rows of
// one query head at consecutive tokens -- unpacked tiles, all 64 rows inside the
// sequence -- go by TMA where the layout allows (one box per 64-column slice, into and
// out of the swizzled Q tile): store_o, the output staged in the Q tile leaves by
// asynchronous stores while the warpgroup goes on; load_q, the next tile's Q arrives
// on an mbarrier (a bf16 q for FP8 KV is then rewritten to fp16 in place). Other rows
// (GQA-packed tiles, a sequence's last partial rows) are moved by the threads, 16 bytes
// each. Measured: docs/perf-notes.md, session 11.
struct HopperRowTma {
  // dims (d, query head, token), innermost first; box (64, 1, 64), 128-byte swizzle.
  CUtensorMap q_map, o_map;
  bool load_q = false, store_o = false;
};

// Bits of HopperParams::experiment (KVATTN_HOPPER_EXPERIMENT): diagnostics whose
// results are wrong: each removes one cost (the loads, the softmax, the FP8
// widening) to bound what it takes.
constexpr unsigned kHopperNoLoad = 1u;     // "noload": the producer signals stages without copying
constexpr unsigned kHopperNoSoftmax = 2u;  // "nosoftmax": P = S, no max / exp / sums
constexpr unsigned kHopperNoWiden = 4u;    // "nowiden": FP8 tiles are loaded but not widened (stale stages)
constexpr unsigned kHopperNoWidenK = 8u;   // "nowidenk": as nowiden, K tiles only
constexpr unsigned kHopperNoWidenV = 16u;  // "nowidenv": as nowiden, V tiles only

struct HopperParams {
  PrefillParams p;
  HopperKvLoad kv;
  HopperRowTma rows_tma;
  bool ping_pong = false;   // consumer warpgroups take turns issuing WGMMAs
  unsigned experiment = 0;  // kHopper* bits
  int pack = 1;             // rows per query: 1, or Hq / Hkv with GQA packing (hopper_tile.cuh)
  int heads = 0;            // head slots per sequence: Hq, or Hkv when packed
  int m_blocks = 0;         // kBlockM-row tiles over max_seqlen_q x pack (host bound)
  int num_bh = 0;           // batch x heads (m_blocks x num_bh < 2^31, host check)
  int section_heads = 1;    // head slots per L2 section of the persistent walk (hopper_l2_section_heads)
  // K/V are the previous kernel's output (the prewiden scratch, prewiden.h): wait for
  // that grid before anything else (else the kernel waits for it only at its end).
  bool wait_first = false;
};

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
