// Float64 reference of the cache write (docs/semantics.md S6): applies the
// write to a host copy of the caches.
#pragma once
#include <cstdint>

#include "reference/ref_formats.h"

namespace kvref {

struct RefCacheWriteInput {
  int64_t num_tokens = 0;  // T' = slot_mapping length
  int num_kv_heads = 0;
  int head_dim = 0;
  int page_size = 0;
  Format src_format = Format::kBF16;
  const void* key = nullptr;  // (t, h, d) at key[t * key_stride_token + h * key_stride_head + d]
  const void* value = nullptr;
  int64_t key_stride_token = 0, key_stride_head = 0;
  int64_t value_stride_token = 0, value_stride_head = 0;
  const int64_t* slot_mapping = nullptr;
  // Cache elements of cache_format; copy (no scaling) when cache_format == src_format.
  Format cache_format = Format::kE4M3;
  bool quantize = true;  // false: kv_cache_dtype auto, a plain bit copy
  int64_t kc_stride_block = 0, kc_stride_token = 0, kc_stride_head = 0;
  int64_t vc_stride_block = 0, vc_stride_token = 0, vc_stride_head = 0;
  const float* k_scale = nullptr;  // head h at k_scale[h * k_scale_stride]
  const float* v_scale = nullptr;
  int64_t k_scale_stride = 0, v_scale_stride = 0;
};

// Writes the expected codes into key_cache / value_cache (host buffers that
// already hold the caches' prior contents).
void reference_cache_write(const RefCacheWriteInput& in, void* key_cache, void* value_cache);

}  // namespace kvref
