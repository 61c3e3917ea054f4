// Every rejected varlen-attention input: the error's code, that it names the
// argument, and that the outputs were not touched.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "contract/contract_fixtures.h"
#include "kvattn/attention.h"
#include "kvattn/version.h"

namespace contract {
namespace {

// ---- q ----

TEST(ContractAttention, QMissing) {
  AttentionCase c;
  c.args.q = TensorView();
  EXPECT_REJECTED(c, kArg, "q", "none");
}

TEST(ContractAttention, QWrongRank) {
  AttentionCase c;
  c.args.q = TensorView::contiguous(c.q.data(), DType::kBFloat16, {4, 4 * 64});
  EXPECT_REJECTED(c, kArg, "q", "rank-3");
}

TEST(ContractAttention, QNegativeSize) {
  AttentionCase c;
  c.args.q.shape[0] = -1;
  EXPECT_REJECTED(c, kArg, "q");
}

TEST(ContractAttention, QNullData) {
  AttentionCase c;
  c.args.q.data = nullptr;
  EXPECT_REJECTED(c, kArg, "q", "null");
}

TEST(ContractAttention, QWrongDtype) {
  AttentionCase c;
  c.args.q.dtype = DType::kFloat32;
  EXPECT_REJECTED(c, kDType, "q", "float32");
}

TEST(ContractAttention, QFp8NotImplemented) {
  for (DType d : {DType::kFloat8E4M3, DType::kFloat8E5M2}) {
    AttentionCase c;
    c.args.q.dtype = d;
    EXPECT_REJECTED(c, kNotImpl, "q", "fp8");
  }
}

TEST(ContractAttention, QLastDimNotContiguous) {
  AttentionCase c;
  c.q.resize(4 * 4 * 64 * 2);
  c.args.q = TensorView::strided(c.q.data(), DType::kBFloat16, {4, 4, 64}, {512, 128, 2});
  EXPECT_REJECTED(c, kArg, "q", "last-dim stride 1");
}

TEST(ContractAttention, QUnsupportedHeadDim) {
  for (int64_t d : {32, 80, 100, 512}) {
    AttentionCase c;
    c.q.resize(4 * 4 * d);
    c.args.q = TensorView::contiguous(c.q.data(), DType::kBFloat16, {4, 4, d});
    EXPECT_REJECTED(c, kNotImpl, "q", "head dim must be one of 64, 96, 128, 192, 256");
  }
}

TEST(ContractAttention, QNoHeads) {
  AttentionCase c;
  c.args.q.shape[1] = 0;
  EXPECT_REJECTED(c, kArg, "q", "query head");
}

TEST(ContractAttention, QUnknownDevice) {
  AttentionCase c;
  c.move_all_to(Device{DeviceType::kCUDA, -1});
  EXPECT_REJECTED(c, kArg, "q", "cuda:-1");
}

// ---- k / v ----

TEST(ContractAttention, KMissing) {
  AttentionCase c;
  c.args.k = TensorView();
  EXPECT_REJECTED(c, kArg, "k", "none");
}

TEST(ContractAttention, VMissing) {
  AttentionCase c;
  c.args.v = TensorView();
  EXPECT_REJECTED(c, kArg, "v", "none");
}

TEST(ContractAttention, KWrongRankForPaged) {
  AttentionCase c;
  c.args.k = TensorView::contiguous(c.k.data(), DType::kBFloat16, {64, 2, 64});
  EXPECT_REJECTED(c, kArg, "k", "[num_blocks, page_size, Hkv, D]");
}

TEST(ContractAttention, KWrongRankForContiguous) {
  AttentionCase c(/*paged=*/false);
  c.args.k = TensorView::contiguous(c.k.data(), DType::kBFloat16, {1, 25, 2, 64});
  EXPECT_REJECTED(c, kArg, "k", "[total_k, Hkv, D]");
}

TEST(ContractAttention, KWrongDtype) {
  for (DType d : {DType::kFloat32, DType::kFloat16, DType::kUInt8, DType::kInt32}) {
    AttentionCase c;  // q is bf16: fp16 K is neither q's dtype nor fp8
    c.args.k.dtype = d;
    c.args.v.dtype = d;
    EXPECT_REJECTED(c, kDType, "k", dtype_name(d));
  }
}

TEST(ContractAttention, VDtypeDiffersFromK) {
  AttentionCase c;
  c.args.v.dtype = DType::kFloat8E4M3;
  EXPECT_REJECTED(c, kDType, "v", "k's dtype");
}

TEST(ContractAttention, VShapeDiffersFromK) {
  AttentionCase c;
  c.args.v.shape[0] = 3;
  EXPECT_REJECTED(c, kArg, "v", "k's shape");
}

TEST(ContractAttention, KLastDimNotContiguous) {
  AttentionCase c;
  c.args.k.stride[3] = 2;
  EXPECT_REJECTED(c, kArg, "k", "last-dim stride 1");
}

TEST(ContractAttention, VLastDimNotContiguous) {
  AttentionCase c;
  c.args.v.stride[3] = 0;
  EXPECT_REJECTED(c, kArg, "v", "last-dim stride 1");
}

TEST(ContractAttention, QueryHeadsNotMultipleOfKvHeads) {
  AttentionCase c;  // Hq = 4
  c.args.k = TensorView::contiguous(c.k.data(), DType::kBFloat16, {2, 16, 3, 64});
  c.args.v = TensorView::contiguous(c.v.data(), DType::kBFloat16, {2, 16, 3, 64});
  EXPECT_REJECTED(c, kArg, "k", "number of query heads must be a multiple of kv heads");
}

TEST(ContractAttention, KvHeadDimDiffersFromQ) {
  AttentionCase c;
  c.args.k = TensorView::contiguous(c.k.data(), DType::kBFloat16, {2, 16, 2, 128});
  c.args.v = TensorView::contiguous(c.v.data(), DType::kBFloat16, {2, 16, 2, 128});
  EXPECT_REJECTED(c, kArg, "k", "head dim 64");
}

TEST(ContractAttention, NoKvHeads) {
  AttentionCase c;
  c.args.k.shape[2] = 0;
  c.args.v.shape[2] = 0;
  EXPECT_REJECTED(c, kArg, "k", "kv head");
}

TEST(ContractAttention, PageSizeZero) {
  AttentionCase c;
  c.args.k.shape[1] = 0;
  c.args.v.shape[1] = 0;
  EXPECT_REJECTED(c, kArg, "k", "page_size");
}

// ---- devices (fake CUDA views: rejected before any CUDA call) ----

TEST(ContractAttention, KOnOtherDeviceThanCpuQ) {
  AttentionCase c;
  c.args.k.device = kCuda0;
  EXPECT_REJECTED(c, kArg, "k", "expected device cpu (q's device), got cuda:0");
}

TEST(ContractAttention, CpuTensorWithCudaQ) {
  AttentionCase c;
  c.move_all_to(kCuda0);
  c.args.block_table.device = Device{};
  EXPECT_REJECTED(c, kArg, "block_table", "expected device cuda:0 (q's device), got cpu");
}

TEST(ContractAttention, OtherCudaOrdinal) {
  AttentionCase c;
  c.move_all_to(kCuda0);
  c.args.out.device = kCuda1;
  EXPECT_REJECTED(c, kArg, "out", "cuda:1");
}

TEST(ContractAttention, OptionalTensorOnOtherDevice) {
  std::vector<float> descale(AttentionCase::kB * AttentionCase::kHkv, 1.0f);
  AttentionCase c;
  c.args.v_descale = TensorView::contiguous(descale.data(), DType::kFloat32, {2, 2}, kCuda0);
  EXPECT_REJECTED(c, kArg, "v_descale", "cuda:0");
}

// ---- KV layout: exactly one of contiguous and paged ----

TEST(ContractAttention, CuSeqlensKAndSequsedKTogether) {
  AttentionCase c;  // paged
  c.args.cu_seqlens_k = TensorView::contiguous(c.cu_seqlens_k.data(), DType::kInt32, {3});
  EXPECT_REJECTED(c, kArg, "cu_seqlens_k", "mutually exclusive");
}

TEST(ContractAttention, NeitherCuSeqlensKNorSequsedK) {
  AttentionCase c(/*paged=*/false);
  c.args.cu_seqlens_k = TensorView();
  EXPECT_REJECTED(c, kArg, "cu_seqlens_k", "neither");
}

TEST(ContractAttention, BlockTableWithoutSequsedK) {
  AttentionCase c(/*paged=*/false);
  c.args.block_table = TensorView::contiguous(c.block_table.data(), DType::kInt32, {2, 2});
  EXPECT_REJECTED(c, kArg, "block_table", "seqused_k");
}

TEST(ContractAttention, SequsedKWithoutBlockTable) {
  AttentionCase c;
  c.args.block_table = TensorView();
  EXPECT_REJECTED(c, kArg, "block_table", "none");
}

// ---- lengths ----

TEST(ContractAttention, CuSeqlensQMissing) {
  AttentionCase c;
  c.args.cu_seqlens_q = TensorView();
  EXPECT_REJECTED(c, kArg, "cu_seqlens_q", "none");
}

TEST(ContractAttention, CuSeqlensQWrongDtype) {
  AttentionCase c;
  c.args.cu_seqlens_q.dtype = DType::kInt64;
  EXPECT_REJECTED(c, kDType, "cu_seqlens_q", "int32");
}

TEST(ContractAttention, CuSeqlensQWrongRank) {
  AttentionCase c;
  c.args.cu_seqlens_q = TensorView::contiguous(c.cu_seqlens_q.data(), DType::kInt32, {1, 3});
  EXPECT_REJECTED(c, kArg, "cu_seqlens_q", "[B+1]");
}

TEST(ContractAttention, CuSeqlensQEmpty) {
  AttentionCase c;
  c.args.cu_seqlens_q.shape[0] = 0;
  EXPECT_REJECTED(c, kArg, "cu_seqlens_q", "at least one element");
}

TEST(ContractAttention, CuSeqlensQNotContiguous) {
  AttentionCase c;
  c.args.cu_seqlens_q.stride[0] = 2;
  EXPECT_REJECTED(c, kArg, "cu_seqlens_q", "stride 1");
}

TEST(ContractAttention, SequsedKWrongLength) {
  AttentionCase c;
  c.args.seqused_k.shape[0] = 1;
  EXPECT_REJECTED(c, kArg, "seqused_k", "[2]");
}

TEST(ContractAttention, SequsedKWrongDtype) {
  AttentionCase c;
  c.args.seqused_k.dtype = DType::kInt64;
  EXPECT_REJECTED(c, kDType, "seqused_k", "int32");
}

TEST(ContractAttention, CuSeqlensKWrongLength) {
  AttentionCase c(/*paged=*/false);
  c.args.cu_seqlens_k.shape[0] = 2;
  EXPECT_REJECTED(c, kArg, "cu_seqlens_k", "[3]");
}

TEST(ContractAttention, CuSeqlensKWrongDtype) {
  AttentionCase c(/*paged=*/false);
  c.args.cu_seqlens_k.dtype = DType::kFloat32;
  EXPECT_REJECTED(c, kDType, "cu_seqlens_k", "int32");
}

TEST(ContractAttention, BlockTableWrongRank) {
  AttentionCase c;
  c.args.block_table = TensorView::contiguous(c.block_table.data(), DType::kInt32, {4});
  EXPECT_REJECTED(c, kArg, "block_table", "rank-2");
}

TEST(ContractAttention, BlockTableWrongRows) {
  AttentionCase c;
  c.args.block_table = TensorView::contiguous(c.block_table.data(), DType::kInt32, {1, 2});
  EXPECT_REJECTED(c, kArg, "block_table", "2 rows");
}

TEST(ContractAttention, BlockTableWrongDtype) {
  AttentionCase c;
  c.args.block_table.dtype = DType::kInt64;
  EXPECT_REJECTED(c, kDType, "block_table", "int32");
}

TEST(ContractAttention, BlockTableColumnStride) {
  AttentionCase c;
  c.args.block_table = TensorView::strided(c.block_table.data(), DType::kInt32, {2, 2}, {1, 2});
  EXPECT_REJECTED(c, kArg, "block_table", "last-dim stride 1");
}

TEST(ContractAttention, BlockTableTooNarrow) {
  AttentionCase c;  // 2 columns of 16-token pages cover 32 keys
  c.args.max_seqlen_k = 33;
  EXPECT_REJECTED(c, kArg, "block_table", "too narrow for max_seqlen_k = 33");
}

TEST(ContractAttention, NegativeMaxSeqlenQ) {
  AttentionCase c;
  c.args.max_seqlen_q = -1;  // also the default: the caller must say
  EXPECT_REJECTED(c, kArg, "max_seqlen_q", "-1");
}

TEST(ContractAttention, NegativeMaxSeqlenK) {
  AttentionCase c;
  c.args.max_seqlen_k = -5;
  EXPECT_REJECTED(c, kArg, "max_seqlen_k", "-5");
}

TEST(ContractAttention, MaxSeqlenBeyondInt32) {
  AttentionCase c;
  c.args.max_seqlen_q = int64_t{1} << 31;
  EXPECT_REJECTED(c, kArg, "max_seqlen_q");
}

// ---- descales ----

TEST(ContractAttention, DescaleWrongRank) {
  std::vector<float> scale(2, 1.0f);
  AttentionCase c;
  c.args.k_descale = TensorView::contiguous(scale.data(), DType::kFloat32, {2});
  EXPECT_REJECTED(c, kArg, "k_descale", "[B, Hkv]");
}

TEST(ContractAttention, DescaleScalarRejected) {
  std::vector<float> scale(1, 1.0f);
  AttentionCase c;  // a per-tensor scale must be expanded to [B, Hkv] (stride 0)
  c.args.v_descale = TensorView::contiguous(scale.data(), DType::kFloat32, {});
  EXPECT_REJECTED(c, kArg, "v_descale", "rank-2");
}

TEST(ContractAttention, DescaleWrongShape) {
  std::vector<float> scale(6, 1.0f);
  for (const char* name : {"q_descale", "k_descale", "v_descale"}) {
    AttentionCase c;
    TensorView bad = TensorView::contiguous(scale.data(), DType::kFloat32, {2, 3});
    if (std::string(name) == "q_descale") c.args.q_descale = bad;
    if (std::string(name) == "k_descale") c.args.k_descale = bad;
    if (std::string(name) == "v_descale") c.args.v_descale = bad;
    EXPECT_REJECTED(c, kArg, name, "[2, 2]");
  }
}

TEST(ContractAttention, DescaleWrongDtype) {
  std::vector<uint16_t> scale(4, 0);
  AttentionCase c;
  c.args.k_descale = TensorView::contiguous(scale.data(), DType::kBFloat16, {2, 2});
  EXPECT_REJECTED(c, kDType, "k_descale", "float32");
}

// ---- scalars ----

TEST(ContractAttention, SoftmaxScaleNotFinite) {
  for (float s : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    AttentionCase c;
    c.args.softmax_scale = s;
    EXPECT_REJECTED(c, kArg, "softmax_scale", "finite");
  }
}

TEST(ContractAttention, SoftcapNegativeOrNotFinite) {
  for (float s : {-1.0f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
    AttentionCase c;
    c.args.softcap = s;
    EXPECT_REJECTED(c, kArg, "softcap", ">= 0");
  }
}

TEST(ContractAttention, WindowLeftBelowMinusOne) {
  AttentionCase c;
  c.args.window_left = -2;
  EXPECT_REJECTED(c, kArg, "window_left", "-2");
}

TEST(ContractAttention, WindowRightBelowMinusOne) {
  AttentionCase c;
  c.args.window_right = -7;
  EXPECT_REJECTED(c, kArg, "window_right", "-7");
}

TEST(ContractAttention, WindowRightBadEvenWithCausal) {
  AttentionCase c;  // causal overrides the right window, but not a malformed one
  c.args.causal = true;
  c.args.window_right = -3;
  EXPECT_REJECTED(c, kArg, "window_right");
}

// ---- sinks ----

TEST(ContractAttention, SinksWrongShape) {
  std::vector<float> sinks(5, 0.0f);
  AttentionCase c;
  c.args.sinks = TensorView::contiguous(sinks.data(), DType::kFloat32, {5});
  EXPECT_REJECTED(c, kArg, "sinks", "[4]");
}

TEST(ContractAttention, SinksWrongDtype) {
  std::vector<int32_t> sinks(4, 0);
  AttentionCase c;
  c.args.sinks = TensorView::contiguous(sinks.data(), DType::kInt32, {4});
  EXPECT_REJECTED(c, kDType, "sinks", "int32");
}

// ---- outputs ----

TEST(ContractAttention, OutMissing) {
  AttentionCase c;
  c.args.out = TensorView();
  EXPECT_REJECTED(c, kArg, "out", "none");
}

TEST(ContractAttention, OutWrongShape) {
  AttentionCase c;
  c.args.out = TensorView::contiguous(c.out.data(), DType::kBFloat16, {4, 2, 64});
  EXPECT_REJECTED(c, kArg, "out", "q's shape");
}

TEST(ContractAttention, OutWrongDtype) {
  AttentionCase c;
  c.args.out.dtype = DType::kFloat16;
  EXPECT_REJECTED(c, kDType, "out", "q's dtype");
}

TEST(ContractAttention, OutLastDimNotContiguous) {
  AttentionCase c;
  c.args.out = TensorView::strided(c.out.data(), DType::kBFloat16, {4, 4, 64}, {1, 4, 16});
  EXPECT_REJECTED(c, kArg, "out", "last-dim stride 1");
}

TEST(ContractAttention, LseWrongShape) {
  AttentionCase c;
  c.args.softmax_lse = TensorView::contiguous(c.lse.data(), DType::kFloat32, {2, 8});
  EXPECT_REJECTED(c, kArg, "softmax_lse", "[Hq, total_q]");
}

TEST(ContractAttention, LseWrongDtype) {
  AttentionCase c;
  c.args.softmax_lse.dtype = DType::kBFloat16;
  EXPECT_REJECTED(c, kDType, "softmax_lse", "float32");
}

// ---- splits, workspace, backend ----

TEST(ContractAttention, NegativeNumSplits) {
  AttentionCase c;
  c.args.num_splits = -1;
  EXPECT_REJECTED(c, kArg, "num_splits", "-1");
}

TEST(ContractAttention, WorkspaceWrongRank) {
  std::vector<uint8_t> ws(64);
  AttentionCase c;
  c.args.workspace = TensorView::contiguous(ws.data(), DType::kUInt8, {8, 8});
  EXPECT_REJECTED(c, kArg, "workspace", "rank-1");
}

TEST(ContractAttention, WorkspaceNotContiguous) {
  std::vector<uint8_t> ws(64);
  AttentionCase c;
  c.args.workspace = TensorView::strided(ws.data(), DType::kUInt8, {32}, {2});
  EXPECT_REJECTED(c, kArg, "workspace", "stride 1");
}

TEST(ContractAttention, WorkspaceOnOtherDevice) {
  std::vector<uint8_t> ws(64);
  AttentionCase c;
  c.args.workspace = TensorView::contiguous(ws.data(), DType::kUInt8, {64}, kCuda0);
  EXPECT_REJECTED(c, kArg, "workspace", "cuda:0");
}

TEST(ContractAttention, CudaBackendForcedOnCpuTensors) {
  for (Backend b : {Backend::kCudaPortable, Backend::kCudaHopper}) {
    AttentionCase c;
    c.args.backend = b;
    EXPECT_REJECTED(c, kArg, "backend", "cpu");
  }
}

TEST(ContractAttention, CpuBackendForcedOnCudaTensors) {
  AttentionCase c;
  c.move_all_to(kCuda0);
  c.args.backend = Backend::kCpu;
  EXPECT_REJECTED(c, kArg, "backend", "kCpu");
}

TEST(ContractAttention, UnknownBackendValue) {
  AttentionCase c;
  c.args.backend = static_cast<Backend>(42);
  EXPECT_REJECTED(c, kArg, "backend", "42");
}

// Without Hopper kernels in the build, forcing them is rejected in validation,
// before any device query or kernel (so fake device views are safe).
TEST(ContractAttention, HopperForcedWithoutHopperKernels) {
  if (kvattn::built_with_hopper_kernels()) GTEST_SKIP() << "this build has the Hopper kernels";
  AttentionCase c;
  c.move_all_to(kCuda0);
  c.args.backend = Backend::kCudaHopper;
  EXPECT_REJECTED(c, kNotImpl, "backend", "no Hopper kernels");
}

}  // namespace
}  // namespace contract
