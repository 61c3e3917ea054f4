// Randomized cache-write (reshape_and_cache_flash) cases: description, host
// buffers, argument binding over host or device pointers, and a checker
// against the float64 reference (docs/semantics.md S6).
#pragma once
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/rng.h"
#include "kvattn/cache.h"

namespace kvtest {

struct CacheWriteCase {
  int num_tokens = 8;  // T (rows of key/value)
  int num_slots = 8;   // T' <= T (length of slot_mapping)
  int num_kv_heads = 2;
  int head_dim = 64;
  int page_size = 16;
  int num_blocks = 4;
  kvattn::DType src_dtype = kvattn::DType::kBFloat16;          // fp32 / fp16 / bf16
  kvattn::KvCacheDType kv_cache_dtype = kvattn::KvCacheDType::kFp8E4M3;
  bool cache_as_uint8 = false;  // fp8 cache passed as a uint8 view
  bool per_head_scale = false;
  double skip_chance = 0.2;     // slots set to -1
  int src_token_padding = 0;    // elements between key rows beyond Hkv * head stride
  int src_head_padding = 0;
  bool interleaved_cache = false;  // key/value caches as [blocks, 2, page, Hkv, D]
  int cache_head_padding = 0;
  double huge_chance = 0.0;  // inputs far beyond the fp8 range, and +-inf (saturation)
  double nan_chance = 0.0;   // NaN inputs (must stay NaN)
  uint64_t seed = 0;

  kvattn::DType cache_dtype() const;  // element type stored in the cache
  std::string describe() const;
};

enum CacheBufferId : int { kCwKey, kCwValue, kCwCache, kCwSlots, kCwKScale, kCwVScale, kCwNumBuffers };

struct CacheWriteData {
  CacheWriteCase c;
  int64_t key_stride_token = 0, key_stride_head = 0;  // key and value alike
  int64_t cache_stride_block = 0, cache_stride_token = 0, cache_stride_head = 0;
  int64_t value_cache_offset = 0;  // elements: value cache inside the kCwCache buffer
  std::array<std::vector<uint8_t>, kCwNumBuffers> host;  // kCwCache holds the prior cache contents
};

CacheWriteCase sample_cache_write_case(Rng& rng);
CacheWriteData build_cache_write_case(const CacheWriteCase& c);
kvattn::CacheWriteArgs bind_cache_write_args(const CacheWriteData& d, const std::array<void*, kCwNumBuffers>& p,
                                             kvattn::Device device);
// The cache buffer after the write, per the reference.
std::vector<uint8_t> expected_cache(const CacheWriteData& d);
// Byte equality, except that a NaN code may be any NaN code of the format.
::testing::AssertionResult check_cache_write(const CacheWriteData& d, const std::vector<uint8_t>& expected,
                                             const std::vector<uint8_t>& got);

}  // namespace kvtest
