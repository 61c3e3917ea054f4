// How the Hopper prefill kernel's Q K^T reads an FP8 K (HopperTraits' kKFp8): widened
// to fp16 by the producer (kKWidened; also every 16-bit KV kernel), or as stored, by
// FP8 WGMMAs against q split into two e4m3 parts (kQSplit, hopper_traits.h; the K
// format is then part of the instruction: kKE4M3, kKE5M2).
#pragma once

namespace kvattn {
namespace cuda {
namespace hopper {

constexpr int kKWidened = 0, kKE4M3 = 1, kKE5M2 = 2;

// Whether (head dim, q dtype) with FP8 KV runs the split-q kernels: bf16 q (whose 8
// significant bits the two e4m3 parts hold exactly) at D 128.
constexpr bool hopper_fp8_split_q(int head_dim, bool q_bf16) { return head_dim == 128 && q_bf16; }

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
