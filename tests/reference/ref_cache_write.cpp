#include "reference/ref_cache_write.h"

namespace kvref {

namespace {

void write_one(const RefCacheWriteInput& in, const void* src, int64_t src_st, int64_t src_sh, void* cache,
               int64_t c_sb, int64_t c_st, int64_t c_sh, const float* scale, int64_t scale_stride, int64_t t,
               int64_t slot) {
  const int64_t block = slot / in.page_size;
  const int64_t row = slot % in.page_size;
  for (int h = 0; h < in.num_kv_heads; ++h) {
    const int64_t src_base = t * src_st + h * src_sh;
    const int64_t dst_base = block * c_sb + row * c_st + h * c_sh;
    for (int d = 0; d < in.head_dim; ++d) {
      const uint32_t bits = load_bits(in.src_format, src, src_base + d);
      uint32_t code = bits;
      if (in.quantize) {
        // The division happens in fp32 (S6); its float result is exact in double.
        const float x = static_cast<float>(decode_bits(in.src_format, bits));
        const float scaled = x / scale[h * scale_stride];
        code = encode_bits(in.cache_format, static_cast<double>(scaled), /*saturate=*/true);
      }
      store_bits(in.cache_format, cache, dst_base + d, code);
    }
  }
}

}  // namespace

void reference_cache_write(const RefCacheWriteInput& in, void* key_cache, void* value_cache) {
  for (int64_t t = 0; t < in.num_tokens; ++t) {
    const int64_t slot = in.slot_mapping[t];
    if (slot < 0) continue;
    write_one(in, in.key, in.key_stride_token, in.key_stride_head, key_cache, in.kc_stride_block, in.kc_stride_token,
              in.kc_stride_head, in.k_scale, in.k_scale_stride, t, slot);
    write_one(in, in.value, in.value_stride_token, in.value_stride_head, value_cache, in.vc_stride_block,
              in.vc_stride_token, in.vc_stride_head, in.v_scale, in.v_scale_stride, t, slot);
  }
}

}  // namespace kvref
