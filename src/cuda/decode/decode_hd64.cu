// Decode kernels for head dim 64 (see decode_dispatch.h).
#include "cuda/decode/decode_dispatch.h"
#include "cuda/decode/decode_launch.cuh"

namespace kvattn {
namespace cuda {
namespace decode {

void launch_decode_hd64(const DecodeParams& p, bool q_is_bf16, KvKind kv, cudaStream_t stream) {
  launch_head_dim<64>(p, q_is_bf16, kv, stream);
}

}  // namespace decode
}  // namespace cuda
}  // namespace kvattn
