// CUDA backends vs the float64 reference over the attention matrix: every
// path (prefill, chunked prefill, decode, spec-verify, mixed batches), split
// counts, page sizes, dtypes, masks and layouts. Every test skips without a
// device. KVATTN_TEST_REDUCED=1 runs a handful of cases per test;
// KVATTN_TEST_BACKEND=portable|hopper|auto picks the backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "common/attention_case.h"
#include "common/test_env.h"
#include "gpu/test_attention_support.h"

namespace kvtest {
namespace {

using kvattn::DType;

// Larger than the CPU suite (the reference runs multi-threaded on the device
// host); max_work bounds the reference's cost per case.
constexpr double kGpuMaxWork = 1e9;

CaseSpace gpu_space() {
  CaseSpace s;
  s.page_sizes = {1, 16, 32, 64, 128, 256, 7, 13};
  s.max_q_len = 300;
  s.max_kv_len = 2000;
  s.max_batch = 6;
  s.max_work = kGpuMaxWork;
  return s;
}

// A sampled case whose sequences are replaced by `seqs`, then sized to fit.
AttentionCase with_seqs(Rng& rng, std::vector<SeqLens> seqs, const CaseSpace& space = gpu_space()) {
  AttentionCase c = sample_case(space, rng);
  c.seqs = std::move(seqs);
  fit_work(c, space.max_work);
  return c;
}

// ---- Paths ---------------------------------------------------------------

TEST(GpuAttentionPaths, Prefill) {
  KVT_REQUIRE_GPU();
  run_gpu_attention_cases(case_count(16, 3), [](int, Rng& rng) {
    std::vector<SeqLens> seqs;
    const int batch = rng.uniform_int(1, 3);
    for (int b = 0; b < batch; ++b) {
      const int n = rng.uniform_int(17, 1024);
      seqs.push_back({n, n});
    }
    AttentionCase c = with_seqs(rng, seqs);
    if (rng.chance(0.7)) c.causal = true, c.window_right = -1;
    return c;
  });
}

TEST(GpuAttentionPaths, ChunkedPrefill) {
  KVT_REQUIRE_GPU();
  run_gpu_attention_cases(case_count(16, 3), [](int, Rng& rng) {
    std::vector<SeqLens> seqs;
    const int batch = rng.uniform_int(1, 4);
    for (int b = 0; b < batch; ++b) {
      const int q = rng.uniform_int(17, 512);
      seqs.push_back({q, rng.uniform_int(q, 4096)});
    }
    AttentionCase c = with_seqs(rng, seqs);
    if (rng.chance(0.7)) c.causal = true, c.window_right = -1;
    return c;
  });
}

// Short chunks with GQA (q_len 17-64, Hq / Hkv 2-8): the Hopper kernel packs the
// heads of a KV head into one tile's rows here (hopper_pack.h), so masks, sinks,
// LSE and outputs run through its packed row map.
TEST(GpuAttentionPaths, ShortChunksGqa) {
  KVT_REQUIRE_GPU();
  const std::pair<int, int> heads[] = {{8, 2}, {16, 2}, {8, 1}, {32, 8}, {6, 3}};
  run_gpu_attention_cases(case_count(15, 5), [&](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.heads = {heads[i % 5]};
    s.head_dims = {64, 128, 256};  // the Hopper kernel's (others run portable)
    s.sinks_chance = 0.5;
    std::vector<SeqLens> seqs;
    const int batch = rng.uniform_int(1, 6);
    for (int b = 0; b < batch; ++b) {
      const int q = rng.uniform_int(17, 64);
      seqs.push_back({q, rng.uniform_int(q, 3000)});
    }
    AttentionCase c = with_seqs(rng, seqs, s);
    if (rng.chance(0.6)) c.causal = true, c.window_right = -1;
    return c;
  });
}

TEST(GpuAttentionPaths, Decode) {
  KVT_REQUIRE_GPU();
  run_gpu_attention_cases(case_count(16, 3), [](int, Rng& rng) {
    std::vector<SeqLens> seqs;
    const int batch = rng.uniform_int(1, 32);
    for (int b = 0; b < batch; ++b) seqs.push_back({1, rng.chance(0.05) ? 0 : rng.uniform_int(1, 4096)});
    return with_seqs(rng, seqs);
  });
}

TEST(GpuAttentionPaths, SpecVerify) {
  KVT_REQUIRE_GPU();
  run_gpu_attention_cases(case_count(12, 3), [](int, Rng& rng) {
    std::vector<SeqLens> seqs;
    const int batch = rng.uniform_int(1, 16);
    for (int b = 0; b < batch; ++b) {
      const int q = rng.uniform_int(2, 16);
      seqs.push_back({q, rng.uniform_int(q, 3000)});
    }
    AttentionCase c = with_seqs(rng, seqs);
    if (rng.chance(0.7)) c.causal = true, c.window_right = -1;
    return c;
  });
}

// Long chunks and many single-token decodes (plus a few spec-verify rows and
// empty sequences) in one call: both kernel families run and skip each
// other's sequences on the device.
std::vector<SeqLens> mixed_batch(Rng& rng) {
  std::vector<SeqLens> seqs;
  const int chunks = rng.uniform_int(1, 3), decodes = rng.uniform_int(5, 30), specs = rng.uniform_int(0, 3);
  for (int i = 0; i < chunks; ++i) {
    const int q = rng.uniform_int(17, 300);
    seqs.push_back({q, rng.uniform_int(q, 2000)});
  }
  for (int i = 0; i < decodes; ++i) seqs.push_back({1, rng.uniform_int(1, 2000)});
  for (int i = 0; i < specs; ++i) {
    const int q = rng.uniform_int(2, 16);
    seqs.push_back({q, rng.uniform_int(q, 2000)});
  }
  if (rng.chance(0.5)) seqs.push_back({0, rng.uniform_int(0, 100)});
  if (rng.chance(0.5)) seqs.push_back({1, 0});
  rng.shuffle(seqs);
  return seqs;
}

TEST(GpuAttentionPaths, MixedBatch) {
  KVT_REQUIRE_GPU();
  run_gpu_attention_cases(case_count(12, 3), [](int, Rng& rng) {
    AttentionCase c = with_seqs(rng, mixed_batch(rng));
    if (rng.chance(0.8)) c.causal = true, c.window_right = -1;
    return c;
  });
}

TEST(GpuAttentionSplits, HeuristicAndForcedSplitCounts) {
  // 0 = heuristic (workspace from varlen_attention_workspace_size), 1 = none, 3 and 7 forced.
  KVT_REQUIRE_GPU();
  const int splits[] = {0, 1, 3, 7};
  run_gpu_attention_cases(case_count(24, 4), [&](int i, Rng& rng) {
    std::vector<SeqLens> seqs;
    if (i % 3 == 2) {
      seqs = mixed_batch(rng);
    } else {
      const int batch = rng.uniform_int(1, 12);
      for (int b = 0; b < batch; ++b) {
        const int q = (i % 3 == 0) ? 1 : rng.uniform_int(2, 16);
        seqs.push_back({q, rng.uniform_int(q, 4096)});
      }
    }
    AttentionCase c = with_seqs(rng, seqs);
    c.num_splits = splits[i % 4];
    return c;
  });
}

// ---- Matrix dimensions ---------------------------------------------------

TEST(GpuAttentionMatrix, RandomCombinations) {
  KVT_REQUIRE_GPU();
  run_gpu_attention_cases(case_count(80, 4), [](int, Rng& rng) {
    AttentionCase c = sample_case(gpu_space(), rng);
    c.num_splits = rng.pick(std::vector<int>{0, 0, 1, 3, 7});
    return c;
  });
}

TEST(GpuAttentionMatrix, HeadDims) {
  KVT_REQUIRE_GPU();
  const int dims[] = {64, 96, 128, 192, 256};
  run_gpu_attention_cases(case_count(20, 5), [&](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.head_dims = {dims[i % 5]};
    s.kv_dtypes = {(i / 5) % 2 ? DType::kFloat8E4M3 : DType::kFloat32};
    return sample_case(s, rng);
  });
}

TEST(GpuAttentionMatrix, GqaRatios) {
  KVT_REQUIRE_GPU();
  const std::pair<int, int> heads[] = {{4, 4}, {8, 2}, {10, 2}, {16, 1}, {71, 1}, {32, 8}, {64, 8}};
  run_gpu_attention_cases(case_count(21, 7), [&](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.heads = {heads[i % 7]};
    return sample_case(s, rng);
  });
}

TEST(GpuAttentionMatrix, PageSizes) {
  KVT_REQUIRE_GPU();
  const int pages[] = {1, 16, 32, 64, 128, 256, 7, 13};
  run_gpu_attention_cases(case_count(24, 8), [&](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.page_sizes = {pages[i % 8]};
    s.paged = {true};
    s.kv_dtypes = {(i / 8) % 3 == 0 ? DType::kFloat32 : (i / 8) % 3 == 1 ? DType::kFloat8E4M3 : DType::kFloat8E5M2};
    return sample_case(s, rng);
  });
}

// Pages that neither divide nor are multiples of a Hopper KV tile (128 keys; 80 for
// D 256 with 16-bit KV): the Hopper producer loads them with TMA boxes of
// gcd(page, tile) rows, so every tile spans page boundaries at odd offsets.
TEST(GpuAttentionMatrix, PagesThatDoNotDivideTheTile) {
  KVT_REQUIRE_GPU();
  const int pages[] = {24, 32, 48, 64, 96, 160};
  const int dims[] = {64, 128, 256};
  run_gpu_attention_cases(case_count(18, 6), [&](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.page_sizes = {pages[i % 6]};
    s.head_dims = {dims[(i / 2) % 3]};
    s.paged = {true};
    s.kv_dtypes = {i % 2 == 0 ? DType::kFloat32 : DType::kFloat8E4M3};
    s.max_kv_len = 700;
    return sample_case(s, rng);
  });
}

TEST(GpuAttentionMatrix, CausalAndWindows) {
  KVT_REQUIRE_GPU();
  const std::pair<int, int> windows[] = {{-1, 127}, {127, -1}, {64, 64}, {-1, -1}};
  run_gpu_attention_cases(case_count(24, 8), [&](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.windows = {windows[i % 4]};
    s.causal = {(i / 4) % 2 == 1};
    return sample_case(s, rng);
  });
}

TEST(GpuAttentionMatrix, KvDtypesAndDescales) {
  KVT_REQUIRE_GPU();
  const DType kv[] = {DType::kFloat32 /* = q's dtype */, DType::kFloat8E4M3, DType::kFloat8E5M2};
  const DescaleKind descales[] = {DescaleKind::kNone, DescaleKind::kPerTensor, DescaleKind::kPerSeqHead};
  run_gpu_attention_cases(case_count(36, 9), [&](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.kv_dtypes = {kv[i % 3]};
    s.descales = {descales[(i / 3) % 3]};
    s.q_dtypes = {(i / 9) % 2 ? DType::kFloat16 : DType::kBFloat16};
    return sample_case(s, rng);
  });
}

TEST(GpuAttentionMatrix, SoftcapAndSinks) {
  KVT_REQUIRE_GPU();
  run_gpu_attention_cases(case_count(16, 4), [](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.softcap_chance = (i % 2) ? 1.0 : 0.0;
    s.sinks_chance = (i / 2) % 2 ? 1.0 : 0.0;
    AttentionCase c = sample_case(s, rng);
    const DType sink_dtypes[] = {DType::kFloat32, DType::kBFloat16, DType::kFloat16};
    c.sinks_dtype = sink_dtypes[(i / 4) % 3];
    return c;
  });
}

// ---- Layouts and lengths -------------------------------------------------

TEST(GpuAttentionLayouts, ContiguousVarlenKv) {
  KVT_REQUIRE_GPU();
  run_gpu_attention_cases(case_count(12, 3), [](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.paged = {false};
    AttentionCase c = (i % 2) ? with_seqs(rng, mixed_batch(rng), s) : sample_case(s, rng);
    c.paged = false;
    return c;
  });
}

TEST(GpuAttentionLayouts, NonContiguousStridesAndInterleavedKv) {
  KVT_REQUIRE_GPU();
  run_gpu_attention_cases(case_count(15, 3), [](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.strided_chance = 1.0;
    AttentionCase c = sample_case(s, rng);
    cycle_kv_packing(c, i);
    return c;
  });
}

TEST(GpuAttentionLayouts, RepeatedAndOutOfOrderBlocks) {
  KVT_REQUIRE_GPU();
  run_gpu_attention_cases(case_count(12, 3), [](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.paged = {true};
    s.repeated_blocks_chance = 1.0;
    s.min_batch = 2;
    AttentionCase c = (i % 2) ? with_seqs(rng, mixed_batch(rng), s) : sample_case(s, rng);
    c.paged = true;
    c.block_table = BlockTableKind::kRepeated;
    return c;
  });
}

TEST(GpuAttentionLayouts, MaxSeqlenHintsAboveRealLengths) {
  KVT_REQUIRE_GPU();
  run_gpu_attention_cases(case_count(12, 3), [](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    AttentionCase c = (i % 2) ? with_seqs(rng, mixed_batch(rng), s) : sample_case(s, rng);
    c.extra_max_seqlen_q = rng.uniform_int(1, 600);
    c.extra_max_seqlen_k = rng.uniform_int(1, 5000);
    return c;
  });
}

TEST(GpuAttentionLayouts, UnusedKvSlotsHoldNaN) {
  // Slots past each sequence's length, unused blocks and inter-head padding
  // hold NaN: loading them and multiplying by p = 0 (or by a masked score)
  // still produces NaN, so kernels must not let them reach the output.
  KVT_REQUIRE_GPU();
  run_gpu_attention_cases(case_count(16, 4), [](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.strided_chance = 0.5;
    AttentionCase c = (i % 2) ? with_seqs(rng, mixed_batch(rng), s) : sample_case(s, rng);
    c.poison_unused_kv = true;
    c.extra_blocks = 2;
    c.num_splits = rng.pick(std::vector<int>{0, 3, 7});
    return c;
  });
}

TEST(GpuAttentionLengths, EdgeCases) {
  KVT_REQUIRE_GPU();
  const std::vector<std::vector<SeqLens>> patterns = {
      {{0, 0}},
      {{0, 50}, {0, 1}},
      {{3, 0}, {1, 0}, {20, 0}},
      {{1, 1}},
      {{1, 1}, {1, 0}, {1, 2}, {2, 1}},
      {{16, 16}, {17, 17}, {15, 3000}},         // family boundary (q_len 16 | 17)
      {{50, 10}, {5, 1}, {9, 3}, {40, 0}},      // q_len > kv_len
      {{0, 0}, {64, 2000}, {0, 0}, {1, 0}, {1, 33}},
      {{129, 129}, {1, 4097}, {2, 1025}},       // tile +-1 sizes
  };
  run_gpu_attention_cases(case_count(static_cast<int>(2 * patterns.size()), 9), [&](int i, Rng& rng) {
    CaseSpace s = gpu_space();
    s.max_work = 1e12;  // the pattern sets the size
    AttentionCase c = with_seqs(rng, patterns[i % patterns.size()], s);
    c.causal = (i / patterns.size()) % 2 == 1;
    if (c.causal && c.window_right > 0) c.window_right = -1;
    c.num_splits = rng.pick(std::vector<int>{0, 3, 7});
    return c;
  });
}

}  // namespace
}  // namespace kvtest
