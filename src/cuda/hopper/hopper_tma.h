// Host: TMA descriptors for the Hopper prefill kernel's K/V loads.
#pragma once
#include "core/problem.h"
#include "cuda/hopper/hopper_params.h"

namespace kvattn {
namespace cuda {
namespace hopper {

// Fills kv for tiles of block_n rows when TMA can load p's paged cache: page
// sizes that are multiples of 8 rows and divide or are divided by block_n, 16-byte
// aligned strides and base (checked by the caller's prefill_rows_aligned16), and
// a driver that encodes the descriptors; by default only when a page's rows of a
// tile carry at least 1 KB (smaller boxes are unmeasured; 1 KB ones won for FP8 D 64).
// Otherwise leaves kv.tma false (the kernel gathers every tile with cp.async).
// env: HopperSwitches::tma (-1 the default policy, 0 never, 1 wherever the layout allows).
void make_kv_load(const AttentionProblem& p, int block_n, int env, HopperKvLoad& kv);

// The policy alone (host-testable, no driver): rows per TMA box for p's K/V, or 0
// for the cp.async gather; env as for make_kv_load.
int tma_box_rows(const AttentionProblem& p, int block_n, int env);

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
