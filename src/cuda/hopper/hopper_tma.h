// Host: TMA descriptors for the Hopper prefill kernel's K/V loads.
#pragma once
#include "core/problem.h"
#include "cuda/hopper/hopper_params.h"

namespace kvattn {
namespace cuda {
namespace hopper {

// Fills kv for tiles of block_n rows when TMA can load p's paged cache: page
// sizes whose gcd with block_n is a multiple of 8 rows (boxes of that many rows),
// 16-byte aligned strides and base (checked by the caller's prefill_rows_aligned16),
// for 16-bit KV block strides of whole 8-row groups (row_groups_per_block), and
// a driver that encodes the descriptors; by default only when a box carries at
// least 1 KB (smaller boxes are unmeasured; 1 KB ones won for FP8 D 64).
// Otherwise leaves kv.tma false (the kernel gathers every tile with cp.async).
// env: HopperSwitches::tma (-1 the default policy, 0 never, 1 wherever the layout allows).
void make_kv_load(const AttentionProblem& p, int block_n, int env, HopperKvLoad& kv);

// Fills t (HopperRowTma) for TMA loads of Q rows and stores of output rows where p's
// q / out allow them (q_load_allowed, out_store_allowed) and the driver encodes the
// descriptors. env_load / env_store: HopperSwitches::tma_q / tma_store (-1 or 1 where
// allowed, 0 never).
void make_row_tma(const AttentionProblem& p, int env_load, int env_store, HopperRowTma& t);

// Whether p's out / q admit TMA boxes of rows (host-testable): a 16-bit tensor with a
// 16-byte aligned base, strides of whole 16 bytes below 2^40, head dim a multiple of
// 64 up to 256, and token coordinates that fit an int32.
bool out_store_allowed(const AttentionProblem& p);
bool q_load_allowed(const AttentionProblem& p);

// The policy alone (host-testable, no driver): rows per TMA box for p's K/V, or 0
// for the cp.async gather; env as for make_kv_load.
int tma_box_rows(const AttentionProblem& p, int block_n, int env);

// Whether p's TMA maps count the cache in 8-row groups (16-bit KV with D > 64).
bool uses_row_groups(const AttentionProblem& p);

// 16-bit KV's TMA maps count the cache in 8-row groups: the block stride in groups,
// or 0 when it is not a whole number of them (or a page's rows would not fit, or
// the group index would overflow an int32): then 16-bit KV is gathered.
int row_groups_per_block(const AttentionProblem& p, int64_t stride_block, int64_t stride_token);

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
