// 64-bit offsets (docs/semantics.md S8): caches with more than 2^31 elements
// per tensor, where only a few blocks at the far end are used. The rest of
// the allocation holds NaN codes, so a truncated offset reads NaN.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "common/attention_check.h"
#include "common/cache_write_case.h"
#include "common/test_env.h"
#include "gpu/test_attention_support.h"

namespace kvtest {
namespace {

using kvattn::DType;

// page 16 x 8 kv heads x D 128 = 2^14 elements per block per tensor; this
// many blocks makes each of K and V 2^31 + 2^24 elements (block-interleaved:
// one 4.3 GB allocation, element offsets up to ~2^32).
constexpr int kPage = 16, kKvHeads = 8, kDim = 128;
constexpr int64_t kBigBlocks = (int64_t{1} << 17) + 1024;

TEST(GpuAttentionLargeCache, UsedBlocksBeyond2Pow31Elements) {
  KVT_REQUIRE_GPU();
  const std::string test = current_test_name();
  const int count = case_count(2, 1);
  for (int i = 0; i < count; ++i) {
    if (!case_selected(i)) continue;
    const uint64_t seed = case_seed(test, i);
    Rng rng(seed);
    AttentionCase c;
    c.seqs = {{1, 700}, {40, 500}, {5, 300}, {200, 1000}};  // decode, chunk, spec, prefill-family chunk
    c.num_q_heads = 32;
    c.num_kv_heads = kKvHeads;
    c.head_dim = kDim;
    c.q_dtype = DType::kBFloat16;
    c.kv_dtype = DType::kFloat8E4M3;
    c.descale = DescaleKind::kPerSeqHead;
    c.page_size = kPage;
    c.kv_packing = KvPacking::kBlockInterleaved;
    c.causal = true;
    c.num_splits = (i % 2) ? 3 : 0;
    c.seed = rng.next_u64();
    SCOPED_TRACE("case " + std::to_string(i) + ": " + c.describe() + "\n  " + replay_hint(test, i));

    const AttentionCaseData d = build_attention_case(c);
    const int64_t block_bytes = d.l.kv_stride_block;  // 1-byte elements, K and V rows of one block
    const int64_t base = kBigBlocks - d.l.num_blocks;  // used blocks sit at the very end

    // Device copy: the case's blocks moved to [base, kBigBlocks), table shifted.
    AttentionCaseData dev = d;
    dev.l.num_blocks = kBigBlocks;
    dev.host[kKv].clear();
    auto* table = reinterpret_cast<int32_t*>(dev.host[kBlockTable].data());
    for (int64_t e = 0; e < static_cast<int64_t>(c.seqs.size()) * d.l.table_stride; ++e) table[e] += static_cast<int32_t>(base);
    DeviceMemory big(static_cast<size_t>(kBigBlocks * block_bytes));
    KVT_CUDA_CHECK(cudaMemset(big.get(), 0xFF, big.bytes()));  // e4m3 NaN everywhere else
    KVT_CUDA_CHECK(cudaMemcpy(static_cast<uint8_t*>(big.get()) + base * block_bytes, d.host[kKv].data(),
                              static_cast<size_t>(d.l.num_blocks * block_bytes), cudaMemcpyHostToDevice));
    DeviceCase dc = upload_case(dev);
    dc.ptrs[kKv] = big.get();

    Stream stream;
    poison_outputs(dc, dev, stream.get());
    const kvattn::VarlenAttentionArgs a = device_args(dc, dev, stream.get());
    ASSERT_GT(a.k.numel(), int64_t{1} << 31);
    kvattn::varlen_attention_forward(a);
    KVT_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
    const AttentionRun r = download_outputs(dc, dev);
    EXPECT_TRUE(check_attention(d, run_reference(d), r.out, r.lse, gpu_tolerance(c)));
  }
}

TEST(GpuCacheWriteLargeCache, SlotsBeyond2Pow31Elements) {
  KVT_REQUIRE_GPU();
  const uint64_t seed = case_seed(current_test_name(), 0);
  Rng rng(seed);
  CacheWriteCase c;
  c.num_kv_heads = kKvHeads;
  c.head_dim = kDim;
  c.page_size = kPage;
  c.num_blocks = 4;
  c.num_tokens = c.num_slots = 48;
  c.src_dtype = DType::kBFloat16;
  c.kv_cache_dtype = kvattn::KvCacheDType::kFp8E4M3;
  c.per_head_scale = true;
  c.skip_chance = 0.1;
  c.interleaved_cache = true;
  c.seed = rng.next_u64();
  SCOPED_TRACE(c.describe());
  const CacheWriteData d = build_cache_write_case(c);
  const std::vector<uint8_t> expected = expected_cache(d);

  // The case's 4 blocks become the last 4 of a 2^31+-element cache.
  const int64_t block_bytes = d.cache_stride_block;
  const int64_t base = kBigBlocks - c.num_blocks;
  CacheWriteData dev = d;
  dev.c.num_blocks = static_cast<int>(kBigBlocks);
  auto* slots = reinterpret_cast<int64_t*>(dev.host[kCwSlots].data());
  for (int t = 0; t < c.num_slots; ++t)
    if (slots[t] >= 0) slots[t] += base * c.page_size;
  DeviceMemory big(static_cast<size_t>(kBigBlocks * block_bytes));
  uint8_t* far_end = static_cast<uint8_t*>(big.get()) + base * block_bytes;
  KVT_CUDA_CHECK(cudaMemcpy(far_end, d.host[kCwCache].data(), d.host[kCwCache].size(), cudaMemcpyHostToDevice));
  std::array<DeviceMemory, kCwNumBuffers> mem;
  std::array<void*, kCwNumBuffers> p{};
  for (int i = 0; i < kCwNumBuffers; ++i) {
    if (i == kCwCache) continue;
    mem[i] = DeviceMemory(dev.host[i].size());
    p[i] = mem[i].get();
    KVT_CUDA_CHECK(cudaMemcpy(p[i], dev.host[i].data(), dev.host[i].size(), cudaMemcpyHostToDevice));
  }
  p[kCwCache] = big.get();
  kvattn::CacheWriteArgs a = bind_cache_write_args(dev, p, cuda_device());
  ASSERT_GT(a.key_cache.numel(), int64_t{1} << 31);
  kvattn::reshape_and_cache_flash(a);
  KVT_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<uint8_t> got(d.host[kCwCache].size());
  KVT_CUDA_CHECK(cudaMemcpy(got.data(), far_end, got.size(), cudaMemcpyDeviceToHost));
  EXPECT_TRUE(check_cache_write(d, expected, got));
}

}  // namespace
}  // namespace kvtest
