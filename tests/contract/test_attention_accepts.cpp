// Valid calls that validation must accept, and what it makes of them: strided
// and interleaved views, stride-0 descales, mask folding. The "Matches" tests
// run the CPU backend on two layouts of the same data and expect identical
// output, so they need no reference implementation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "contract/contract_fixtures.h"
#include "core/validate.h"
#include "kvattn/attention.h"
#include "kvattn/version.h"

namespace contract {
namespace {

using kvattn::AttentionProblem;
using kvattn::make_attention_problem;

constexpr int kB = AttentionCase::kB, kHq = AttentionCase::kHq, kHkv = AttentionCase::kHkv;
constexpr int kD = AttentionCase::kD, kPage = AttentionCase::kPage, kBlocks = AttentionCase::kBlocks;
constexpr int kTotalQ = AttentionCase::kTotalQ;

TEST(ContractAccepts, PagedProblem) {
  AttentionCase c;
  const AttentionProblem p = make_attention_problem(c.args);
  EXPECT_EQ(p.batch, kB);
  EXPECT_EQ(p.total_q, kTotalQ);
  EXPECT_EQ(p.num_q_heads, kHq);
  EXPECT_EQ(p.num_kv_heads, kHkv);
  EXPECT_EQ(p.head_dim, kD);
  EXPECT_TRUE(p.paged);
  EXPECT_EQ(p.page_size, kPage);
  EXPECT_EQ(p.num_blocks, kBlocks);
  EXPECT_EQ(p.k_stride_block, kPage * kHkv * kD);
  EXPECT_EQ(p.k_stride_token, kHkv * kD);
  EXPECT_EQ(p.k_stride_head, kD);
  EXPECT_EQ(p.block_table, c.block_table.data());
  EXPECT_EQ(p.block_table_stride, 2);
  EXPECT_EQ(p.max_blocks_per_seq, 2);
  EXPECT_EQ(p.seqused_k, c.seqused_k.data());
  EXPECT_EQ(p.cu_seqlens_k, nullptr);
  EXPECT_EQ(p.q_descale.data, nullptr);
  EXPECT_FLOAT_EQ(p.softmax_scale, 0.125f);  // 1/sqrt(64)
  EXPECT_EQ(p.window_left, -1);
  EXPECT_EQ(p.window_right, -1);
  EXPECT_EQ(p.lse_stride_head, kTotalQ);
  EXPECT_EQ(p.lse_stride_token, 1);
  EXPECT_EQ(p.backend, Backend::kCpu);
  EXPECT_EQ(p.num_splits, 1);
}

TEST(ContractAccepts, ContiguousProblem) {
  AttentionCase c(/*paged=*/false);
  c.args.softmax_scale = 0.3f;
  const AttentionProblem p = make_attention_problem(c.args);
  EXPECT_FALSE(p.paged);
  EXPECT_EQ(p.cu_seqlens_k, c.cu_seqlens_k.data());
  EXPECT_EQ(p.seqused_k, nullptr);
  EXPECT_EQ(p.block_table, nullptr);
  EXPECT_EQ(p.page_size, 0);
  EXPECT_EQ(p.k_stride_token, kHkv * kD);
  EXPECT_EQ(p.k_stride_head, kD);
  EXPECT_FLOAT_EQ(p.softmax_scale, 0.3f);
}

TEST(ContractAccepts, Fp8AndFp16KvDtypes) {
  for (DType kv : {DType::kFloat8E4M3, DType::kFloat8E5M2}) {
    AttentionCase c;
    c.args.k.dtype = kv;
    c.args.v.dtype = kv;
    EXPECT_EQ(make_attention_problem(c.args).kv_dtype, kv);
  }
  AttentionCase c;  // fp16 q with fp16 KV and fp16 out
  for (TensorView* t : {&c.args.q, &c.args.k, &c.args.v, &c.args.out}) t->dtype = DType::kFloat16;
  const AttentionProblem p = make_attention_problem(c.args);
  EXPECT_EQ(p.q_dtype, DType::kFloat16);
  EXPECT_EQ(p.kv_dtype, DType::kFloat16);
}

TEST(ContractAccepts, StrideZeroDescales) {
  float per_tensor = 0.5f;
  AttentionCase c;  // vLLM's layer._k_scale.expand(num_seqs, num_kv_heads)
  c.args.k_descale = TensorView::strided(&per_tensor, DType::kFloat32, {kB, kHkv}, {0, 0});
  c.args.q_descale = c.args.k_descale;
  c.args.v_descale = c.args.k_descale;
  const AttentionProblem p = make_attention_problem(c.args);
  EXPECT_EQ(p.k_descale.data, &per_tensor);
  EXPECT_EQ(p.k_descale.stride_b, 0);
  EXPECT_EQ(p.k_descale.stride_h, 0);
  EXPECT_EQ(p.v_descale.at(1, 1), 0.5f);
}

TEST(ContractAccepts, TransposedDescales) {
  std::vector<float> by_head(kHkv * kB);  // stored [Hkv, B], viewed as [B, Hkv]
  AttentionCase c;
  c.args.v_descale = TensorView::strided(by_head.data(), DType::kFloat32, {kB, kHkv}, {1, kB});
  const AttentionProblem p = make_attention_problem(c.args);
  EXPECT_EQ(p.v_descale.stride_b, 1);
  EXPECT_EQ(p.v_descale.stride_h, kB);
}

TEST(ContractAccepts, CausalFoldsIntoRightWindow) {
  AttentionCase c;
  c.args.causal = true;
  c.args.window_left = 7;
  c.args.window_right = 5;  // causal wins over a right window given with it
  AttentionProblem p = make_attention_problem(c.args);
  EXPECT_EQ(p.window_left, 7);
  EXPECT_EQ(p.window_right, 0);
  EXPECT_TRUE(p.causal);
  c.args.window_right = -1;
  EXPECT_EQ(make_attention_problem(c.args).window_right, 0);
  c.args.causal = false;
  c.args.window_right = 9;
  p = make_attention_problem(c.args);
  EXPECT_EQ(p.window_right, 9);
  EXPECT_FALSE(p.causal);
}

TEST(ContractAccepts, SinksSoftcapAndStridedLse) {
  std::vector<uint16_t> sinks(2 * kHq);
  std::vector<float> lse_t(kTotalQ * kHq);  // stored [total_q, Hq], viewed as [Hq, total_q]
  AttentionCase c;
  c.args.sinks = TensorView::strided(sinks.data(), DType::kBFloat16, {kHq}, {2});
  c.args.softcap = 30.0f;
  c.args.softmax_lse = TensorView::strided(lse_t.data(), DType::kFloat32, {kHq, kTotalQ}, {1, kHq});
  const AttentionProblem p = make_attention_problem(c.args);
  EXPECT_EQ(p.sinks, sinks.data());
  EXPECT_EQ(p.sinks_dtype, DType::kBFloat16);
  EXPECT_EQ(p.sinks_stride, 2);
  EXPECT_EQ(p.softcap, 30.0f);
  EXPECT_EQ(p.lse_stride_head, 1);
  EXPECT_EQ(p.lse_stride_token, kHq);
}

TEST(ContractAccepts, BlockTableRowStrideAndExactWidth) {
  std::vector<int32_t> wide{2, 0, -1, 3, 1, -1};  // [B, 3] buffer, viewed as its first 2 columns
  AttentionCase c;
  c.args.block_table = TensorView::strided(wide.data(), DType::kInt32, {kB, 2}, {3, 1});
  c.args.max_seqlen_k = 2 * kPage;  // exactly as wide as the table
  const AttentionProblem p = make_attention_problem(c.args);
  EXPECT_EQ(p.block_table_stride, 3);
  EXPECT_EQ(p.max_blocks_per_seq, 2);
}

TEST(ContractAccepts, EmptyBatch) {
  std::vector<int32_t> zero{0};
  AttentionCase c;  // B = 0, total_q = 0, no data pointers needed
  c.args.q = TensorView::contiguous(nullptr, DType::kBFloat16, {0, kHq, kD});
  c.args.out = TensorView::contiguous(nullptr, DType::kBFloat16, {0, kHq, kD});
  c.args.softmax_lse = TensorView::contiguous(nullptr, DType::kFloat32, {kHq, 0});
  c.args.cu_seqlens_q = TensorView::contiguous(zero.data(), DType::kInt32, {1});
  c.args.seqused_k = TensorView::contiguous(nullptr, DType::kInt32, {0});
  c.args.block_table = TensorView::contiguous(nullptr, DType::kInt32, {0, 0});
  c.args.max_seqlen_q = 0;
  c.args.max_seqlen_k = 0;
  const AttentionProblem p = make_attention_problem(c.args);
  EXPECT_EQ(p.batch, 0);
  EXPECT_EQ(p.total_q, 0);
}

TEST(ContractAccepts, LargeGqaRatio) {
  std::vector<uint16_t> q(kTotalQ * 71 * 128), out(q.size());
  std::vector<uint8_t> k(kBlocks * kPage * 128), v(k.size());
  AttentionCase c;
  c.args.q = TensorView::contiguous(q.data(), DType::kBFloat16, {kTotalQ, 71, 128});
  c.args.out = TensorView::contiguous(out.data(), DType::kBFloat16, {kTotalQ, 71, 128});
  c.args.softmax_lse = TensorView();
  c.args.k = TensorView::contiguous(k.data(), DType::kFloat8E4M3, {4, 16, 1, 128});
  c.args.v = TensorView::contiguous(v.data(), DType::kFloat8E4M3, {4, 16, 1, 128});
  const AttentionProblem p = make_attention_problem(c.args);
  EXPECT_EQ(p.num_q_heads, 71);
  EXPECT_EQ(p.num_kv_heads, 1);
}

// The same data as c.k / c.v, stored interleaved as [num_blocks, page, 2, Hkv, D].
std::vector<uint16_t> interleave_kv(const AttentionCase& c) {
  const int64_t row = int64_t{kHkv} * kD;
  std::vector<uint16_t> kv(c.k.size() * 2);
  for (int64_t slot = 0; slot < int64_t{kBlocks} * kPage; ++slot)
    for (int64_t i = 0; i < row; ++i) {
      kv[(slot * 2 + 0) * row + i] = c.k[slot * row + i];
      kv[(slot * 2 + 1) * row + i] = c.v[slot * row + i];
    }
  return kv;
}

TEST(ContractAccepts, InterleavedKvViews) {
  AttentionCase c;
  const std::vector<uint16_t> kv = interleave_kv(c);
  const int64_t row = int64_t{kHkv} * kD;
  c.args.k = TensorView::strided(kv.data(), DType::kBFloat16, {kBlocks, kPage, kHkv, kD},
                                 {kPage * 2 * row, 2 * row, kD, 1});
  c.args.v = TensorView::strided(kv.data() + row, DType::kBFloat16, {kBlocks, kPage, kHkv, kD},
                                 {kPage * 2 * row, 2 * row, kD, 1});
  const AttentionProblem p = make_attention_problem(c.args);
  EXPECT_EQ(p.k_stride_block, kPage * 2 * row);
  EXPECT_EQ(p.v_stride_token, 2 * row);
  EXPECT_EQ(p.v, static_cast<const void*>(kv.data() + row));
}

TEST(ContractAccepts, InterleavedKvMatchesSeparateBuffers) {
  AttentionCase separate, interleaved;
  const std::vector<uint16_t> kv = interleave_kv(interleaved);
  const int64_t row = int64_t{kHkv} * kD;
  interleaved.args.k = TensorView::strided(kv.data(), DType::kBFloat16, {kBlocks, kPage, kHkv, kD},
                                           {kPage * 2 * row, 2 * row, kD, 1});
  interleaved.args.v = TensorView::strided(kv.data() + row, DType::kBFloat16, {kBlocks, kPage, kHkv, kD},
                                           {kPage * 2 * row, 2 * row, kD, 1});
  kvattn::varlen_attention_forward(separate.args);
  kvattn::varlen_attention_forward(interleaved.args);
  EXPECT_FALSE(separate.outputs.unchanged()) << "the CPU backend wrote nothing";
  EXPECT_EQ(separate.out, interleaved.out);
  EXPECT_EQ(separate.lse, interleaved.lse);
}

TEST(ContractAccepts, StridedQAndOutMatchContiguous) {
  constexpr int64_t kPad = 32;  // token stride Hq*D + 32
  constexpr int64_t kRow = int64_t{kHq} * kD + kPad;
  AttentionCase dense, strided;
  std::vector<uint16_t> q_pad(kTotalQ * kRow, 0), out_pad(kTotalQ * kRow, 0);
  for (int64_t t = 0; t < kTotalQ; ++t)
    for (int64_t i = 0; i < int64_t{kHq} * kD; ++i) q_pad[t * kRow + i] = dense.q[t * kHq * kD + i];
  strided.args.q = TensorView::strided(q_pad.data(), DType::kBFloat16, {kTotalQ, kHq, kD}, {kRow, kD, 1});
  strided.args.out = TensorView::strided(out_pad.data(), DType::kBFloat16, {kTotalQ, kHq, kD}, {kRow, kD, 1});
  const AttentionProblem p = make_attention_problem(strided.args);
  EXPECT_EQ(p.q_stride_token, kRow);
  EXPECT_EQ(p.out_stride_token, kRow);

  kvattn::varlen_attention_forward(dense.args);
  kvattn::varlen_attention_forward(strided.args);
  for (int64_t t = 0; t < kTotalQ; ++t)
    for (int64_t i = 0; i < int64_t{kHq} * kD; ++i)
      ASSERT_EQ(out_pad[t * kRow + i], dense.out[t * kHq * kD + i]) << "token " << t << " element " << i;
  EXPECT_EQ(dense.lse, strided.lse);
}

TEST(ContractAccepts, StrideZeroDescaleMatchesMaterialized) {
  float per_tensor = 0.75f;
  std::vector<float> full(kB * kHkv, 0.75f);
  AttentionCase expanded, materialized;
  expanded.args.k_descale = TensorView::strided(&per_tensor, DType::kFloat32, {kB, kHkv}, {0, 0});
  expanded.args.v_descale = expanded.args.k_descale;
  materialized.args.k_descale = TensorView::contiguous(full.data(), DType::kFloat32, {kB, kHkv});
  materialized.args.v_descale = materialized.args.k_descale;
  kvattn::varlen_attention_forward(expanded.args);
  kvattn::varlen_attention_forward(materialized.args);
  EXPECT_EQ(expanded.out, materialized.out);
  EXPECT_EQ(expanded.lse, materialized.lse);
}

// Validation of CUDA views reads no data on the host: with pointers that would
// crash if dereferenced, a build without CUDA gets as far as the CUDA stand-in.
TEST(ContractAccepts, CudaViewsAreNeverReadOnHost) {
  if (kvattn::built_with_cuda()) GTEST_SKIP() << "needs a build without CUDA (fake pointers must not reach a kernel)";
  AttentionCase c;
  c.move_all_to(kCuda0);
  void* bogus = reinterpret_cast<void*>(uintptr_t{16});
  for (TensorView* t : {&c.args.q, &c.args.k, &c.args.v, &c.args.cu_seqlens_q, &c.args.seqused_k,
                        &c.args.block_table, &c.args.out, &c.args.softmax_lse})
    t->data = bogus;
  try {
    kvattn::varlen_attention_forward(c.args);
    ADD_FAILURE() << "a build without CUDA ran a CUDA call";
  } catch (const kvattn::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotImplemented) << e.what();
    EXPECT_EQ(e.argument(), "device") << e.what();
  }
}

}  // namespace
}  // namespace contract
