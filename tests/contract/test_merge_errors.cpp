// Every rejected merge input: the error's code, that it names the argument,
// and that output and output_lse were not touched.
#include <gtest/gtest.h>

#include <vector>

#include "contract/contract_fixtures.h"
#include "core/validate.h"
#include "kvattn/merge.h"

namespace contract {
namespace {

TEST(ContractMerge, OutputMissing) {
  MergeCase c;
  c.args.output = TensorView();
  EXPECT_REJECTED(c, kArg, "output", "none");
}

TEST(ContractMerge, OutputWrongRank) {
  MergeCase c;
  c.args.output = TensorView::contiguous(c.out.data(), DType::kFloat32, {3, 128});
  EXPECT_REJECTED(c, kArg, "output", "[T, H, D]");
}

TEST(ContractMerge, OutputWrongDtype) {
  MergeCase c;
  c.args.output.dtype = DType::kFloat8E4M3;
  EXPECT_REJECTED(c, kDType, "output", "float32, float16 or bfloat16");
}

TEST(ContractMerge, OutputLastDimNotContiguous) {
  MergeCase c;
  c.args.output.stride[2] = 3;
  EXPECT_REJECTED(c, kArg, "output", "last-dim stride 1");
}

TEST(ContractMerge, PrefixDtypeDiffers) {
  MergeCase c;
  c.args.prefix_output.dtype = DType::kBFloat16;
  EXPECT_REJECTED(c, kDType, "prefix_output", "output's dtype");
}

TEST(ContractMerge, SuffixShapeDiffers) {
  MergeCase c;
  c.args.suffix_output = TensorView::contiguous(c.suffix.data(), DType::kFloat32, {3, 1, 128});
  EXPECT_REJECTED(c, kArg, "suffix_output", "output's shape");
}

TEST(ContractMerge, PrefixMissing) {
  MergeCase c;
  c.args.prefix_output = TensorView();
  EXPECT_REJECTED(c, kArg, "prefix_output", "none");
}

TEST(ContractMerge, PrefixLastDimNotContiguous) {
  MergeCase c;
  c.args.prefix_output.stride[2] = 0;
  EXPECT_REJECTED(c, kArg, "prefix_output", "last-dim stride 1");
}

TEST(ContractMerge, PrefixLseTransposed) {
  MergeCase c;  // [T, H] instead of [H, T]
  c.args.prefix_lse = TensorView::contiguous(c.prefix_lse.data(), DType::kFloat32, {3, 2});
  EXPECT_REJECTED(c, kArg, "prefix_lse", "[2, 3]");
}

TEST(ContractMerge, SuffixLseMissing) {
  MergeCase c;
  c.args.suffix_lse = TensorView();
  EXPECT_REJECTED(c, kArg, "suffix_lse", "none");
}

TEST(ContractMerge, SuffixLseWrongDtype) {
  MergeCase c;
  c.args.suffix_lse.dtype = DType::kBFloat16;
  EXPECT_REJECTED(c, kDType, "suffix_lse", "float32");
}

TEST(ContractMerge, OutputLseWrongShape) {
  MergeCase c;
  c.args.output_lse = TensorView::contiguous(c.out_lse.data(), DType::kFloat32, {6});
  EXPECT_REJECTED(c, kArg, "output_lse", "rank-2");
}

TEST(ContractMerge, LseOnOtherDevice) {
  MergeCase c;
  c.args.suffix_lse.device = kCuda0;
  EXPECT_REJECTED(c, kArg, "suffix_lse", "expected device cpu (output's device), got cuda:0");
}

TEST(ContractMerge, CudaBackendForcedOnCpuTensors) {
  MergeCase c;
  c.args.backend = Backend::kCudaHopper;
  EXPECT_REJECTED(c, kArg, "backend", "kCudaHopper");
}

TEST(ContractMerge, AcceptsStridedLseAndNoOutputLse) {
  std::vector<float> lse_t(3 * 2);
  MergeCase c;  // an [H, T] view of a [T, H] buffer, and no merged LSE
  c.args.suffix_lse = TensorView::strided(lse_t.data(), DType::kFloat32, {2, 3}, {1, 2});
  c.args.output_lse = TensorView();
  const kvattn::MergeProblem p = kvattn::make_merge_problem(c.args);
  EXPECT_EQ(p.suffix_lse_stride_head, 1);
  EXPECT_EQ(p.suffix_lse_stride_token, 2);
  EXPECT_EQ(p.out_lse, nullptr);
  EXPECT_EQ(p.num_tokens, 3);
  EXPECT_EQ(p.num_heads, 2);
  EXPECT_EQ(p.head_dim, 64);
}

}  // namespace
}  // namespace contract
