// FP8 KV widened once per call into the workspace scratch (src/cuda/prewiden):
// long query rows on Hopper take it when the workspace from the KV-dtype-aware
// size query is passed, and fall back to per-tile widening with a split-only
// workspace. Both must match the reference; the scratch starts as NaN, so a
// row read but never written would show.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "common/attention_check.h"
#include "common/test_env.h"
#include "core/backends.h"
#include "gpu/test_attention_support.h"
#include "kvattn/version.h"

namespace kvtest {
namespace {

using kvattn::DType;

// Whether this process's calls take the Hopper path for long rows.
bool hopper_calls() {
  const kvattn::Backend b = gpu_backend_from_env();
  return kvattn::built_with_hopper_kernels() && kvattn::cuda_device_is_hopper(cuda_device()) &&
         (b == kvattn::Backend::kAuto || b == kvattn::Backend::kCudaHopper);
}

AttentionCase prewiden_case(int i, Rng& rng) {
  AttentionCase c;
  // Two long prefill rows (max_seqlen_q >= kPrewidenMinQueryLen), a decode row and a
  // short chunk (the decode family and a tile that crosses kv_len).
  c.seqs = {{600, 900}, {1, 700}, {520, 520}, {40, 301}};
  const int dims[] = {128, 64, 256};
  c.head_dim = dims[i % 3];
  c.num_q_heads = c.head_dim == 256 ? 4 : 8;
  c.num_kv_heads = 2;
  c.q_dtype = (i / 3) % 2 ? DType::kFloat16 : DType::kBFloat16;
  c.kv_dtype = i % 2 ? DType::kFloat8E5M2 : DType::kFloat8E4M3;
  c.descale = DescaleKind::kPerSeqHead;
  c.page_size = i % 4 == 3 ? 32 : 16;
  c.causal = rng.chance(0.7);
  if (!c.causal && rng.chance(0.5)) c.window_left = 200, c.window_right = 50;
  if (rng.chance(0.3)) c.softcap = 20.0f;
  c.sinks = rng.chance(0.3);
  c.seed = rng.next_u64();
  return c;
}

void run_case(const AttentionCaseData& d, bool full_workspace) {
  const AttentionCase& c = d.c;
  DeviceCase dc = upload_case(d);
  Stream stream;
  poison_outputs(dc, d, stream.get());
  kvattn::VarlenAttentionArgs a = device_args(dc, d, stream.get());
  const int64_t batch = static_cast<int64_t>(c.seqs.size());
  const size_t split_only = kvattn::varlen_attention_workspace_size(
      batch, c.num_q_heads, c.num_kv_heads, c.head_dim, d.l.max_seqlen_q, d.l.max_seqlen_k, c.num_splits,
      cuda_device());
  const size_t with_scratch = kvattn::varlen_attention_workspace_size(
      batch, c.num_q_heads, c.num_kv_heads, c.head_dim, d.l.max_seqlen_q, d.l.max_seqlen_k, c.num_splits,
      cuda_device(), c.kv_dtype);
  if (hopper_calls()) {
    // At least 2 x (batch x max_seqlen_k x Hkv x D) 16-bit values beyond the split bytes.
    EXPECT_GE(with_scratch, split_only + size_t(4) * batch * d.l.max_seqlen_k * c.num_kv_heads * c.head_dim);
  }
  const size_t bytes = full_workspace ? with_scratch : split_only;
  if (bytes == 0) {
    a.workspace = kvattn::TensorView{};
  } else {
    dc.workspace = DeviceMemory(bytes);
    KVT_CUDA_CHECK(cudaMemset(dc.workspace.get(), 0xFF, bytes));  // NaN in bf16 and fp16
    a.workspace = kvattn::TensorView::contiguous(dc.workspace.get(), DType::kUInt8, {static_cast<int64_t>(bytes)},
                                                 cuda_device());
  }
  kvattn::varlen_attention_forward(a);
  KVT_CUDA_CHECK(cudaGetLastError());
  KVT_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  const AttentionRun r = download_outputs(dc, d);
  EXPECT_TRUE(check_attention(d, run_reference(d), r.out, r.lse, gpu_tolerance(c)));
}

// Every selected case of the running test, with the full or the split-only workspace.
void run_cases(int count, bool full_workspace) {
  const std::string test = current_test_name();
  for (int i = 0; i < count; ++i) {
    if (!case_selected(i)) continue;
    Rng rng(case_seed(test, i));
    const AttentionCase c = prewiden_case(i, rng);
    SCOPED_TRACE("case " + std::to_string(i) + ": " + c.describe() + "\n  " + replay_hint(test, i));
    run_case(build_attention_case(c), full_workspace);
  }
}

TEST(GpuAttentionPrewiden, LongRowsThroughTheScratchMatchReference) {
  KVT_REQUIRE_GPU();
  run_cases(case_count(12, 6), /*full_workspace=*/true);
}

TEST(GpuAttentionPrewiden, SplitOnlyWorkspaceWidensPerTile) {
  KVT_REQUIRE_GPU();
  run_cases(case_count(6, 3), /*full_workspace=*/false);
}

}  // namespace
}  // namespace kvtest
