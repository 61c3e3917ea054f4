// Host-only (runs without a GPU): which problems the Hopper prefill path takes.
// Anything it does not cover must fall back to the portable kernel, so a wrong
// "yes" here would launch a kernel on a shape it was never built for.
#include <gtest/gtest.h>

#include <cstdint>

#include "core/problem.h"
#include "cuda/hopper/hopper_prefill.h"
#include "kvattn/version.h"

namespace {

using kvattn::AttentionProblem;
using kvattn::DType;

// A paged bf16 problem with every row 16-byte aligned (fake, never dereferenced pointers).
AttentionProblem aligned_problem(int head_dim, DType q, DType kv) {
  AttentionProblem p;
  p.batch = 2;
  p.total_q = 64;
  p.num_q_heads = 8;
  p.num_kv_heads = 2;
  p.head_dim = head_dim;
  p.max_seqlen_q = 32;
  p.max_seqlen_k = 64;
  p.q_dtype = q;
  p.kv_dtype = kv;
  p.q = reinterpret_cast<const void*>(uintptr_t{1} << 20);
  p.out = reinterpret_cast<void*>(uintptr_t{2} << 20);
  p.k = reinterpret_cast<const void*>(uintptr_t{3} << 20);
  p.v = reinterpret_cast<const void*>(uintptr_t{4} << 20);
  p.q_stride_head = head_dim;
  p.q_stride_token = int64_t{8} * head_dim;
  p.out_stride_head = head_dim;
  p.out_stride_token = int64_t{8} * head_dim;
  p.paged = true;
  p.page_size = 16;
  p.k_stride_head = p.v_stride_head = head_dim;
  p.k_stride_token = p.v_stride_token = int64_t{2} * head_dim;
  p.k_stride_block = p.v_stride_block = int64_t{32} * head_dim;
  return p;
}

TEST(HopperDispatch, CoversHeadDims64_128_256WithAlignedRows) {
  if (!kvattn::built_with_hopper_kernels()) GTEST_SKIP() << "this build has no Hopper kernels";
  for (int d : {64, 128, 256})
    for (DType kv : {DType::kBFloat16, DType::kFloat8E4M3, DType::kFloat8E5M2})
      EXPECT_TRUE(kvattn::cuda::hopper_prefill_supports(aligned_problem(d, DType::kBFloat16, kv))) << d;
  EXPECT_TRUE(kvattn::cuda::hopper_prefill_supports(aligned_problem(128, DType::kFloat16, DType::kFloat16)));
}

TEST(HopperDispatch, FallsBackForOtherShapes) {
  // Head dims without a Hopper instance.
  for (int d : {96, 192})
    EXPECT_FALSE(kvattn::cuda::hopper_prefill_supports(aligned_problem(d, DType::kBFloat16, DType::kFloat8E4M3)))
        << d;
  // Rows that are not 16-byte aligned (an odd token stride of an FP8 cache).
  AttentionProblem odd = aligned_problem(128, DType::kBFloat16, DType::kFloat8E4M3);
  odd.k_stride_token += 1;
  EXPECT_FALSE(kvattn::cuda::hopper_prefill_supports(odd));
  // A misaligned base pointer.
  AttentionProblem shifted = aligned_problem(128, DType::kBFloat16, DType::kBFloat16);
  shifted.q = static_cast<const char*>(shifted.q) + 2;
  EXPECT_FALSE(kvattn::cuda::hopper_prefill_supports(shifted));
  // Mixed 16-bit types.
  EXPECT_FALSE(kvattn::cuda::hopper_prefill_supports(aligned_problem(128, DType::kBFloat16, DType::kFloat16)));
}

}  // namespace
