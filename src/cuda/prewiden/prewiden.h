// FP8 KV widened once per call (instead of once per query tile): for prefill
// batches on Hopper, a small kernel copies the FP8 K/V of the long-query
// sequences into a 16-bit scratch in the caller's workspace (exactly: every FP8
// value is a bf16 and an fp16), and the 16-bit Hopper kernel then runs on it
// with the call's descales. The in-kernel widening writes each K/V tile into
// shared memory again for every query tile that reads it (docs/perf-notes.md,
// session 18); this pays it once, for 2 + 2 bytes of scratch traffic per value.
//
// Taken only where it pays and the memory is there: FP8 KV, a Hopper device and
// shape, rows long enough against the context (prewiden_pays), and a workspace of
// varlen_attention_workspace_size(..., kv_dtype) bytes, whose scratch (batch x
// max_seqlen_k x Hkv x D x 4 bytes, a host bound) is at most kPrewidenMaxBytes.
// Otherwise the FP8 kernels widen per tile, as before.
#pragma once
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "core/problem.h"

namespace kvattn {
namespace cuda {

constexpr int64_t kPrewidenMinQueryLen = 512;
constexpr size_t kPrewidenMaxBytes = size_t{512} << 20;

// Whether the widening pass pays for these host bounds (measured on an H100, session 18 of
// docs/perf-notes.md): its cost grows with the keys, what it saves with the query rows that
// read them. max_seqlen_q >= 512 and at most 8 keys per query row (16 from 1024 rows on):
// 512 rows on 512-1536 keys -7 to -1.5%, on 4608 level, on 16896 +4%; 2048 on 32768 -5%;
// 256 rows on 4352 keys +14%.
bool prewiden_pays(int64_t max_seqlen_q, int64_t max_seqlen_k);

// Scratch bytes (tables + K + V) a call with these host sizes would use, or 0
// when it would not prewiden (wrong dtype or head dim, short rows, over the cap;
// the KVATTN_HOPPER_PREWIDEN switch of hopper_switches.h can force or forbid it).
size_t prewiden_workspace_bytes(int64_t batch, int num_kv_heads, int head_dim, int64_t max_seqlen_q,
                                int64_t max_seqlen_k, DType kv_dtype);

// Whether p's prefill rows go through the scratch: prewiden_workspace_bytes(p's
// sizes) > 0 and p's workspace holds it after the decode family's
// `workspace_offset` bytes. Host-only.
bool prewiden_planned(const AttentionProblem& p, size_t workspace_offset);

// Launches the widening (programmatic serialization: it may start while the
// decode kernels drain; it waits for them before it exits) and returns p over
// the scratch: 16-bit K/V in q's dtype, paged with one page per sequence and an
// identity block table, seqused_k rewritten, descales unchanged. The prefill
// kernel that reads it must wait for this grid first (HopperParams::wait_first).
AttentionProblem launch_prewiden(const AttentionProblem& p, size_t workspace_offset, cudaStream_t stream);

}  // namespace cuda
}  // namespace kvattn
