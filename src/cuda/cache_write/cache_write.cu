// cuda_cache_write: picks the widest chunk the layout allows and launches the
// copy or quantize kernel (docs/semantics.md S6). Asynchronous, no allocation.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <initializer_list>
#include <type_traits>

#include "core/backends.h"
#include "cuda/cache_write/cache_write_kernel.cuh"
#include "cuda/common/cuda_launch_check.h"
#include "cuda/common/launch_shape.h"
#include "kvattn/error.h"

namespace kvattn {
namespace {

using cuda::CacheWriteParams;
using cuda::CacheWriteSide;

// A chunk is a run of aligned accesses only when the base pointers and every
// byte stride are multiples of the access width (chunk offsets within a row
// are multiples of the chunk size, itself a multiple of the access width).
bool source_aligned(const CacheWriteProblem& p, int64_t elem, int64_t bytes) {
  return cuda::all_aligned({p.key, p.value},
                           {p.key_stride_token * elem, p.key_stride_head * elem, p.value_stride_token * elem,
                            p.value_stride_head * elem},
                           bytes);
}

bool cache_aligned(const CacheWriteProblem& p, int64_t elem, int64_t bytes) {
  return cuda::all_aligned({p.key_cache, p.value_cache},
                           {p.kc_stride_block * elem, p.kc_stride_token * elem, p.kc_stride_head * elem,
                            p.vc_stride_block * elem, p.vc_stride_token * elem, p.vc_stride_head * elem},
                           bytes);
}

// Elements per chunk: the largest power of two <= max_elems that divides
// head_dim and whose source and cache runs are aligned to their access widths
// (at most 16 bytes).
int pick_chunk_elems(const CacheWriteProblem& p, int src_elem, int cache_elem, int max_elems) {
  for (int n : {16, 8, 4, 2}) {
    if (n > max_elems || p.head_dim % n != 0) continue;
    const int64_t src_access = std::min<int64_t>(16, int64_t{n} * src_elem);
    const int64_t cache_access = std::min<int64_t>(16, int64_t{n} * cache_elem);
    if (source_aligned(p, src_elem, src_access) && cache_aligned(p, cache_elem, cache_access)) return n;
  }
  return 1;
}

CacheWriteParams make_params(const CacheWriteProblem& p, int chunk_elems) {
  const int64_t src = dtype_size(p.src_dtype);
  const int64_t dst = dtype_size(p.cache_dtype);
  CacheWriteParams k;
  k.slot_mapping = p.slot_mapping;
  k.num_tokens = p.num_tokens;
  k.page_size = p.page_size;
  k.chunks_per_head = p.head_dim / chunk_elems;
  k.chunks_per_token = p.num_kv_heads * k.chunks_per_head;
  k.key = CacheWriteSide{static_cast<const char*>(p.key), p.key_stride_token * src, p.key_stride_head * src,
                         static_cast<char*>(p.key_cache), p.kc_stride_block * dst, p.kc_stride_token * dst,
                         p.kc_stride_head * dst, p.k_scale, p.k_scale_stride};
  k.value = CacheWriteSide{static_cast<const char*>(p.value), p.value_stride_token * src, p.value_stride_head * src,
                           static_cast<char*>(p.value_cache), p.vc_stride_block * dst, p.vc_stride_token * dst,
                           p.vc_stride_head * dst, p.v_scale, p.v_scale_stride};
  return k;
}

template <class Chunk>
void launch(const CacheWriteParams& k, cudaStream_t stream) {
  const cuda::RowLaunch shape = cuda::row_launch(k.num_tokens, k.chunks_per_token);
  cuda::cache_write_kernel<Chunk><<<shape.grid, shape.block, 0, stream>>>(k);
  cuda::check_launch();
}

// Calls f(std::integral_constant<int, n>) for n in {16, 8, 4, 2, 1}.
template <class F>
void with_chunk_elems(int n, F&& f) {
  switch (n) {
    case 16: return f(std::integral_constant<int, 16>{});
    case 8: return f(std::integral_constant<int, 8>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 2: return f(std::integral_constant<int, 2>{});
    default: return f(std::integral_constant<int, 1>{});
  }
}

// Plain copy: a head row is head_dim * elem raw bytes, moved up to 32 bytes per
// thread (two 16-byte accesses) when pointers and strides allow.
void launch_copy(const CacheWriteProblem& p, cudaStream_t stream) {
  const int elem = dtype_size(p.src_dtype);
  const int row_bytes = p.head_dim * elem;
  int bytes = 1;
  for (int n : {32, 16, 8, 4, 2}) {
    const int64_t access = std::min(16, n);
    if (row_bytes % n == 0 && source_aligned(p, elem, access) && cache_aligned(p, elem, access)) {
      bytes = n;
      break;
    }
  }
  CacheWriteParams k = make_params(p, 1);
  k.chunks_per_head = row_bytes / bytes;
  k.chunks_per_token = p.num_kv_heads * k.chunks_per_head;
  k.key.scale = k.value.scale = nullptr;  // unused by CopyChunk
  k.key.scale_stride = k.value.scale_stride = 0;
  switch (bytes) {
    case 32: return launch<cuda::CopyChunk<32>>(k, stream);
    case 16: return launch<cuda::CopyChunk<16>>(k, stream);
    case 8: return launch<cuda::CopyChunk<8>>(k, stream);
    case 4: return launch<cuda::CopyChunk<4>>(k, stream);
    case 2: return launch<cuda::CopyChunk<2>>(k, stream);
    default: return launch<cuda::CopyChunk<1>>(k, stream);
  }
}

// fp8 quantization: up to 32 source bytes per thread (16 fp16/bf16 or 8 fp32 elements).
template <typename Src, bool kE5M2>
void launch_quantize(const CacheWriteProblem& p, cudaStream_t stream) {
  constexpr int kMaxElems = 32 / static_cast<int>(sizeof(Src));
  const int n = pick_chunk_elems(p, static_cast<int>(sizeof(Src)), 1, kMaxElems);
  const CacheWriteParams k = make_params(p, n);
  with_chunk_elems(n, [&](auto chunk) {
    constexpr int N = decltype(chunk)::value;
    // pick_chunk_elems never returns more than kMaxElems; this only avoids instantiating it.
    if constexpr (N <= kMaxElems) launch<cuda::QuantizeChunk<Src, kE5M2, N>>(k, stream);
  });
}

template <bool kE5M2>
void launch_quantize_from(const CacheWriteProblem& p, cudaStream_t stream) {
  switch (p.src_dtype) {
    case DType::kFloat32: return launch_quantize<float, kE5M2>(p, stream);
    case DType::kFloat16: return launch_quantize<__half, kE5M2>(p, stream);
    case DType::kBFloat16: return launch_quantize<__nv_bfloat16, kE5M2>(p, stream);
    default: throw Error(ErrorCode::kInvalidDType, "key", "expected float32, float16 or bfloat16");
  }
}

}  // namespace

void cuda_cache_write(const CacheWriteProblem& p) {
  if (p.num_tokens <= 0 || p.num_kv_heads <= 0 || p.head_dim <= 0) return;
  const cuda::ScopedDevice device(p.device.index);
  const auto stream = static_cast<cudaStream_t>(p.stream);
  if (p.cache_dtype == p.src_dtype) return launch_copy(p, stream);
  if (p.k_scale == nullptr || p.v_scale == nullptr)
    throw Error(ErrorCode::kInvalidArgument, "k_scale", "required for an fp8 kv_cache_dtype");
  switch (p.cache_dtype) {
    case DType::kFloat8E4M3: return launch_quantize_from<false>(p, stream);
    case DType::kFloat8E5M2: return launch_quantize_from<true>(p, stream);
    default: throw Error(ErrorCode::kInvalidDType, "key_cache", "expected the key's dtype, float8_e4m3fn or float8_e5m2");
  }
}

}  // namespace kvattn
