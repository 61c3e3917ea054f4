// cuda_merge: picks the widest chunk the layout allows and launches the merge
// kernel (docs/semantics.md S7). Asynchronous, no allocation.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "core/backends.h"
#include "cuda/common/cuda_launch_check.h"
#include "cuda/common/launch_shape.h"
#include "cuda/merge/merge_kernel.cuh"
#include "kvattn/error.h"

namespace kvattn {
namespace {

// Elements per chunk: the largest of {8, 4, 2} that divides head_dim and keeps
// every output/partial pointer and stride aligned to its access width (<= 16 B).
int pick_chunk_elems(const MergeProblem& p, int elem) {
  for (int n : {8, 4, 2}) {
    const int64_t access = std::min(16, n * elem);
    if (p.head_dim % n == 0 &&
        cuda::all_aligned({p.out, p.prefix, p.suffix},
                          {p.out_stride_token * elem, p.out_stride_head * elem, p.prefix_stride_token * elem,
                           p.prefix_stride_head * elem, p.suffix_stride_token * elem, p.suffix_stride_head * elem},
                          access))
      return n;
  }
  return 1;
}

cuda::MergeParams make_params(const MergeProblem& p, int chunk_elems) {
  const int64_t elem = dtype_size(p.dtype);
  cuda::MergeParams k;
  k.num_tokens = p.num_tokens;
  k.chunks_per_head = p.head_dim / chunk_elems;
  k.chunks_per_token = p.num_heads * k.chunks_per_head;
  k.out = static_cast<char*>(p.out);
  k.out_stride_token = p.out_stride_token * elem;
  k.out_stride_head = p.out_stride_head * elem;
  k.prefix = static_cast<const char*>(p.prefix);
  k.prefix_stride_token = p.prefix_stride_token * elem;
  k.prefix_stride_head = p.prefix_stride_head * elem;
  k.suffix = static_cast<const char*>(p.suffix);
  k.suffix_stride_token = p.suffix_stride_token * elem;
  k.suffix_stride_head = p.suffix_stride_head * elem;
  k.out_lse = p.out_lse;
  k.out_lse_stride_head = p.out_lse_stride_head;
  k.out_lse_stride_token = p.out_lse_stride_token;
  k.prefix_lse = p.prefix_lse;
  k.prefix_lse_stride_head = p.prefix_lse_stride_head;
  k.prefix_lse_stride_token = p.prefix_lse_stride_token;
  k.suffix_lse = p.suffix_lse;
  k.suffix_lse_stride_head = p.suffix_lse_stride_head;
  k.suffix_lse_stride_token = p.suffix_lse_stride_token;
  return k;
}

template <typename T>
void launch_merge(const MergeProblem& p, cudaStream_t stream) {
  const int n = pick_chunk_elems(p, static_cast<int>(sizeof(T)));
  const cuda::MergeParams k = make_params(p, n);
  const cuda::RowLaunch shape = cuda::row_launch(k.num_tokens, k.chunks_per_token);
  switch (n) {
    case 8: cuda::merge_kernel<T, 8><<<shape.grid, shape.block, 0, stream>>>(k); break;
    case 4: cuda::merge_kernel<T, 4><<<shape.grid, shape.block, 0, stream>>>(k); break;
    case 2: cuda::merge_kernel<T, 2><<<shape.grid, shape.block, 0, stream>>>(k); break;
    default: cuda::merge_kernel<T, 1><<<shape.grid, shape.block, 0, stream>>>(k); break;
  }
  cuda::check_launch();
}

}  // namespace

void cuda_merge(const MergeProblem& p) {
  if (p.num_tokens <= 0 || p.num_heads <= 0 || p.head_dim <= 0) return;
  const cuda::ScopedDevice device(p.device.index);
  const auto stream = static_cast<cudaStream_t>(p.stream);
  switch (p.dtype) {
    case DType::kFloat32: return launch_merge<float>(p, stream);
    case DType::kFloat16: return launch_merge<__half>(p, stream);
    case DType::kBFloat16: return launch_merge<__nv_bfloat16>(p, stream);
    default: throw Error(ErrorCode::kInvalidDType, "output", "expected float32, float16 or bfloat16");
  }
}

}  // namespace kvattn
