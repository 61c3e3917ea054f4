// Every rejected cache-write input: the error's code, that it names the
// argument, and that neither cache was touched.
#include <gtest/gtest.h>

#include <vector>

#include "contract/contract_fixtures.h"
#include "core/validate.h"
#include "kvattn/cache.h"

namespace contract {
namespace {

using kvattn::KvCacheDType;

TEST(ContractCacheWrite, ParseKvCacheDType) {
  EXPECT_EQ(kvattn::parse_kv_cache_dtype("auto"), KvCacheDType::kAuto);
  EXPECT_EQ(kvattn::parse_kv_cache_dtype("fp8"), KvCacheDType::kFp8E4M3);
  EXPECT_EQ(kvattn::parse_kv_cache_dtype("fp8_e4m3"), KvCacheDType::kFp8E4M3);
  EXPECT_EQ(kvattn::parse_kv_cache_dtype("fp8_e5m2"), KvCacheDType::kFp8E5M2);
}

TEST(ContractCacheWrite, ParseKvCacheDTypeRejectsUnknown) {
  for (const char* bad : {"", "FP8", "fp16", "bfloat16", "fp8_e4m3fn ", "int8"})
    expect_error([&] { kvattn::parse_kv_cache_dtype(bad); }, kArg, "kv_cache_dtype", "auto, fp8, fp8_e4m3, fp8_e5m2");
}

TEST(ContractCacheWrite, UnknownKvCacheDTypeValue) {
  CacheWriteCase c;
  c.args.kv_cache_dtype = static_cast<KvCacheDType>(9);
  EXPECT_REJECTED(c, kArg, "kv_cache_dtype", "9");
}

TEST(ContractCacheWrite, KeyMissing) {
  CacheWriteCase c;
  c.args.key = TensorView();
  EXPECT_REJECTED(c, kArg, "key", "none");
}

TEST(ContractCacheWrite, KeyWrongRank) {
  CacheWriteCase c;
  c.args.key = TensorView::contiguous(c.key.data(), DType::kFloat32, {5, 128});
  EXPECT_REJECTED(c, kArg, "key", "[T, Hkv, D]");
}

TEST(ContractCacheWrite, KeyWrongDtype) {
  CacheWriteCase c;
  c.args.key.dtype = DType::kFloat8E4M3;
  EXPECT_REJECTED(c, kDType, "key", "float32, float16 or bfloat16");
}

TEST(ContractCacheWrite, KeyLastDimNotContiguous) {
  CacheWriteCase c;
  c.args.key.stride[2] = 2;
  EXPECT_REJECTED(c, kArg, "key", "last-dim stride 1");
}

TEST(ContractCacheWrite, ValueDtypeDiffers) {
  CacheWriteCase c;
  c.args.value.dtype = DType::kBFloat16;
  EXPECT_REJECTED(c, kDType, "value", "key's dtype");
}

TEST(ContractCacheWrite, ValueShapeDiffers) {
  CacheWriteCase c;
  c.args.value.shape[0] = 4;
  EXPECT_REJECTED(c, kArg, "value", "key's shape");
}

TEST(ContractCacheWrite, KeyCacheWrongRank) {
  CacheWriteCase c;
  c.args.key_cache = TensorView::contiguous(c.key_cache.data(), DType::kFloat8E4M3, {12, 2, 64});
  EXPECT_REJECTED(c, kArg, "key_cache", "[num_blocks, page_size, Hkv, D]");
}

TEST(ContractCacheWrite, KeyCacheHeadsDiffer) {
  CacheWriteCase c;
  c.args.key_cache = TensorView::contiguous(c.key_cache.data(), DType::kFloat8E4M3, {3, 8, 1, 64});
  EXPECT_REJECTED(c, kArg, "key_cache", "Hkv and D of key");
}

TEST(ContractCacheWrite, ValueCacheHeadDimDiffers) {
  CacheWriteCase c;
  c.args.value_cache = TensorView::contiguous(c.value_cache.data(), DType::kFloat8E4M3, {3, 2, 2, 128});
  EXPECT_REJECTED(c, kArg, "value_cache", "Hkv and D of key");
}

TEST(ContractCacheWrite, ValueCacheShapeDiffersFromKeyCache) {
  CacheWriteCase c;
  c.args.value_cache.shape[0] = 2;
  EXPECT_REJECTED(c, kArg, "value_cache", "key_cache's shape");
}

TEST(ContractCacheWrite, CacheLastDimNotContiguous) {
  CacheWriteCase c;
  c.args.key_cache.stride[3] = 2;
  EXPECT_REJECTED(c, kArg, "key_cache", "last-dim stride 1");
}

TEST(ContractCacheWrite, CachePageSizeZero) {
  CacheWriteCase c;
  c.args.key_cache.shape[1] = 0;
  c.args.value_cache.shape[1] = 0;
  EXPECT_REJECTED(c, kArg, "key_cache", "page_size");
}

TEST(ContractCacheWrite, AutoNeedsCacheOfKeyDtype) {
  CacheWriteCase c;
  c.args.kv_cache_dtype = KvCacheDType::kAuto;  // fp32 key into an e4m3 cache
  EXPECT_REJECTED(c, kDType, "key_cache", "key's dtype");
}

TEST(ContractCacheWrite, Fp8FormatMismatch) {
  CacheWriteCase c;
  c.args.kv_cache_dtype = KvCacheDType::kFp8E5M2;  // cache views say e4m3
  EXPECT_REJECTED(c, kDType, "key_cache", "float8_e5m2 or uint8");
}

TEST(ContractCacheWrite, ValueCacheDtypeDiffers) {
  CacheWriteCase c;
  c.args.value_cache.dtype = DType::kUInt8;
  EXPECT_REJECTED(c, kDType, "value_cache", "key_cache's dtype");
}

TEST(ContractCacheWrite, SlotMappingWrongDtype) {
  CacheWriteCase c;
  c.args.slot_mapping.dtype = DType::kInt32;
  EXPECT_REJECTED(c, kDType, "slot_mapping", "int64");
}

TEST(ContractCacheWrite, SlotMappingWrongRank) {
  CacheWriteCase c;
  c.args.slot_mapping = TensorView::contiguous(c.slot_mapping.data(), DType::kInt64, {5, 1});
  EXPECT_REJECTED(c, kArg, "slot_mapping", "rank-1");
}

TEST(ContractCacheWrite, SlotMappingLongerThanKey) {
  std::vector<int64_t> slots(6, -1);
  CacheWriteCase c;
  c.args.slot_mapping = TensorView::contiguous(slots.data(), DType::kInt64, {6});
  EXPECT_REJECTED(c, kArg, "slot_mapping", "at most T = 5");
}

TEST(ContractCacheWrite, SlotMappingNotContiguous) {
  CacheWriteCase c;
  c.args.slot_mapping = TensorView::strided(c.slot_mapping.data(), DType::kInt64, {2}, {2});
  EXPECT_REJECTED(c, kArg, "slot_mapping", "stride 1");
}

TEST(ContractCacheWrite, Fp8NeedsScales) {
  {
    CacheWriteCase c;
    c.args.k_scale = TensorView();
    EXPECT_REJECTED(c, kArg, "k_scale", "required");
  }
  {
    CacheWriteCase c;
    c.args.v_scale = TensorView();
    EXPECT_REJECTED(c, kArg, "v_scale", "required");
  }
}

TEST(ContractCacheWrite, ScaleWrongShape) {
  std::vector<float> scale(3, 1.0f);
  {
    CacheWriteCase c;  // Hkv = 2: [3] is neither one element nor per head
    c.args.k_scale = TensorView::contiguous(scale.data(), DType::kFloat32, {3});
    EXPECT_REJECTED(c, kArg, "k_scale", "[Hkv] = [2]");
  }
  {
    CacheWriteCase c;
    c.args.v_scale = TensorView::contiguous(scale.data(), DType::kFloat32, {1, 2});
    EXPECT_REJECTED(c, kArg, "v_scale", "one element");
  }
}

TEST(ContractCacheWrite, ScaleWrongDtype) {
  std::vector<uint16_t> scale(2, 0);
  CacheWriteCase c;
  c.args.v_scale = TensorView::contiguous(scale.data(), DType::kFloat16, {2});
  EXPECT_REJECTED(c, kDType, "v_scale", "float32");
}

TEST(ContractCacheWrite, ScaleOnOtherDevice) {
  CacheWriteCase c;
  c.args.k_scale.device = kCuda0;
  EXPECT_REJECTED(c, kArg, "k_scale", "cuda:0");
}

TEST(ContractCacheWrite, CacheOnOtherDevice) {
  CacheWriteCase c;
  c.args.value_cache.device = kCuda0;
  EXPECT_REJECTED(c, kArg, "value_cache", "expected device cpu (key's device), got cuda:0");
}

TEST(ContractCacheWrite, CudaBackendForcedOnCpuTensors) {
  CacheWriteCase c;
  c.args.backend = Backend::kCudaPortable;
  EXPECT_REJECTED(c, kArg, "backend");
}

// ---- accepted forms (validation only) ----

TEST(ContractCacheWrite, AcceptsUint8CacheAsNamedFp8) {
  CacheWriteCase c;
  c.args.kv_cache_dtype = KvCacheDType::kFp8E5M2;
  c.args.key_cache.dtype = DType::kUInt8;
  c.args.value_cache.dtype = DType::kUInt8;
  const kvattn::CacheWriteProblem p = kvattn::make_cache_write_problem(c.args);
  EXPECT_EQ(p.cache_dtype, DType::kFloat8E5M2);
  EXPECT_EQ(p.src_dtype, DType::kFloat32);
}

TEST(ContractCacheWrite, ScaleStrides) {
  CacheWriteCase c;  // k_scale [1] serves every head; v_scale [Hkv] is per head
  kvattn::CacheWriteProblem p = kvattn::make_cache_write_problem(c.args);
  EXPECT_EQ(p.k_scale, c.k_scale.data());
  EXPECT_EQ(p.k_scale_stride, 0);
  EXPECT_EQ(p.v_scale, c.v_scale.data());
  EXPECT_EQ(p.v_scale_stride, 1);
  c.args.k_scale = TensorView::contiguous(c.k_scale.data(), DType::kFloat32, {});  // rank 0
  p = kvattn::make_cache_write_problem(c.args);
  EXPECT_EQ(p.k_scale_stride, 0);
}

TEST(ContractCacheWrite, AutoIgnoresScales) {
  std::vector<float> cache(3 * 4 * 2 * 64, 0.0f);
  std::vector<float> bad_scale(7, 1.0f);
  CacheWriteCase c;
  c.args.kv_cache_dtype = KvCacheDType::kAuto;
  c.args.key_cache = TensorView::contiguous(cache.data(), DType::kFloat32, {3, 4, 2, 64});
  c.args.value_cache = c.args.key_cache;
  c.args.k_scale = TensorView::contiguous(bad_scale.data(), DType::kFloat32, {7});
  c.args.v_scale = TensorView();
  const kvattn::CacheWriteProblem p = kvattn::make_cache_write_problem(c.args);
  EXPECT_EQ(p.cache_dtype, DType::kFloat32);
  EXPECT_EQ(p.k_scale, nullptr);
  EXPECT_EQ(p.v_scale, nullptr);
}

TEST(ContractCacheWrite, ShorterSlotMappingAndStridedKey) {
  std::vector<float> key(5 * 3 * 64, 0.0f);
  CacheWriteCase c;  // key rows with a padded token stride; only 3 of 5 tokens written
  c.args.key = TensorView::strided(key.data(), DType::kFloat32, {5, 2, 64}, {3 * 64, 64, 1});
  c.args.slot_mapping.shape[0] = 3;
  const kvattn::CacheWriteProblem p = kvattn::make_cache_write_problem(c.args);
  EXPECT_EQ(p.num_tokens, 3);
  EXPECT_EQ(p.key_stride_token, 3 * 64);
  EXPECT_EQ(p.page_size, 4);
  EXPECT_EQ(p.num_blocks, 3);
  EXPECT_EQ(p.backend, Backend::kCpu);
}

}  // namespace
}  // namespace contract
