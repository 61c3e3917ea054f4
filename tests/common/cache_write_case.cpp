#include "common/cache_write_case.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "common/attention_case.h"
#include "common/format_map.h"
#include "reference/ref_cache_write.h"

namespace kvtest {

using kvattn::DType;
using kvattn::KvCacheDType;
using kvattn::TensorView;

namespace {
constexpr size_t kMinBufferBytes = 64;

const char* cache_dtype_name(KvCacheDType k) {
  switch (k) {
    case KvCacheDType::kAuto: return "auto";
    case KvCacheDType::kFp8E4M3: return "fp8_e4m3";
    case KvCacheDType::kFp8E5M2: return "fp8_e5m2";
  }
  return "?";
}

bool quantizes(const CacheWriteCase& c) { return c.kv_cache_dtype != KvCacheDType::kAuto; }
}  // namespace

DType CacheWriteCase::cache_dtype() const {
  switch (kv_cache_dtype) {
    case KvCacheDType::kFp8E4M3: return DType::kFloat8E4M3;
    case KvCacheDType::kFp8E5M2: return DType::kFloat8E5M2;
    default: return src_dtype;
  }
}

std::string CacheWriteCase::describe() const {
  std::ostringstream os;
  os << "T=" << num_tokens << " T'=" << num_slots << " Hkv=" << num_kv_heads << " D=" << head_dim
     << " page=" << page_size << " blocks=" << num_blocks << " src=" << dtype_short(src_dtype)
     << " kv_cache_dtype=" << cache_dtype_name(kv_cache_dtype) << (cache_as_uint8 ? "(uint8 view)" : "")
     << " scale=" << (per_head_scale ? "per-head" : "one") << " skip=" << skip_chance
     << " src_pad(token=" << src_token_padding << ",head=" << src_head_padding << ")"
     << " cache=" << (interleaved_cache ? "interleaved" : "separate") << " cache_head_pad=" << cache_head_padding
     << " huge=" << huge_chance << " nan=" << nan_chance << " data_seed=0x" << std::hex << seed;
  return os.str();
}

CacheWriteCase sample_cache_write_case(Rng& rng) {
  CacheWriteCase c;
  c.num_kv_heads = rng.pick(std::vector<int>{1, 2, 4, 8});
  c.head_dim = rng.pick(std::vector<int>{64, 96, 128, 192, 256});
  c.page_size = rng.pick(std::vector<int>{1, 7, 16, 64});
  c.num_blocks = rng.uniform_int(1, 6);
  const int slots = c.num_blocks * c.page_size;
  c.num_tokens = rng.uniform_int(0, std::min(slots, 40));
  c.num_slots = rng.chance(0.3) ? rng.uniform_int(0, c.num_tokens) : c.num_tokens;
  c.src_dtype = rng.pick(std::vector<DType>{DType::kFloat32, DType::kFloat16, DType::kBFloat16});
  c.kv_cache_dtype = rng.pick(std::vector<KvCacheDType>{KvCacheDType::kAuto, KvCacheDType::kFp8E4M3,
                                                        KvCacheDType::kFp8E4M3, KvCacheDType::kFp8E5M2});
  c.cache_as_uint8 = quantizes(c) && rng.chance(0.25);
  c.per_head_scale = rng.chance(0.5);
  c.skip_chance = rng.pick(std::vector<double>{0.0, 0.2, 0.5});
  if (rng.chance(0.4)) {
    c.src_token_padding = 8 * rng.uniform_int(0, 3);
    c.src_head_padding = 8 * rng.uniform_int(0, 2);
  }
  c.interleaved_cache = rng.chance(0.4);
  c.cache_head_padding = rng.chance(0.3) ? 16 * rng.uniform_int(1, 2) : 0;
  c.huge_chance = rng.chance(0.3) ? 0.05 : 0.0;
  c.nan_chance = rng.chance(0.2) ? 0.02 : 0.0;
  c.seed = rng.next_u64();
  return c;
}

CacheWriteData build_cache_write_case(const CacheWriteCase& c) {
  CacheWriteData d;
  d.c = c;
  Rng rng(c.seed);
  const int H = c.num_kv_heads, D = c.head_dim;
  const kvref::Format sf = ref_format(c.src_dtype);
  const kvref::Format cf = ref_format(c.cache_dtype());

  // Sources: normals (one in ten tiny, to reach fp8 subnormals), optionally
  // huge values, infinities and NaNs.
  d.key_stride_head = D + c.src_head_padding;
  d.key_stride_token = H * d.key_stride_head + c.src_token_padding;
  const int64_t src_elems = std::max<int64_t>(1, c.num_tokens * d.key_stride_token);
  for (int id : {kCwKey, kCwValue}) {
    auto& buf = d.host[id];
    buf.assign(std::max<size_t>(kMinBufferBytes, src_elems * kvattn::dtype_size(c.src_dtype)), 0);
    for (int64_t i = 0; i < src_elems; ++i) {
      double x = rng.normal() * (rng.chance(0.1) ? 1e-3 : 1.0);
      if (rng.chance(c.huge_chance))
        x = rng.chance(0.3) ? std::copysign(std::numeric_limits<double>::infinity(), x) : x * 1e6;
      if (rng.chance(c.nan_chance)) x = std::numeric_limits<double>::quiet_NaN();
      kvref::store_bits(sf, buf.data(), i, kvref::encode_bits(sf, x, /*saturate=*/false));
    }
  }

  // Caches: one allocation holding key cache then value cache (or both
  // interleaved per block), filled with random prior contents.
  const int64_t hs = D + c.cache_head_padding;
  d.cache_stride_head = hs;
  d.cache_stride_token = H * hs;
  const int64_t block_elems = static_cast<int64_t>(c.page_size) * H * hs;
  if (c.interleaved_cache) {
    d.cache_stride_block = 2 * block_elems;
    d.value_cache_offset = block_elems;
  } else {
    d.cache_stride_block = block_elems;
    d.value_cache_offset = c.num_blocks * block_elems;
  }
  const int64_t cache_elems = 2 * c.num_blocks * block_elems;
  auto& cache = d.host[kCwCache];
  cache.assign(cache_elems * kvref::format_bytes(cf), 0);
  for (int64_t i = 0; i < cache_elems; ++i)
    kvref::store_bits(cf, cache.data(), i, kvref::encode_bits(cf, rng.normal(), true));

  // Distinct slots (so no two tokens race for one), some skipped with -1.
  std::vector<int64_t> all(static_cast<size_t>(c.num_blocks) * c.page_size);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  rng.shuffle(all);
  std::vector<int64_t> slots(static_cast<size_t>(c.num_slots));
  for (int t = 0; t < c.num_slots; ++t) slots[t] = rng.chance(c.skip_chance) ? -1 : all[static_cast<size_t>(t)];
  d.host[kCwSlots].assign(std::max<size_t>(kMinBufferBytes, slots.size() * 8), 0);
  if (!slots.empty()) std::memcpy(d.host[kCwSlots].data(), slots.data(), slots.size() * 8);

  // Scales: x / scale spans the fp8 range (~max/4 per unit normal).
  const double unit = quantizes(c) ? 4.0 / kvref::format_max(cf) : 1.0;
  for (int id : {kCwKScale, kCwVScale}) {
    std::vector<float> s(c.per_head_scale ? H : 1);
    for (auto& v : s) v = static_cast<float>(unit * rng.uniform(0.5, 2.0));
    d.host[id].assign(kMinBufferBytes, 0);
    std::memcpy(d.host[id].data(), s.data(), s.size() * sizeof(float));
  }
  return d;
}

kvattn::CacheWriteArgs bind_cache_write_args(const CacheWriteData& d, const std::array<void*, kCwNumBuffers>& p,
                                             kvattn::Device device) {
  const CacheWriteCase& c = d.c;
  const int H = c.num_kv_heads, D = c.head_dim;
  kvattn::CacheWriteArgs a;
  a.key = TensorView::strided(p[kCwKey], c.src_dtype, {c.num_tokens, H, D}, {d.key_stride_token, d.key_stride_head, 1}, device);
  a.value = TensorView::strided(p[kCwValue], c.src_dtype, {c.num_tokens, H, D}, {d.key_stride_token, d.key_stride_head, 1}, device);
  const DType view_dtype = c.cache_as_uint8 ? DType::kUInt8 : c.cache_dtype();
  auto* cache = static_cast<uint8_t*>(p[kCwCache]);
  const int esize = kvattn::dtype_size(c.cache_dtype());
  a.key_cache = TensorView::strided(cache, view_dtype, {c.num_blocks, c.page_size, H, D},
                                    {d.cache_stride_block, d.cache_stride_token, d.cache_stride_head, 1}, device);
  a.value_cache = TensorView::strided(cache + d.value_cache_offset * esize, view_dtype, {c.num_blocks, c.page_size, H, D},
                                      {d.cache_stride_block, d.cache_stride_token, d.cache_stride_head, 1}, device);
  a.slot_mapping = TensorView::contiguous(p[kCwSlots], DType::kInt64, {c.num_slots}, device);
  a.kv_cache_dtype = c.kv_cache_dtype;
  const int64_t scale_len = c.per_head_scale ? H : 1;
  a.k_scale = TensorView::contiguous(p[kCwKScale], DType::kFloat32, {scale_len}, device);
  a.v_scale = TensorView::contiguous(p[kCwVScale], DType::kFloat32, {scale_len}, device);
  return a;
}

std::vector<uint8_t> expected_cache(const CacheWriteData& d) {
  const CacheWriteCase& c = d.c;
  std::vector<uint8_t> cache = d.host[kCwCache];
  const kvref::Format cf = ref_format(c.cache_dtype());
  kvref::RefCacheWriteInput in;
  in.num_tokens = c.num_slots;
  in.num_kv_heads = c.num_kv_heads;
  in.head_dim = c.head_dim;
  in.page_size = c.page_size;
  in.src_format = ref_format(c.src_dtype);
  in.key = d.host[kCwKey].data();
  in.value = d.host[kCwValue].data();
  in.key_stride_token = in.value_stride_token = d.key_stride_token;
  in.key_stride_head = in.value_stride_head = d.key_stride_head;
  in.slot_mapping = reinterpret_cast<const int64_t*>(d.host[kCwSlots].data());
  in.cache_format = cf;
  in.quantize = quantizes(c);
  in.kc_stride_block = in.vc_stride_block = d.cache_stride_block;
  in.kc_stride_token = in.vc_stride_token = d.cache_stride_token;
  in.kc_stride_head = in.vc_stride_head = d.cache_stride_head;
  in.k_scale = reinterpret_cast<const float*>(d.host[kCwKScale].data());
  in.v_scale = reinterpret_cast<const float*>(d.host[kCwVScale].data());
  in.k_scale_stride = in.v_scale_stride = c.per_head_scale ? 1 : 0;
  kvref::reference_cache_write(in, cache.data(), cache.data() + d.value_cache_offset * kvref::format_bytes(cf));
  return cache;
}

::testing::AssertionResult check_cache_write(const CacheWriteData& d, const std::vector<uint8_t>& expected,
                                             const std::vector<uint8_t>& got) {
  const CacheWriteCase& c = d.c;
  if (got.size() != expected.size()) return ::testing::AssertionFailure() << "cache buffer size differs";
  const kvref::Format cf = ref_format(c.cache_dtype());
  const kvref::Format sf = ref_format(c.src_dtype);
  const int esize = kvref::format_bytes(cf);
  const int64_t n = static_cast<int64_t>(expected.size()) / esize;
  const int64_t block_span = d.cache_stride_block;  // one block (K and V rows when interleaved)
  int64_t mismatches = 0;
  std::ostringstream first;
  const int64_t* slots = reinterpret_cast<const int64_t*>(d.host[kCwSlots].data());
  for (int64_t e = 0; e < n; ++e) {
    const uint32_t want = kvref::load_bits(cf, expected.data(), e);
    const uint32_t have = kvref::load_bits(cf, got.data(), e);
    if (want == have) continue;
    const double wv = kvref::decode_bits(cf, want), hv = kvref::decode_bits(cf, have);
    if (std::isnan(wv) && std::isnan(hv)) continue;
    if (mismatches++ > 0) continue;
    // Describe the first mismatch: which cache, block, row, head, d, and the source.
    bool is_value;
    int64_t blk, rem;  // block and offset inside that block's K (or V) rows
    if (c.interleaved_cache) {
      blk = e / block_span;
      rem = e % block_span;
      is_value = rem >= d.value_cache_offset;
      if (is_value) rem -= d.value_cache_offset;
    } else {
      is_value = e >= d.value_cache_offset;
      const int64_t local = is_value ? e - d.value_cache_offset : e;
      blk = local / block_span;
      rem = local % block_span;
    }
    const int64_t row = rem / d.cache_stride_token, h = (rem % d.cache_stride_token) / d.cache_stride_head,
                  dd = rem % d.cache_stride_head;
    first << (is_value ? "value_cache" : "key_cache") << "[block " << blk << ", row " << row << ", head " << h
          << ", d " << dd << "]: expected code 0x" << std::hex << want << " (" << wv << ") got 0x" << have << std::dec
          << " (" << hv << ")";
    const int64_t slot = blk * c.page_size + row;
    for (int t = 0; t < c.num_slots && dd < c.head_dim; ++t)
      if (slots[t] == slot) {
        const auto& src = d.host[is_value ? kCwValue : kCwKey];
        const double x = kvref::load_value(sf, src.data(), t * d.key_stride_token + h * d.key_stride_head + dd);
        const float* scale = reinterpret_cast<const float*>(d.host[is_value ? kCwVScale : kCwKScale].data());
        first << "; written by token " << t << " with source value " << x << " and scale "
              << scale[c.per_head_scale ? h : 0];
      }
    if (dd >= c.head_dim) first << " [padding between heads: must stay untouched]";
  }
  if (mismatches == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << mismatches << " cache element(s) differ; first: " << first.str();
}

}  // namespace kvtest
