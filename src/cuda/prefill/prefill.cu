// launch_prefill_portable: resolves the per-launch constants and picks the
// kernel instance for (head dim, q dtype, KV kind). Reads no device data.
#include "cuda/prefill/prefill.h"

#include <cstdint>
#include <string>

#include "cuda/prefill/prefill_instances.h"
#include "cuda/prefill/prefill_params.h"
#include "cuda/common/routing.h"
#include "kvattn/error.h"

namespace kvattn {
namespace cuda {
namespace {

bool is_aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }
bool stride_aligned16(int64_t stride, int elem_bytes) { return (stride * elem_bytes) % 16 == 0; }

template <class QT>
void dispatch_head_dim(const AttentionProblem& p, const PrefillParams& params, const PrefillGrid& grid,
                       cudaStream_t stream, bool fp8) {
  switch (p.head_dim) {
#define KVATTN_PREFILL_CASE(D)                                              \
  case D:                                                                   \
    if (fp8)                                                                \
      launch_prefill_instance<D, QT, true>(params, grid, stream);           \
    else                                                                    \
      launch_prefill_instance<D, QT, false>(params, grid, stream);          \
    return;
    KVATTN_PREFILL_HEAD_DIMS(KVATTN_PREFILL_CASE)
#undef KVATTN_PREFILL_CASE
    default:
      throw Error(ErrorCode::kNotImplemented, "head_dim",
                  "the CUDA prefill kernel supports 64, 96, 128, 192 or 256, got " + std::to_string(p.head_dim));
  }
}

}  // namespace

// True when every row start the kernel copies with 16-byte accesses is 16-byte aligned.
bool prefill_rows_aligned16(const AttentionProblem& p) {
  const int qb = dtype_size(p.q_dtype), kb = dtype_size(p.kv_dtype);
  bool ok = is_aligned16(p.q) && is_aligned16(p.out) && is_aligned16(p.k) && is_aligned16(p.v);
  ok = ok && stride_aligned16(p.q_stride_token, qb) && stride_aligned16(p.q_stride_head, qb);
  ok = ok && stride_aligned16(p.out_stride_token, qb) && stride_aligned16(p.out_stride_head, qb);
  ok = ok && stride_aligned16(p.k_stride_token, kb) && stride_aligned16(p.k_stride_head, kb);
  ok = ok && stride_aligned16(p.v_stride_token, kb) && stride_aligned16(p.v_stride_head, kb);
  if (p.paged) ok = ok && stride_aligned16(p.k_stride_block, kb) && stride_aligned16(p.v_stride_block, kb);
  return ok && (p.head_dim * qb) % 16 == 0 && (p.head_dim * kb) % 16 == 0;
}

PrefillParams make_prefill_params(const AttentionProblem& p, bool skip_short_queries) {
  PrefillParams r;
  r.q = p.q;
  r.q_stride_token = p.q_stride_token;
  r.q_stride_head = p.q_stride_head;
  r.out = p.out;
  r.out_stride_token = p.out_stride_token;
  r.out_stride_head = p.out_stride_head;
  r.lse = p.lse;
  r.lse_stride_head = p.lse_stride_head;
  r.lse_stride_token = p.lse_stride_token;
  r.k = p.k;
  r.v = p.v;
  r.k_stride_block = p.paged ? p.k_stride_block : 0;
  r.k_stride_token = p.k_stride_token;
  r.k_stride_head = p.k_stride_head;
  r.v_stride_block = p.paged ? p.v_stride_block : 0;
  r.v_stride_token = p.v_stride_token;
  r.v_stride_head = p.v_stride_head;
  r.paged = p.paged;
  r.page_size = FastDivmod(p.paged && p.page_size > 0 ? static_cast<uint32_t>(p.page_size) : 1u);
  r.block_table = p.block_table;
  r.block_table_stride = p.block_table_stride;
  r.cu_seqlens_q = p.cu_seqlens_q;
  r.cu_seqlens_k = p.cu_seqlens_k;
  r.seqused_k = p.seqused_k;
  r.num_q_heads = p.num_q_heads;
  r.group_size = p.num_q_heads / p.num_kv_heads;
  r.q_descale = p.q_descale;
  r.k_descale = p.k_descale;
  r.v_descale = p.v_descale;
  r.softmax_scale = p.softmax_scale;
  r.softcap = p.softcap;
  r.window_left = p.window_left;
  r.window_right = p.window_right;
  r.sinks = p.sinks;
  r.sinks_dtype = p.sinks_dtype;
  r.sinks_stride = p.sinks_stride;
  r.skip_short_queries = skip_short_queries;
  r.kv_e5m2 = p.kv_dtype == DType::kFloat8E5M2;
  r.aligned16 = prefill_rows_aligned16(p);
  return r;
}

void launch_prefill_portable(const AttentionProblem& p, cudaStream_t stream, bool skip_short_queries) {
  if (p.q_dtype != DType::kBFloat16 && p.q_dtype != DType::kFloat16)
    throw Error(ErrorCode::kInvalidDType, "q", std::string("expected bf16 or fp16, got ") + dtype_name(p.q_dtype));
  const bool fp8 = is_fp8(p.kv_dtype);
  if (!fp8 && p.kv_dtype != p.q_dtype)
    throw Error(ErrorCode::kInvalidDType, "k",
                std::string("expected q's dtype or fp8 e4m3/e5m2, got ") + dtype_name(p.kv_dtype));

  PrefillGrid grid;
  if (!make_prefill_grid(p, skip_short_queries, grid)) return;
  const PrefillParams params = make_prefill_params(p, skip_short_queries);
  if (p.q_dtype == DType::kBFloat16)
    dispatch_head_dim<__nv_bfloat16>(p, params, grid, stream, fp8);
  else
    dispatch_head_dim<__half>(p, params, grid, stream, fp8);
}

}  // namespace cuda
}  // namespace kvattn
