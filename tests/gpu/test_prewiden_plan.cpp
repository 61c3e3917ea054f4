// Host-only (runs without a GPU): when a call widens its FP8 K/V once into the
// workspace scratch (src/cuda/prewiden/prewiden.h), and how much room that takes.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>

#include "core/problem.h"
#include "cuda/hopper/hopper_switches.h"
#include "cuda/prewiden/prewiden.h"
#include "kvattn/version.h"

namespace {

using kvattn::DType;
using kvattn::cuda::prewiden_planned;
using kvattn::cuda::prewiden_workspace_bytes;

int forced() { return kvattn::cuda::hopper::hopper_switches().prewiden; }

TEST(PrewidenPlan, LongFp8RowsGetAScratchOfBothTensors) {
  if (!kvattn::built_with_hopper_kernels()) GTEST_SKIP() << "this build has no Hopper kernels";
  if (forced() == 0) GTEST_SKIP() << "KVATTN_HOPPER_PREWIDEN=0";
  for (int d : {64, 128, 256})
    for (DType kv : {DType::kFloat8E4M3, DType::kFloat8E5M2}) {
      // 4 x 8192 keys: pages of 8192 (a multiple of 128; of 640 at D 256: 8320).
      const int64_t page = d == 256 ? 8320 : 8192;
      const size_t need = size_t(4) * page * 8 * d * 2 * 2;
      const size_t bytes = prewiden_workspace_bytes(4, 8, d, 8192, 8192, kv);
      EXPECT_GE(bytes, need) << d;
      EXPECT_LE(bytes, need + 16 * 1024) << d;  // plus two small tables and alignment
    }
}

TEST(PrewidenPlan, NoScratchWhereItCannotPay) {
  EXPECT_EQ(prewiden_workspace_bytes(4, 8, 128, 8192, 8192, DType::kBFloat16), 0u);  // 16-bit KV
  EXPECT_EQ(prewiden_workspace_bytes(4, 8, 96, 8192, 8192, DType::kFloat8E4M3), 0u);  // no Hopper instance
  EXPECT_EQ(prewiden_workspace_bytes(4, 8, 128, 16, 8192, DType::kFloat8E4M3), 0u);   // decode rows only
  EXPECT_EQ(prewiden_workspace_bytes(0, 8, 128, 8192, 8192, DType::kFloat8E4M3), 0u);
  EXPECT_EQ(prewiden_workspace_bytes(4, 8, 128, 8192, 0, DType::kFloat8E4M3), 0u);
  // Over the cap: 256 x 131072 keys would need 8 GiB.
  EXPECT_EQ(prewiden_workspace_bytes(256, 8, 128, 8192, 131072, DType::kFloat8E4M3), 0u);
  // Short chunks, or long ones on a much longer context, read each K/V tile too few times for
  // the pass to pay (unless the switch forces it).
  EXPECT_TRUE(kvattn::cuda::prewiden_pays(512, 4096));
  EXPECT_FALSE(kvattn::cuda::prewiden_pays(512, 4608));   // measured level
  EXPECT_FALSE(kvattn::cuda::prewiden_pays(512, 16896));  // measured +4%
  EXPECT_TRUE(kvattn::cuda::prewiden_pays(2048, 32768));  // measured -5%
  EXPECT_FALSE(kvattn::cuda::prewiden_pays(384, 384));
  const size_t long_context = prewiden_workspace_bytes(4, 8, 128, 512, 16896, DType::kFloat8E4M3);
  if (forced() == 1 && kvattn::built_with_hopper_kernels())
    EXPECT_GT(long_context, 0u);
  else
    EXPECT_EQ(long_context, 0u);
  const size_t short_rows = prewiden_workspace_bytes(16, 8, 128, 32, 4096, DType::kFloat8E4M3);
  if (forced() == 1 && kvattn::built_with_hopper_kernels())
    EXPECT_GT(short_rows, 0u);
  else
    EXPECT_EQ(short_rows, 0u);
}

TEST(PrewidenPlan, PlannedOnlyWhenTheWorkspaceHoldsItAfterTheSplitBytes) {
  if (!kvattn::built_with_hopper_kernels()) GTEST_SKIP() << "this build has no Hopper kernels";
  if (forced() == 0) GTEST_SKIP() << "KVATTN_HOPPER_PREWIDEN=0";
  kvattn::AttentionProblem p;
  p.batch = 2;
  p.num_q_heads = 8;
  p.num_kv_heads = 2;
  p.head_dim = 128;
  p.max_seqlen_q = 1024;
  p.max_seqlen_k = 2048;
  p.q_dtype = DType::kBFloat16;
  p.kv_dtype = DType::kFloat8E4M3;
  const size_t need = prewiden_workspace_bytes(p.batch, p.num_kv_heads, p.head_dim, p.max_seqlen_q, p.max_seqlen_k,
                                               p.kv_dtype);
  ASSERT_GT(need, 0u);
  EXPECT_FALSE(prewiden_planned(p, 0));  // no workspace
  p.workspace = reinterpret_cast<void*>(uintptr_t{1} << 20);
  p.workspace_bytes = need;
  EXPECT_TRUE(prewiden_planned(p, 0));
  EXPECT_FALSE(prewiden_planned(p, 64));  // the split partials come first
  p.workspace_bytes = need + 64;
  EXPECT_TRUE(prewiden_planned(p, 64));
  p.kv_dtype = DType::kBFloat16;
  EXPECT_FALSE(prewiden_planned(p, 64));
}

}  // namespace
