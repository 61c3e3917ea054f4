// Per-head-dim entry points of the decode kernels, one translation unit each
// (decode_hd<D>.cu): what decode.cu calls after building the parameters.
// Instantiated: D in {64, 96, 128, 192, 256} x q {bf16, fp16} x KV {q's dtype,
// e4m3, e5m2} x {wide, narrow rows} = 60 split-KV kernels + 10 combine kernels.
#pragma once
#include <cuda_runtime.h>

#include "cuda/decode/decode_params.h"

namespace kvattn {
namespace cuda {
namespace decode {

void launch_decode_hd64(const DecodeParams& p, bool q_is_bf16, KvKind kv, cudaStream_t stream);
void launch_decode_hd96(const DecodeParams& p, bool q_is_bf16, KvKind kv, cudaStream_t stream);
void launch_decode_hd128(const DecodeParams& p, bool q_is_bf16, KvKind kv, cudaStream_t stream);
void launch_decode_hd192(const DecodeParams& p, bool q_is_bf16, KvKind kv, cudaStream_t stream);
void launch_decode_hd256(const DecodeParams& p, bool q_is_bf16, KvKind kv, cudaStream_t stream);

}  // namespace decode
}  // namespace cuda
}  // namespace kvattn
