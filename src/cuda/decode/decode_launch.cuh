// Launch of the decode kernels for one head dim (included by one
// decode_hd<D>.cu each, so the head dims compile in parallel).
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include <cuda_runtime.h>

#include "cuda/common/launch_utils.h"
#include "cuda/decode/combine_kernel.cuh"
#include "cuda/decode/decode_kernel.cuh"
#include "kvattn/error.h"

namespace kvattn {
namespace cuda {
namespace decode {

template <int D, typename QT, KvKind KV, bool kNarrow>
void launch_typed(const DecodeParams& params, cudaStream_t stream) {
  using Shape = DecodeShape<D, KV == KvKind::k16Bit ? 2 : 1>;
  auto* kernel = &decode_splitkv_kernel<D, QT, KV, kNarrow>;
  DecodeParams p = params;
  // Ring depth: the shape's default unless a variant asks for another one.
  const int default_stages = kNarrow ? Shape::narrow_stages() : Shape::kStages;
  p.stages = clamp_int(p.stages > 0 ? p.stages : default_stages, 2, Shape::max_stages());
  const int q_rows = kNarrow ? 8 : 16 * p.row_frags;
  const int smem = Shape::smem_bytes(q_rows, p.stages, p.copy_mode);

  // Opt in to > 48 KB of dynamic shared memory once per device, for the
  // largest launch any variant makes (host-side attribute: no stream work,
  // fine during graph capture).
  int device = 0;
  const cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw Error(ErrorCode::kCudaError, "device",
                std::string("cannot query the current device: ") + cudaGetErrorString(err));
  }
  static std::atomic<uint64_t> opted_in{0};
  raise_dynamic_smem_limit(kernel, Shape::smem_bytes(kMaxTileRows, Shape::max_stages(), kCopyRows), device, opted_in,
                           "decode_splitkv_kernel");

  const dim3 grid(static_cast<unsigned>(int64_t(p.row_tiles) * p.num_kv_heads * p.batch),
                  static_cast<unsigned>(p.num_splits));
  kernel<<<grid, kThreads, smem, stream>>>(p);
  throw_if_launch_failed("decode_splitkv_kernel");

  if (p.num_splits > 1) {
    const int64_t row_groups = (p.rows_bound + kCombineRowsPerBlock - 1) / kCombineRowsPerBlock;
    const dim3 combine_grid(static_cast<unsigned>(row_groups * p.num_kv_heads * p.batch));
    launch_kernel("decode_combine_kernel", &decode_combine_kernel<D, QT>, combine_grid, dim3(kThreads), 0, stream,
                  /*overlap_previous=*/programmatic_launch_enabled(device), p);
  }
}

template <int D, typename QT, KvKind KV>
void launch_rows(const DecodeParams& p, cudaStream_t stream) {
  if (p.narrow) {
    launch_typed<D, QT, KV, true>(p, stream);
  } else {
    launch_typed<D, QT, KV, false>(p, stream);
  }
}

template <int D>
void launch_head_dim(const DecodeParams& p, bool q_is_bf16, KvKind kv, cudaStream_t stream) {
  if (q_is_bf16) {
    switch (kv) {
      case KvKind::k16Bit: return launch_rows<D, __nv_bfloat16, KvKind::k16Bit>(p, stream);
      case KvKind::kE4M3: return launch_rows<D, __nv_bfloat16, KvKind::kE4M3>(p, stream);
      case KvKind::kE5M2: return launch_rows<D, __nv_bfloat16, KvKind::kE5M2>(p, stream);
    }
  } else {
    switch (kv) {
      case KvKind::k16Bit: return launch_rows<D, __half, KvKind::k16Bit>(p, stream);
      case KvKind::kE4M3: return launch_rows<D, __half, KvKind::kE4M3>(p, stream);
      case KvKind::kE5M2: return launch_rows<D, __half, KvKind::kE5M2>(p, stream);
    }
  }
}

}  // namespace decode
}  // namespace cuda
}  // namespace kvattn
