// Varlen attention forward over a paged (or contiguous) KV cache that may be
// stored in FP8. One call serves prefill, chunked prefill, decode and mixed
// batches. Semantics: docs/semantics.md.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kvattn/tensor.h"

namespace kvattn {

// Which implementation runs. kAuto picks by the tensors' device (and, on CUDA,
// by the architecture). Forcing a backend that cannot run the call is an error.
enum class Backend : int { kAuto, kCpu, kCudaPortable, kCudaHopper };

struct VarlenAttentionArgs {
  // [total_q, Hq, D], bf16 or fp16; last dim contiguous.
  TensorView q;
  // Paged: [num_blocks, page_size, Hkv, D] each, with block_table + seqused_k.
  // Contiguous: [total_k, Hkv, D] each, with cu_seqlens_k.
  // dtype: q's dtype, fp8 e4m3fn or fp8 e5m2 (k and v alike).
  TensorView k;
  TensorView v;
  TensorView cu_seqlens_q;  // int32 [B+1]
  TensorView cu_seqlens_k;  // int32 [B+1] (contiguous KV only)
  TensorView seqused_k;     // int32 [B]   (paged KV only)
  TensorView block_table;   // int32 [B, max_blocks_per_seq] (paged KV only)
  int64_t max_seqlen_q = -1;  // host upper bounds of the per-sequence lengths
  int64_t max_seqlen_k = -1;

  // Optional fp32 [B, Hkv], any strides (stride 0 = per-tensor value). Absent = 1.
  TensorView q_descale;
  TensorView k_descale;
  TensorView v_descale;

  float softmax_scale = 0.0f;  // 0 = 1/sqrt(D); must be finite
  bool causal = false;         // bottom-right aligned
  int window_left = -1;        // -1 = unbounded
  int window_right = -1;       // -1 = unbounded (causal forces 0)
  float softcap = 0.0f;        // 0 = off
  TensorView sinks;            // optional [Hq], fp32/bf16/fp16

  TensorView out;          // [total_q, Hq, D], q's dtype; last dim contiguous
  TensorView softmax_lse;  // optional fp32 [Hq, total_q] (natural log)

  // Split-KV for short query rows. 0 = heuristic; 1 = no split; n = exactly n
  // (capped at kMaxSplits). Splits > 1 need a workspace of
  // varlen_attention_workspace_size(...) bytes; without one, the heuristic (0)
  // runs unsplit and an explicit num_splits > 1 is an error naming "workspace".
  int num_splits = 0;
  TensorView workspace;  // optional uint8 [bytes] on q's device

  Backend backend = Backend::kAuto;
  void* stream = nullptr;  // cudaStream_t; ignored on CPU
};

constexpr int kMaxSplits = 64;

// Computes attention into args.out (and args.softmax_lse). Throws kvattn::Error
// on bad input, before anything is written. On CUDA: asynchronous on
// args.stream, no host synchronisation, no allocation (CUDA-graph capturable).
void varlen_attention_forward(const VarlenAttentionArgs& args);

// Bytes of workspace the call with these host-side sizes may use (0 when it
// never splits). Depends only on host values, so it can be computed before
// graph capture; the same inputs give the same split count at launch.
size_t varlen_attention_workspace_size(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim,
                                       int64_t max_seqlen_q, int64_t max_seqlen_k, int num_splits,
                                       Device device);

// The same, plus room for what a call with this KV cache dtype can use beyond the
// splits: with an FP8 cache on a Hopper GPU and long query rows, a 16-bit scratch
// the FP8 K/V of the prefill sequences are widened into once per call (at most
// batch x max_seqlen_k x Hkv x D x 4 bytes, only when that is <= 512 MiB;
// docs/semantics.md S9). A call given the smaller size above still runs, with
// the FP8 kernels widening per tile.
size_t varlen_attention_workspace_size(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim,
                                       int64_t max_seqlen_q, int64_t max_seqlen_k, int num_splits,
                                       Device device, DType kv_dtype);

}  // namespace kvattn
