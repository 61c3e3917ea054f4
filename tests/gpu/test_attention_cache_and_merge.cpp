// CUDA cache write and merge vs the float64 reference (docs/semantics.md S6, S7).
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "common/cache_write_case.h"
#include "common/merge_case.h"
#include "common/sampled_cases.h"
#include "common/test_env.h"
#include "gpu/test_attention_support.h"

namespace kvtest {
namespace {

using kvattn::DType;
using kvattn::KvCacheDType;

template <size_t N>
std::array<void*, N> upload_all(const std::array<std::vector<uint8_t>, N>& host, std::array<DeviceMemory, N>& mem) {
  std::array<void*, N> p{};
  for (size_t i = 0; i < N; ++i) {
    if (host[i].empty()) continue;
    mem[i] = DeviceMemory(host[i].size());
    p[i] = mem[i].get();
    KVT_CUDA_CHECK(cudaMemcpy(p[i], host[i].data(), host[i].size(), cudaMemcpyHostToDevice));
  }
  return p;
}

::testing::AssertionResult run_gpu_cache_write(const CacheWriteCase& c) {
  const CacheWriteData d = build_cache_write_case(c);
  const std::vector<uint8_t> expected = expected_cache(d);
  std::array<DeviceMemory, kCwNumBuffers> mem;
  const auto p = upload_all(d.host, mem);
  Stream stream;
  kvattn::CacheWriteArgs a = bind_cache_write_args(d, p, cuda_device());
  a.stream = stream.get();
  kvattn::reshape_and_cache_flash(a);
  KVT_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  std::vector<uint8_t> got(d.host[kCwCache].size());
  KVT_CUDA_CHECK(cudaMemcpy(got.data(), p[kCwCache], got.size(), cudaMemcpyDeviceToHost));
  return check_cache_write(d, expected, got);
}

::testing::AssertionResult run_gpu_merge(const MergeCase& c) {
  const MergeData d = build_merge_case(c);
  std::array<DeviceMemory, kMNumBuffers> mem;
  const auto p = upload_all(d.host, mem);  // outputs arrive poisoned
  Stream stream;
  kvattn::MergeArgs a = bind_merge_args(d, p, cuda_device());
  a.stream = stream.get();
  kvattn::merge_attn_states(a);
  KVT_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  std::vector<uint8_t> out(d.host[kMOut].size()), lse(d.host[kMOutLse].size());
  KVT_CUDA_CHECK(cudaMemcpy(out.data(), p[kMOut], out.size(), cudaMemcpyDeviceToHost));
  if (c.with_out_lse) KVT_CUDA_CHECK(cudaMemcpy(lse.data(), p[kMOutLse], lse.size(), cudaMemcpyDeviceToHost));
  return check_merge(d, out, lse);
}

TEST(GpuCacheWrite, RandomCases) {
  KVT_REQUIRE_GPU();
  run_sampled_cases<CacheWriteCase>(case_count(60, 4), sample_cache_write_case, run_gpu_cache_write,
                                    [](int, CacheWriteCase&) {});
}

TEST(GpuCacheWrite, EveryDtypePairWithSaturationAndNaN) {
  KVT_REQUIRE_GPU();
  const DType srcs[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};
  const KvCacheDType caches[] = {KvCacheDType::kAuto, KvCacheDType::kFp8E4M3, KvCacheDType::kFp8E5M2};
  run_sampled_cases<CacheWriteCase>(case_count(18, 9), sample_cache_write_case, run_gpu_cache_write,
                                    [&](int i, CacheWriteCase& c) {
                                      c.src_dtype = srcs[i % 3];
                                      c.kv_cache_dtype = caches[(i / 3) % 3];
                                      c.cache_as_uint8 = c.kv_cache_dtype != KvCacheDType::kAuto && i >= 9;
                                      c.huge_chance = 0.1;
                                      c.nan_chance = 0.03;
                                      c.skip_chance = 0.2;
                                    });
}

TEST(GpuMerge, RandomCases) {
  KVT_REQUIRE_GPU();
  run_sampled_cases<MergeCase>(case_count(40, 4), sample_merge_case, run_gpu_merge, [](int, MergeCase&) {});
}

TEST(GpuMerge, InfiniteLsesEveryDtype) {
  KVT_REQUIRE_GPU();
  const DType dtypes[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};
  run_sampled_cases<MergeCase>(case_count(9, 3), sample_merge_case, run_gpu_merge, [&](int i, MergeCase& c) {
    c.dtype = dtypes[i % 3];
    c.special_chance = 1.0;
    c.num_tokens = std::max(c.num_tokens, 8);
  });
}

}  // namespace
}  // namespace kvtest
