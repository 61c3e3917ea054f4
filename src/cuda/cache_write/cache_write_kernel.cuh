// The cache-write kernel (vLLM's reshape_and_cache_flash, docs/semantics.md S6).
// A row is one token: all heads of its key and value. Each thread moves one
// chunk (a short contiguous run within one head) of the key and the same chunk
// of the value: both loads are issued before either store. How a chunk is moved
// (plain byte copy, or fp8 quantization) is the Chunk policy.
#pragma once
#include <cstdint>

#include "cuda/cache_write/fp8_encode.cuh"
#include "cuda/common/float_convert.cuh"
#include "cuda/common/packed_io.cuh"

namespace kvattn {
namespace cuda {

// One side (key or value). Byte pointers and byte strides, so copy and
// quantize kernels share the addressing.
struct CacheWriteSide {
  const char* src = nullptr;
  int64_t src_stride_token = 0, src_stride_head = 0;
  char* cache = nullptr;
  int64_t cache_stride_block = 0, cache_stride_token = 0, cache_stride_head = 0;
  const float* scale = nullptr;  // quantize only: head h uses scale[h * scale_stride]
  int64_t scale_stride = 0;
};

struct CacheWriteParams {
  const int64_t* slot_mapping = nullptr;
  int64_t num_tokens = 0;
  int64_t page_size = 1;
  int chunks_per_head = 0;
  int chunks_per_token = 0;  // num_kv_heads * chunks_per_head
  CacheWriteSide key, value;
};

// Plain copy of kBytes bytes (cache dtype == source dtype).
template <int kBytes>
struct CopyChunk {
  static constexpr int kSrcBytes = kBytes;
  static constexpr int kDstBytes = kBytes;
  using Loaded = Fragment<uint8_t, kBytes>;
  static __device__ __forceinline__ Loaded load(const char* src) { return load_fragment<uint8_t, kBytes>(src); }
  static __device__ __forceinline__ void store(char* dst, const Loaded& x, const float*) { store_fragment(dst, x); }
};

// N source elements -> N fp8 codes of enc(x / scale) (fp8_encode.cuh).
template <typename Src, bool kE5M2, int N>
struct QuantizeChunk {
  static constexpr int kSrcBytes = N * static_cast<int>(sizeof(Src));
  static constexpr int kDstBytes = N;
  using Loaded = Fragment<Src, N>;
  static __device__ __forceinline__ Loaded load(const char* src) { return load_fragment<Src, N>(src); }
  static __device__ __forceinline__ void store(char* dst, const Loaded& x, const float* scale_ptr) {
    const float scale = __ldg(scale_ptr);
    Fragment<uint8_t, N> codes;
    if constexpr (N == 1) {
      codes.v[0] = quantize_fp8<kE5M2>(to_float(x.v[0]), scale);
    } else {
#pragma unroll
      for (int i = 0; i < N; i += 2) {
        const uint16_t pair = quantize_fp8x2<kE5M2>(to_float(x.v[i]), to_float(x.v[i + 1]), scale);
        codes.v[i] = static_cast<uint8_t>(pair & 0xffu);
        codes.v[i + 1] = static_cast<uint8_t>(pair >> 8);
      }
    }
    store_fragment(dst, codes);
  }
};

template <class Chunk>
__global__ void __launch_bounds__(256) cache_write_kernel(const CacheWriteParams p) {
  const int64_t row_step = static_cast<int64_t>(gridDim.x) * blockDim.y;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; t < p.num_tokens; t += row_step) {
    const int64_t slot = __ldg(p.slot_mapping + t);
    if (slot < 0) continue;  // padding token
    const int64_t block = slot / p.page_size;
    const int64_t offset = slot - block * p.page_size;
    for (int c = threadIdx.x; c < p.chunks_per_token; c += blockDim.x) {
      const int head = c / p.chunks_per_head;
      const int col = c - head * p.chunks_per_head;
      const CacheWriteSide& k = p.key;
      const CacheWriteSide& v = p.value;
      const typename Chunk::Loaded kx =
          Chunk::load(k.src + t * k.src_stride_token + head * k.src_stride_head + col * Chunk::kSrcBytes);
      const typename Chunk::Loaded vx =
          Chunk::load(v.src + t * v.src_stride_token + head * v.src_stride_head + col * Chunk::kSrcBytes);
      Chunk::store(k.cache + block * k.cache_stride_block + offset * k.cache_stride_token +
                       head * k.cache_stride_head + col * Chunk::kDstBytes,
                   kx, k.scale + head * k.scale_stride);
      Chunk::store(v.cache + block * v.cache_stride_block + offset * v.cache_stride_token +
                       head * v.cache_stride_head + col * Chunk::kDstBytes,
                   vx, v.scale + head * v.scale_stride);
    }
  }
}

}  // namespace cuda
}  // namespace kvattn
