// CPU cache write (vLLM's reshape_and_cache_flash, docs/semantics.md S6):
// cache[slot] = fp8_saturate(x / scale) per head, or a plain copy for `auto`.
#include <cstring>
#include <vector>

#include "core/backends.h"
#include "cpu/bounds.h"
#include "cpu/row_convert.h"
#include "kvattn/fp8.h"

namespace kvattn {

namespace {

// One [D] row of one head: decode, then quantize or convert into the cache.
void write_head_row(const CacheWriteProblem& p, const void* src, void* dst, const float* scale, float* tmp) {
  const int D = p.head_dim;
  if (!is_fp8(p.cache_dtype)) {
    if (p.cache_dtype == p.src_dtype) {
      std::memcpy(dst, src, static_cast<size_t>(D) * static_cast<size_t>(dtype_size(p.src_dtype)));
    } else {
      cpu::decode_row(cpu::RowDecoder{p.src_dtype, nullptr}, src, tmp, D);
      cpu::encode_row(p.cache_dtype, tmp, dst, D);
    }
    return;
  }
  cpu::decode_row(cpu::RowDecoder{p.src_dtype, nullptr}, src, tmp, D);
  const float s = scale ? *scale : 1.0f;  // validation requires scales for fp8; be safe
  uint8_t* out = static_cast<uint8_t*>(dst);
  // Division (not a reciprocal multiply) in fp32, as the semantics state.
  if (p.cache_dtype == DType::kFloat8E5M2) {
    for (int d = 0; d < D; ++d) out[d] = fp8::float_to_e5m2(tmp[d] / s, true);
  } else {
    for (int d = 0; d < D; ++d) out[d] = fp8::float_to_e4m3(tmp[d] / s, true);
  }
}

}  // namespace

void cpu_cache_write(const CacheWriteProblem& p) {
  cpu::check_cache_write_bounds(p);  // throws before anything is written
  const int src_bytes = dtype_size(p.src_dtype);
  const int cache_bytes = dtype_size(p.cache_dtype);
  const unsigned char* key = static_cast<const unsigned char*>(p.key);
  const unsigned char* value = static_cast<const unsigned char*>(p.value);
  unsigned char* key_cache = static_cast<unsigned char*>(p.key_cache);
  unsigned char* value_cache = static_cast<unsigned char*>(p.value_cache);
#pragma omp parallel if (p.num_tokens * p.num_kv_heads * p.head_dim > (1 << 16))
  {
    std::vector<float> tmp(static_cast<size_t>(p.head_dim));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < p.num_tokens; ++t) {
      const int64_t slot = p.slot_mapping[t];
      if (slot < 0) continue;  // padding token
      const int64_t block = slot / p.page_size;
      const int64_t offset = slot % p.page_size;
      for (int64_t h = 0; h < p.num_kv_heads; ++h) {
        const void* k_src = key + (t * p.key_stride_token + h * p.key_stride_head) * src_bytes;
        const void* v_src = value + (t * p.value_stride_token + h * p.value_stride_head) * src_bytes;
        void* k_dst = key_cache + (block * p.kc_stride_block + offset * p.kc_stride_token + h * p.kc_stride_head) *
                                      cache_bytes;
        void* v_dst = value_cache +
                      (block * p.vc_stride_block + offset * p.vc_stride_token + h * p.vc_stride_head) * cache_bytes;
        write_head_row(p, k_src, k_dst, p.k_scale ? p.k_scale + h * p.k_scale_stride : nullptr, tmp.data());
        write_head_row(p, v_src, v_dst, p.v_scale ? p.v_scale + h * p.v_scale_stride : nullptr, tmp.data());
      }
    }
  }
}

}  // namespace kvattn
