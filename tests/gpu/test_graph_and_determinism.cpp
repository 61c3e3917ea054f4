// Split-KV determinism (same inputs + same split count => bitwise identical
// outputs) and CUDA-graph capture + replay with lengths that change in the
// device buffers between replays (same host values, same buffer sizes).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <sstream>
#include <vector>

#include "common/attention_case.h"
#include "common/attention_check.h"
#include "common/test_env.h"
#include "gpu/test_attention_support.h"
#include "kvattn/error.h"

namespace kvtest {
namespace {

using kvattn::DType;

std::string hex(uint64_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

std::string header(int index, uint64_t seed, const AttentionCase& c) {
  std::ostringstream os;
  os << "case " << index << " (seed 0x" << std::hex << seed << std::dec << "): " << c.describe() << "\n  "
     << replay_hint(current_test_name(), index);
  return os.str();
}

// A serving-like shape: GQA, page 16, fp8 cache with per-(seq, head) descales.
AttentionCase base_case(Rng& rng) {
  AttentionCase c;
  const std::pair<int, int> heads = rng.pick(std::vector<std::pair<int, int>>{{8, 1}, {8, 2}, {16, 2}, {32, 4}});
  c.num_q_heads = heads.first;
  c.num_kv_heads = heads.second;
  c.head_dim = rng.pick(std::vector<int>{64, 128, 256});
  c.q_dtype = rng.chance(0.7) ? DType::kBFloat16 : DType::kFloat16;
  c.kv_dtype = rng.pick(std::vector<DType>{DType::kFloat8E4M3, DType::kFloat8E5M2, c.q_dtype});
  c.descale = DescaleKind::kPerSeqHead;
  c.page_size = rng.pick(std::vector<int>{16, 16, 1, 64});
  c.causal = true;
  c.with_lse = true;
  c.padding_q_rows = 3;
  c.seed = rng.next_u64();
  return c;
}

// ---- Determinism -----------------------------------------------------------

TEST(GpuAttentionDeterminism, SameSplitCountGivesBitwiseIdenticalOutputs) {
  KVT_REQUIRE_GPU();
  const std::string test = current_test_name();
  const int splits[] = {0, 3, 7};
  const int count = case_count(9, 3);
  for (int i = 0; i < count; ++i) {
    if (!case_selected(i)) continue;
    const uint64_t seed = case_seed(test, i);
    Rng rng(seed);
    AttentionCase c = base_case(rng);
    const int batch = rng.uniform_int(2, 12);
    for (int b = 0; b < batch; ++b) {
      const int q = (i % 3 == 0) ? 1 : (i % 3 == 1) ? rng.uniform_int(2, 16) : (b == 0 ? 100 : 1);
      c.seqs.push_back({q, rng.uniform_int(q, 4000)});
    }
    c.num_splits = splits[(i / 3) % 3];
    SCOPED_TRACE(header(i, seed, c));
    const AttentionCaseData d = build_attention_case(c);
    DeviceCase dc = upload_case(d);
    Stream stream;
    const kvattn::VarlenAttentionArgs a = device_args(dc, d, stream.get());
    std::vector<AttentionRun> runs;
    for (int r = 0; r < 3; ++r) {
      poison_outputs(dc, d, stream.get());
      kvattn::varlen_attention_forward(a);
      KVT_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
      runs.push_back(download_outputs(dc, d));
    }
    EXPECT_TRUE(check_attention(d, run_reference(d), runs[0].out, runs[0].lse, gpu_tolerance(c)));
    for (int r = 1; r < 3; ++r) {
      EXPECT_TRUE(check_bitwise_equal(runs[0].out, runs[r].out, "out (run 0 vs later run)"));
      EXPECT_TRUE(check_bitwise_equal(runs[0].lse, runs[r].lse, "softmax_lse (run 0 vs later run)"));
    }
  }
}

// ---- CUDA graphs -------------------------------------------------------------

struct GraphPlan {
  AttentionCase base;  // everything but the lengths and the data seed
  int64_t max_seqlen_q = 0, max_seqlen_k = 0, q_rows = 0;
  std::function<std::vector<SeqLens>(Rng&)> lengths;  // one replay's lengths (same batch size)
};

// Captures one call, then replays it over several length sets copied into the
// same device buffers, checking each replay against the reference.
void run_graph_replays(const GraphPlan& plan, Rng& rng, int replays) {
  // Every variant gets the same buffer sizes: the block pool fits the largest.
  std::vector<std::vector<SeqLens>> lengths;
  int64_t num_blocks = 1;
  for (int v = 0; v < replays; ++v) {
    lengths.push_back(plan.lengths(rng));
    int64_t needed = 0;
    for (const auto& s : lengths.back()) needed += (s.kv_len + plan.base.page_size - 1) / plan.base.page_size;
    num_blocks = std::max(num_blocks, needed + 1);
  }
  std::vector<AttentionCaseData> variants;
  for (int v = 0; v < replays; ++v) {
    AttentionCase c = plan.base;
    c.seqs = lengths[v];
    c.seed = rng.next_u64();
    c.fixed_q_rows = plan.q_rows;
    c.fixed_num_blocks = num_blocks;
    c.fixed_max_seqlen_q = plan.max_seqlen_q;
    c.fixed_max_seqlen_k = plan.max_seqlen_k;
    variants.push_back(build_attention_case(c));
  }

  DeviceCase dc = upload_case(variants[0]);
  Stream stream;
  // Workspace and arguments are fixed before capture; the arguments hold only
  // host values and device pointers that stay valid for every replay.
  const kvattn::VarlenAttentionArgs a = device_args(dc, variants[0], stream.get());
  // One eager call first (what serving engines do before capturing).
  poison_outputs(dc, variants[0], stream.get());
  kvattn::varlen_attention_forward(a);
  KVT_CUDA_CHECK(cudaStreamSynchronize(stream.get()));

  cudaGraph_t graph = nullptr;
  KVT_CUDA_CHECK(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal));
  try {
    kvattn::varlen_attention_forward(a);
  } catch (...) {
    cudaStreamEndCapture(stream.get(), &graph);
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  KVT_CUDA_CHECK(cudaStreamEndCapture(stream.get(), &graph));
  size_t nodes = 0;
  KVT_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &nodes));
  EXPECT_GT(nodes, 0u) << "the captured call recorded no work";
  cudaGraphExec_t exec = nullptr;
  KVT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));

  // Replay order revisits earlier length sets after later ones.
  std::vector<int> order;
  for (int v = 1; v < replays; ++v) order.push_back(v);
  order.push_back(0);
  order.push_back(replays > 2 ? 1 : 0);
  for (int v : order) {
    const AttentionCaseData& d = variants[v];
    SCOPED_TRACE("replay of length set " + std::to_string(v) + ": " + d.c.describe());
    copy_inputs(dc, d, stream.get());
    poison_outputs(dc, d, stream.get());
    KVT_CUDA_CHECK(cudaGraphLaunch(exec, stream.get()));
    KVT_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
    const AttentionRun r = download_outputs(dc, d);
    EXPECT_TRUE(check_attention(d, run_reference(d), r.out, r.lse, gpu_tolerance(d.c)));
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

// Runs the current test's graph cases: make_plan(i, rng) draws case i's plan from
// its own seeded stream, then the plan is captured once and replayed 4 times.
template <class MakePlan>
void run_graph_cases(int count, MakePlan make_plan) {
  const std::string test = current_test_name();
  for (int i = 0; i < count; ++i) {
    if (!case_selected(i)) continue;
    const uint64_t seed = case_seed(test, i);
    Rng rng(seed);
    const GraphPlan plan = make_plan(i, rng);
    SCOPED_TRACE("graph case " + std::to_string(i) + " (seed " + hex(seed) + "), base: " + plan.base.describe() +
                 "\n  " + replay_hint(test, i));
    run_graph_replays(plan, rng, 4);
  }
}

TEST(GpuAttentionGraph, DecodeBatchReplaysWithChangingLengths) {
  KVT_REQUIRE_GPU();
  run_graph_cases(case_count(4, 2), [](int i, Rng& rng) {
    GraphPlan plan;
    plan.base = base_case(rng);
    plan.base.num_splits = (i % 2) ? 3 : 0;
    const int batch = rng.uniform_int(4, 12);
    plan.max_seqlen_q = 1;
    plan.max_seqlen_k = 3000;
    plan.q_rows = batch + 2;
    plan.lengths = [batch](Rng& r) {
      std::vector<SeqLens> s;
      for (int b = 0; b < batch; ++b)
        s.push_back({r.chance(0.1) ? 0 : 1, r.chance(0.1) ? 0 : r.uniform_int(1, 3000)});  // q_len 0 = padded slot
      return s;
    };
    return plan;
  });
}

TEST(GpuAttentionGraph, MixedBatchReplaysWithChangingLengths) {
  KVT_REQUIRE_GPU();
  run_graph_cases(case_count(4, 2), [](int i, Rng& rng) {
    GraphPlan plan;
    plan.base = base_case(rng);
    plan.base.num_splits = (i % 2) ? 0 : 7;
    const int batch = rng.uniform_int(6, 12);
    plan.max_seqlen_q = 256;
    plan.max_seqlen_k = 2048;
    plan.q_rows = 3 * 256 + batch;
    plan.lengths = [batch](Rng& r) {
      // Up to 3 long chunks at random positions, the rest decodes / spec / empty.
      std::vector<SeqLens> s;
      int chunks = 0;
      for (int b = 0; b < batch; ++b) {
        if (chunks < 3 && r.chance(0.3)) {
          ++chunks;
          const int q = r.uniform_int(17, 256);
          s.push_back({q, r.uniform_int(q, 2048)});
        } else if (r.chance(0.2)) {
          const int q = r.uniform_int(2, 16);
          s.push_back({q, r.uniform_int(q, 2048)});
        } else {
          s.push_back({r.chance(0.1) ? 0 : 1, r.uniform_int(0, 2048)});
          if (s.back().kv_len == 0 && r.chance(0.5)) s.back().kv_len = 1;
        }
      }
      return s;
    };
    return plan;
  });
}

}  // namespace
}  // namespace kvtest
