// Host rule for ping-pong in the Hopper prefill kernel (hopper_kernel.cuh): the
// consumer warpgroups take turns issuing their WGMMAs, so one's softmax runs under
// the others' products. Measured (H100, docs/perf-notes.md sessions 11-12):
//   16-bit KV, D <= 128: on (short prefills 5-10% faster, long ones the same; D 64's
//     three warpgroups take their turns round robin, prefill_d64 1-2% faster);
//   16-bit KV, D 256: on only for short KV (max_seqlen_k <= 1024: seqs_64x512_d256
//     3-5% faster); on an 8k prefill it cost 0.5-1% by minimum time and 2-7% by median;
//   FP8 KV: off (1-3% slower: the producer's widening shares the issue slots).
// max_seqlen_k is the host bound; the lengths themselves are never read on the host.
#pragma once
#include <cstdint>

namespace kvattn {
namespace cuda {
namespace hopper {

constexpr int64_t kPingPongMaxKeysD256 = 1024;

// force: -1 the rule, 0 never, 1 always (KVATTN_HOPPER_PINGPONG).
inline bool hopper_ping_pong(int head_dim, bool fp8_kv, int64_t max_seqlen_k, int force) {
  if (force >= 0) return force == 1;
  if (fp8_kv) return false;
  return head_dim <= 128 || max_seqlen_k <= kPingPongMaxKeysD256;
}

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
