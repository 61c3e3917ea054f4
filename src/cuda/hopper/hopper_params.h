// Kernel parameters of the Hopper prefill kernel: the shared prefill parameters
// plus the TMA descriptors of the paged K/V cache (hopper_tma.cu builds them).
#pragma once
#include <cuda.h>  // CUtensorMap

#include "cuda/prefill/prefill_params.h"

namespace kvattn {
namespace cuda {
namespace hopper {

// How the producer brings K/V tiles in. With tma, every tile that lies inside
// the sequence arrives as TMA boxes of box_rows cache rows (one per page, or a
// tile's worth of a large page), straight into the swizzled stage (16-bit KV) or
// the FP8 staging tile; the one tile that crosses kv_len is gathered with
// zero-filling cp.async (rows past kv_len must be zeros, not whatever the
// page's unused slots hold: 0 * NaN would poison P V). Without tma (contiguous
// KV, page sizes TMA cannot tile, strides it cannot express) every tile is gathered.
struct HopperKvLoad {
  CUtensorMap k_map, v_map;  // dims (d, row in page, kv head, block), innermost first
  bool tma = false;
  int box_rows = 0;
};

struct HopperParams {
  PrefillParams p;
  HopperKvLoad kv;
  int m_blocks = 0;    // 128-row query tiles over max_seqlen_q (host bound)
  int num_bh = 0;      // batch x Hq (m_blocks x num_bh < 2^31, host check)
};

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
