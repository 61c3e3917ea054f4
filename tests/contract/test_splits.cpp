// Split-KV resolution and workspace rules. The decision is a pure function of
// the request, the backend's plan and the workspace (core/validate.h), so it is
// tested here without a GPU.
#include <gtest/gtest.h>

#include <vector>

#include "contract/contract_fixtures.h"
#include "core/validate.h"
#include "kvattn/attention.h"
#include "kvattn/version.h"

namespace contract {
namespace {

const kvattn::SplitPlan kFourSplits{4, 1000};  // 4 splits needing 1000 bytes

TEST(ContractSplits, NoSplitNeedsNoWorkspace) {
  EXPECT_EQ(kvattn::resolve_num_splits(0, kvattn::SplitPlan{1, 0}, TensorView()), 1);
  EXPECT_EQ(kvattn::resolve_num_splits(1, kvattn::SplitPlan{1, 0}, TensorView()), 1);
}

TEST(ContractSplits, HeuristicSplitWithoutWorkspaceRunsUnsplit) {
  EXPECT_EQ(kvattn::resolve_num_splits(0, kFourSplits, TensorView()), 1);
}

TEST(ContractSplits, ExplicitSplitWithoutWorkspaceRejected) {
  expect_error([] { kvattn::resolve_num_splits(4, kFourSplits, TensorView()); }, ErrorCode::kInvalidArgument,
               "workspace", "at least 1000 bytes");
}

TEST(ContractSplits, WorkspaceTooSmallRejected) {
  std::vector<uint8_t> ws(999);
  const TensorView view = TensorView::contiguous(ws.data(), DType::kUInt8, {999});
  for (int requested : {0, 4})
    expect_error([&] { kvattn::resolve_num_splits(requested, kFourSplits, view); }, ErrorCode::kInvalidArgument,
                 "workspace", "got 999 bytes");
}

TEST(ContractSplits, WorkspaceCountsBytesOfAnyDtype) {
  std::vector<float> ws(250);  // 250 x 4 = 1000 bytes
  const TensorView view = TensorView::contiguous(ws.data(), DType::kFloat32, {250});
  EXPECT_EQ(kvattn::resolve_num_splits(4, kFourSplits, view), 4);
  EXPECT_EQ(kvattn::resolve_num_splits(0, kFourSplits, view), 4);
}

TEST(ContractSplits, CpuIgnoresNumSplitsAndWorkspace) {
  AttentionCase c;
  c.args.num_splits = 1000;  // above kMaxSplits, no workspace: fine on CPU
  const kvattn::AttentionProblem p = kvattn::make_attention_problem(c.args);
  EXPECT_EQ(p.num_splits, 1);
  EXPECT_EQ(p.workspace, nullptr);
}

TEST(ContractSplits, WorkspaceSizeOnCpuIsZero) {
  EXPECT_EQ(kvattn::varlen_attention_workspace_size(8, 32, 8, 128, 1, 4096, 0, Device{}), 0u);
  EXPECT_EQ(kvattn::varlen_attention_workspace_size(8, 32, 8, 128, 1, 4096, 16, Device{}), 0u);
  // The KV-dtype overload too: the FP8 prewiden scratch is a CUDA (Hopper) thing.
  EXPECT_EQ(kvattn::varlen_attention_workspace_size(4, 32, 8, 128, 8192, 8192, 0, Device{}, DType::kFloat8E4M3), 0u);
}

TEST(ContractSplits, WorkspaceSizeWithKvDtypeChecksSizesLikeThePlainOne) {
  expect_error([&] { kvattn::varlen_attention_workspace_size(1, 4, 8, 128, 1, 64, 0, Device{}, DType::kFloat8E4M3); },
               ErrorCode::kInvalidArgument, "num_kv_heads");
}

TEST(ContractSplits, WorkspaceSizeWithoutCudaBackendIsZero) {
  if (kvattn::built_with_cuda()) GTEST_SKIP() << "CUDA build: the size comes from the CUDA backend";
  EXPECT_EQ(kvattn::varlen_attention_workspace_size(8, 32, 8, 128, 1, 4096, 16, kCuda0), 0u);
}

TEST(ContractSplits, WorkspaceSizeRejectsBadSizes) {
  using kvattn::varlen_attention_workspace_size;
  const Device cpu{};
  expect_error([&] { varlen_attention_workspace_size(-1, 32, 8, 128, 1, 64, 0, cpu); }, ErrorCode::kInvalidArgument,
               "batch");
  expect_error([&] { varlen_attention_workspace_size(1, 0, 1, 128, 1, 64, 0, cpu); }, ErrorCode::kInvalidArgument,
               "num_q_heads");
  expect_error([&] { varlen_attention_workspace_size(1, 4, 8, 128, 1, 64, 0, cpu); }, ErrorCode::kInvalidArgument,
               "num_kv_heads");
  expect_error([&] { varlen_attention_workspace_size(1, 4, 4, 0, 1, 64, 0, cpu); }, ErrorCode::kInvalidArgument,
               "head_dim");
  expect_error([&] { varlen_attention_workspace_size(1, 4, 4, 64, -1, 64, 0, cpu); }, ErrorCode::kInvalidArgument,
               "max_seqlen_q");
  expect_error([&] { varlen_attention_workspace_size(1, 4, 4, 64, 1, -1, 0, cpu); }, ErrorCode::kInvalidArgument,
               "max_seqlen_k");
  expect_error([&] { varlen_attention_workspace_size(1, 4, 4, 64, 1, 64, -2, cpu); }, ErrorCode::kInvalidArgument,
               "num_splits");
}

}  // namespace
}  // namespace contract
