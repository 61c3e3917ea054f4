// Decode kernels for head dim 128 (see decode_dispatch.h).
#include "cuda/decode/decode_dispatch.h"
#include "cuda/decode/decode_launch.cuh"

namespace kvattn {
namespace cuda {
namespace decode {

void launch_decode_hd128(const DecodeParams& p, bool q_is_bf16, KvKind kv, cudaStream_t stream) {
  launch_head_dim<128>(p, q_is_bf16, kv, stream);
}

}  // namespace decode
}  // namespace cuda
}  // namespace kvattn
