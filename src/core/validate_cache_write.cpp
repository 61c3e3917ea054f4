// Validation of cache-write arguments (docs/semantics.md S6).
#include <cstdint>
#include <string>

#include "core/check.h"
#include "core/dispatch.h"
#include "core/validate.h"
#include "kvattn/error.h"

namespace kvattn {

namespace {

using namespace check;

constexpr int64_t kInt32Max = INT32_MAX;

// The element type the cache holds: the source dtype for "auto", else the
// named fp8 format (a uint8 cache is reinterpreted as that format).
DType check_cache_dtype(const CacheWriteArgs& a) {
  DType stored = a.key.dtype;
  switch (a.kv_cache_dtype) {
    case KvCacheDType::kAuto:
      if (a.key_cache.dtype != a.key.dtype)
        fail(ErrorCode::kInvalidDType, "key_cache",
             std::string("dtype ") + dtype_name(a.key.dtype) + " (key's dtype, as kv_cache_dtype is auto)",
             dtype_name(a.key_cache.dtype));
      break;
    case KvCacheDType::kFp8E4M3:
      stored = DType::kFloat8E4M3;
      require_dtype(a.key_cache, "key_cache", {DType::kFloat8E4M3, DType::kUInt8});
      break;
    case KvCacheDType::kFp8E5M2:
      stored = DType::kFloat8E5M2;
      require_dtype(a.key_cache, "key_cache", {DType::kFloat8E5M2, DType::kUInt8});
      break;
    default:
      fail(ErrorCode::kInvalidArgument, "kv_cache_dtype", "auto, fp8_e4m3 or fp8_e5m2",
           std::to_string(static_cast<int>(a.kv_cache_dtype)));
  }
  require_same_dtype(a.value_cache, "value_cache", a.key_cache.dtype, "key_cache");
  return stored;
}

struct ScaleView {
  const float* data = nullptr;
  int64_t stride = 0;
};

// fp32, one element (rank 0, or rank 1 of size 1) or one per kv head ([Hkv]).
ScaleView check_scale(const TensorView& t, const char* name, int64_t kv_heads, Device device) {
  const std::string expected = "an fp32 scale of one element or shape [Hkv] = [" + std::to_string(kv_heads) + "]";
  if (!t.defined())
    fail(ErrorCode::kInvalidArgument, name, expected + " (required when kv_cache_dtype is fp8)", "none");
  require_same_device(t, name, device, "key");
  require_dtype(t, name, {DType::kFloat32});
  const bool scalar = t.ndim == 0 || (t.ndim == 1 && t.shape[0] == 1);
  const bool per_head = t.ndim == 1 && t.shape[0] == kv_heads;
  if (!scalar && !per_head) fail(ErrorCode::kInvalidArgument, name, expected, shape_str(t));
  if (t.data == nullptr) fail(ErrorCode::kInvalidArgument, name, "a data pointer", "null");
  return {static_cast<const float*>(t.data), scalar ? 0 : t.stride[0]};
}

void check_cache(const TensorView& cache, const char* name, const TensorView& key) {
  require_rank(cache, name, 4, "[num_blocks, page_size, Hkv, D]");
  require_last_dim_contiguous(cache, name);
  if (cache.shape[2] != key.shape[1] || cache.shape[3] != key.shape[2])
    fail(ErrorCode::kInvalidArgument, name,
         "[num_blocks, page_size, " + std::to_string(key.shape[1]) + ", " + std::to_string(key.shape[2]) +
             "] (Hkv and D of key)",
         shape_str(cache));
  if (cache.shape[1] < 1 || cache.shape[1] > kInt32Max)
    fail(ErrorCode::kInvalidArgument, name, "page_size (dim 1) >= 1", std::to_string(cache.shape[1]));
}

}  // namespace

KvCacheDType parse_kv_cache_dtype(const std::string& name) {
  if (name == "auto") return KvCacheDType::kAuto;
  if (name == "fp8" || name == "fp8_e4m3") return KvCacheDType::kFp8E4M3;
  if (name == "fp8_e5m2") return KvCacheDType::kFp8E5M2;
  fail(ErrorCode::kInvalidArgument, "kv_cache_dtype", "one of auto, fp8, fp8_e4m3, fp8_e5m2", "'" + name + "'");
}

CacheWriteProblem make_cache_write_problem(const CacheWriteArgs& a) {
  const TensorView& key = a.key;
  require_float_token_heads(key, "key", "[T, Hkv, D]", "Hkv");
  const bool fp8 = a.kv_cache_dtype != KvCacheDType::kAuto;
  // Absent required views fail their rank check below; scales are checked with their form.
  const struct {
    const TensorView* view;
    const char* name;
  } tensors[] = {{&a.value, "value"}, {&a.key_cache, "key_cache"}, {&a.value_cache, "value_cache"},
                 {&a.slot_mapping, "slot_mapping"}};
  for (const auto& t : tensors)
    if (t.view->defined()) require_same_device(*t.view, t.name, key.device, "key");

  require_rank(a.value, "value", 3, "[T, Hkv, D]");
  require_same_dtype(a.value, "value", key.dtype, "key");
  require_same_shape(a.value, "value", key, "key");
  require_last_dim_contiguous(a.value, "value");

  check_cache(a.key_cache, "key_cache", key);
  check_cache(a.value_cache, "value_cache", key);
  require_same_shape(a.value_cache, "value_cache", a.key_cache, "key_cache");
  const DType stored = check_cache_dtype(a);

  require_rank(a.slot_mapping, "slot_mapping", 1, "[T']");
  require_dtype(a.slot_mapping, "slot_mapping", {DType::kInt64});
  require_contiguous_1d(a.slot_mapping, "slot_mapping");
  if (a.slot_mapping.shape[0] > key.shape[0])
    fail(ErrorCode::kInvalidArgument, "slot_mapping",
         "at most T = " + std::to_string(key.shape[0]) + " entries (one per key token)",
         std::to_string(a.slot_mapping.shape[0]));

  CacheWriteProblem p;
  if (fp8) {  // for auto the scales are unused and not checked
    const ScaleView ks = check_scale(a.k_scale, "k_scale", key.shape[1], key.device);
    const ScaleView vs = check_scale(a.v_scale, "v_scale", key.shape[1], key.device);
    p.k_scale = ks.data;
    p.k_scale_stride = ks.stride;
    p.v_scale = vs.data;
    p.v_scale_stride = vs.stride;
  }

  p.num_tokens = a.slot_mapping.shape[0];
  p.num_kv_heads = static_cast<int>(key.shape[1]);
  p.head_dim = static_cast<int>(key.shape[2]);
  p.page_size = static_cast<int>(a.key_cache.shape[1]);
  p.num_blocks = a.key_cache.shape[0];
  p.src_dtype = key.dtype;
  p.cache_dtype = stored;
  p.key = key.data;
  p.value = a.value.data;
  p.key_stride_token = key.stride[0];
  p.key_stride_head = key.stride[1];
  p.value_stride_token = a.value.stride[0];
  p.value_stride_head = a.value.stride[1];
  p.key_cache = a.key_cache.data;
  p.value_cache = a.value_cache.data;
  p.kc_stride_block = a.key_cache.stride[0];
  p.kc_stride_token = a.key_cache.stride[1];
  p.kc_stride_head = a.key_cache.stride[2];
  p.vc_stride_block = a.value_cache.stride[0];
  p.vc_stride_token = a.value_cache.stride[1];
  p.vc_stride_head = a.value_cache.stride[2];
  p.slot_mapping = static_cast<const int64_t*>(a.slot_mapping.data);
  p.device = key.device;
  p.stream = a.stream;
  p.backend = resolve_backend(a.backend, key.device);
  return p;
}

}  // namespace kvattn
