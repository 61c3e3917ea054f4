// Cache write (vLLM's reshape_and_cache_flash) with optional FP8 quantization.
#pragma once
#include <string>

#include "kvattn/attention.h"
#include "kvattn/tensor.h"

namespace kvattn {

enum class KvCacheDType : int { kAuto, kFp8E4M3, kFp8E5M2 };

// "auto", "fp8" (= e4m3), "fp8_e4m3", "fp8_e5m2"; throws naming kv_cache_dtype otherwise.
KvCacheDType parse_kv_cache_dtype(const std::string& name);

struct CacheWriteArgs {
  TensorView key;          // [T, Hkv, D], fp32/fp16/bf16, any row/head stride, last dim contiguous
  TensorView value;        // [T, Hkv, D], same dtype as key
  TensorView key_cache;    // [num_blocks, page_size, Hkv, D], any strides, last dim contiguous
  TensorView value_cache;  // same shape as key_cache
  TensorView slot_mapping; // int64 [T'] with T' <= T; slot < 0 skipped
  KvCacheDType kv_cache_dtype = KvCacheDType::kAuto;  // auto: cache dtype == key dtype, plain copy
  TensorView k_scale;      // fp32 [1] or [Hkv]; required for fp8
  TensorView v_scale;
  Backend backend = Backend::kAuto;
  void* stream = nullptr;
};

// cache[slot] = fp8_saturate(x / scale) (round to nearest even, NaN stays NaN),
// or a plain copy for kv_cache_dtype auto.
void reshape_and_cache_flash(const CacheWriteArgs& args);

}  // namespace kvattn
