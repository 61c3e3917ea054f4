#include "call_args.h"

namespace kvattn_bench {

using kvattn::DType;
using kvattn::TensorView;

kvattn::VarlenAttentionArgs make_call_args(const Workload& w, const BatchLayout& l, DType kv_dtype,
                                           const BatchBuffers& buf, kvattn::Device dev, kvattn::Backend backend) {
  kvattn::VarlenAttentionArgs a;
  a.q = TensorView::contiguous(buf.q, DType::kBFloat16, {l.total_q, w.num_q_heads, w.head_dim}, dev);
  a.k = TensorView::contiguous(buf.k, kv_dtype, {l.num_blocks, w.page_size, w.num_kv_heads, w.head_dim}, dev);
  a.v = TensorView::contiguous(buf.v, kv_dtype, {l.num_blocks, w.page_size, w.num_kv_heads, w.head_dim}, dev);
  a.out = TensorView::contiguous(buf.out, DType::kBFloat16, {l.total_q, w.num_q_heads, w.head_dim}, dev);
  a.cu_seqlens_q = TensorView::contiguous(buf.cu_seqlens_q, DType::kInt32, {l.batch + 1}, dev);
  a.seqused_k = TensorView::contiguous(buf.seqused_k, DType::kInt32, {l.batch}, dev);
  a.block_table = TensorView::contiguous(buf.block_table, DType::kInt32, {l.batch, l.max_blocks_per_seq}, dev);
  a.max_seqlen_q = l.max_seqlen_q;
  a.max_seqlen_k = l.max_seqlen_k;
  if (buf.k_descale)
    a.k_descale = TensorView::contiguous(buf.k_descale, DType::kFloat32, {l.batch, w.num_kv_heads}, dev);
  if (buf.v_descale)
    a.v_descale = TensorView::contiguous(buf.v_descale, DType::kFloat32, {l.batch, w.num_kv_heads}, dev);
  a.causal = w.causal;
  if (buf.workspace)
    a.workspace =
        TensorView::contiguous(buf.workspace, DType::kUInt8, {static_cast<int64_t>(buf.workspace_bytes)}, dev);
  a.backend = backend;
  return a;
}

}  // namespace kvattn_bench
