// Validation of varlen attention arguments (docs/semantics.md S1-S4, S8).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/backends.h"
#include "core/check.h"
#include "core/dispatch.h"
#include "core/validate.h"
#include "kvattn/error.h"

namespace kvattn {

namespace {

using namespace check;

constexpr int64_t kInt32Max = INT32_MAX;  // lengths and per-call ints are int32 (S8)

// Sizes established while checking, used by later checks and the problem.
struct Sizes {
  int64_t batch = 0;
  int64_t total_q = 0;
  int num_q_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  bool paged = false;
  int page_size = 0;
};

bool is_supported_head_dim(int64_t d) {
  return d == 64 || d == 96 || d == 128 || d == 192 || d == 256;
}

void check_query(const TensorView& q, Sizes& s) {
  require_rank(q, "q", 3, "[total_q, Hq, D]");
  if (is_fp8(q.dtype))
    fail(ErrorCode::kNotImplemented, "q", "dtype bfloat16 or float16 (an fp8 query is not supported yet)",
         dtype_name(q.dtype));
  require_dtype(q, "q", {DType::kBFloat16, DType::kFloat16});
  require_last_dim_contiguous(q, "q");
  require_known_device(q, "q");
  if (q.shape[1] < 1 || q.shape[1] > kInt32Max)
    fail(ErrorCode::kInvalidArgument, "q", "at least one query head (dim 1 of [total_q, Hq, D])", shape_str(q));
  if (!is_supported_head_dim(q.shape[2]))
    fail(ErrorCode::kNotImplemented, "q", "a supported head dim",
         std::to_string(q.shape[2]) + " (head dim must be one of 64, 96, 128, 192, 256)");
  s.total_q = q.shape[0];
  s.num_q_heads = static_cast<int>(q.shape[1]);
  s.head_dim = static_cast<int>(q.shape[2]);
}

// Every present tensor must be on q's device (checked before anything could
// reach a CUDA call).
void check_devices(const VarlenAttentionArgs& a) {
  const struct {
    const TensorView* view;
    const char* name;
  } tensors[] = {{&a.k, "k"},
                 {&a.v, "v"},
                 {&a.cu_seqlens_q, "cu_seqlens_q"},
                 {&a.cu_seqlens_k, "cu_seqlens_k"},
                 {&a.seqused_k, "seqused_k"},
                 {&a.block_table, "block_table"},
                 {&a.q_descale, "q_descale"},
                 {&a.k_descale, "k_descale"},
                 {&a.v_descale, "v_descale"},
                 {&a.sinks, "sinks"},
                 {&a.out, "out"},
                 {&a.softmax_lse, "softmax_lse"},
                 {&a.workspace, "workspace"}};
  for (const auto& t : tensors)
    if (t.view->defined()) require_same_device(*t.view, t.name, a.q.device, "q");
}

// Paged (seqused_k + block_table) or contiguous (cu_seqlens_k); exactly one.
bool resolve_kv_layout(const VarlenAttentionArgs& a) {
  const bool has_cu_k = a.cu_seqlens_k.defined();
  const bool has_used = a.seqused_k.defined();
  const bool has_table = a.block_table.defined();
  if (has_cu_k && has_used)
    fail(ErrorCode::kInvalidArgument, "cu_seqlens_k",
         "cu_seqlens_k (contiguous KV) or seqused_k (paged KV), which are mutually exclusive", "both");
  if (has_table && !has_used)
    fail(ErrorCode::kInvalidArgument, "block_table", "seqused_k alongside block_table (paged KV needs both)",
         "block_table without seqused_k");
  if (has_used && !has_table)
    fail(ErrorCode::kInvalidArgument, "block_table", "a block table with seqused_k (paged KV needs a table)", "none");
  if (!has_cu_k && !has_used)
    fail(ErrorCode::kInvalidArgument, "cu_seqlens_k",
         "cu_seqlens_k (contiguous KV) or seqused_k with block_table (paged KV)", "neither");
  return has_used;
}

void check_kv(const VarlenAttentionArgs& a, Sizes& s) {
  const int rank = s.paged ? 4 : 3;
  const char* layout = s.paged ? "[num_blocks, page_size, Hkv, D]" : "[total_k, Hkv, D]";
  const TensorView& k = a.k;
  require_rank(k, "k", rank, layout);
  require_dtype(k, "k", {a.q.dtype, DType::kFloat8E4M3, DType::kFloat8E5M2});
  require_last_dim_contiguous(k, "k");
  require_rank(a.v, "v", rank, layout);
  require_same_dtype(a.v, "v", k.dtype, "k");
  require_same_shape(a.v, "v", k, "k");
  require_last_dim_contiguous(a.v, "v");

  const int64_t kv_heads = k.shape[rank - 2];
  const int64_t head_dim = k.shape[rank - 1];
  if (kv_heads < 1)
    fail(ErrorCode::kInvalidArgument, "k", std::string("at least one kv head (Hkv in ") + layout + ")", shape_str(k));
  if (s.num_q_heads % kv_heads != 0)
    fail(ErrorCode::kInvalidArgument, "k",
         "a kv head count dividing Hq = " + std::to_string(s.num_q_heads) +
             " (number of query heads must be a multiple of kv heads)",
         "Hkv = " + std::to_string(kv_heads));
  if (head_dim != s.head_dim)
    fail(ErrorCode::kInvalidArgument, "k", "head dim " + std::to_string(s.head_dim) + " (q's)",
         std::to_string(head_dim));
  if (s.paged && (k.shape[1] < 1 || k.shape[1] > kInt32Max))
    fail(ErrorCode::kInvalidArgument, "k", "page_size (dim 1 of [num_blocks, page_size, Hkv, D]) >= 1",
         std::to_string(k.shape[1]));
  s.num_kv_heads = static_cast<int>(kv_heads);
  s.page_size = s.paged ? static_cast<int>(k.shape[1]) : 0;
}

void check_lengths(const VarlenAttentionArgs& a, Sizes& s) {
  require_rank(a.cu_seqlens_q, "cu_seqlens_q", 1, "[B+1]");
  require_dtype(a.cu_seqlens_q, "cu_seqlens_q", {DType::kInt32});
  require_contiguous_1d(a.cu_seqlens_q, "cu_seqlens_q");
  if (a.cu_seqlens_q.shape[0] < 1)
    fail(ErrorCode::kInvalidArgument, "cu_seqlens_q", "at least one element ([B+1])", shape_str(a.cu_seqlens_q));
  s.batch = a.cu_seqlens_q.shape[0] - 1;

  require_in_range(a.max_seqlen_q, "max_seqlen_q", 0, kInt32Max);
  require_in_range(a.max_seqlen_k, "max_seqlen_k", 0, kInt32Max);

  if (!s.paged) {
    require_rank(a.cu_seqlens_k, "cu_seqlens_k", 1, "[B+1]");
    require_dtype(a.cu_seqlens_k, "cu_seqlens_k", {DType::kInt32});
    require_contiguous_1d(a.cu_seqlens_k, "cu_seqlens_k");
    require_shape(a.cu_seqlens_k, "cu_seqlens_k", {s.batch + 1}, "([B+1] like cu_seqlens_q)");
    return;
  }
  require_rank(a.seqused_k, "seqused_k", 1, "[B]");
  require_dtype(a.seqused_k, "seqused_k", {DType::kInt32});
  require_contiguous_1d(a.seqused_k, "seqused_k");
  require_shape(a.seqused_k, "seqused_k", {s.batch}, "([B], B from cu_seqlens_q)");

  const TensorView& table = a.block_table;
  require_rank(table, "block_table", 2, "[B, max_blocks_per_seq]");
  require_dtype(table, "block_table", {DType::kInt32});
  require_last_dim_contiguous(table, "block_table");
  if (table.shape[0] != s.batch)
    fail(ErrorCode::kInvalidArgument, "block_table",
         std::to_string(s.batch) + " rows ([B, max_blocks_per_seq], B from cu_seqlens_q)", shape_str(table));
  // ceil(max_seqlen_k / page_size) without overflow.
  const int64_t blocks_needed = (a.max_seqlen_k + s.page_size - 1) / s.page_size;
  if (table.shape[1] < blocks_needed)
    fail(ErrorCode::kInvalidArgument, "block_table",
         "at least " + std::to_string(blocks_needed) + " columns (too narrow for max_seqlen_k = " +
             std::to_string(a.max_seqlen_k) + " with page_size " + std::to_string(s.page_size) + ")",
         std::to_string(table.shape[1]) + " columns");
}

DescaleView check_descale(const TensorView& t, const char* name, const Sizes& s) {
  if (!t.defined()) return {};
  require_rank(t, name, 2, "[B, Hkv]");
  require_dtype(t, name, {DType::kFloat32});
  require_shape(t, name, {s.batch, s.num_kv_heads}, "([B, Hkv]; expand a per-tensor scale with stride 0)");
  DescaleView d;
  d.data = static_cast<const float*>(t.data);
  d.stride_b = t.stride[0];
  d.stride_h = t.stride[1];
  return d;
}

void check_scalars(const VarlenAttentionArgs& a) {
  if (!std::isfinite(a.softmax_scale))
    fail(ErrorCode::kInvalidArgument, "softmax_scale", "a finite value (0 = 1/sqrt(D))", num_str(a.softmax_scale));
  if (!std::isfinite(a.softcap) || a.softcap < 0.0f)
    fail(ErrorCode::kInvalidArgument, "softcap", "a finite value >= 0 (0 = off)", num_str(a.softcap));
  if (a.window_left < -1)
    fail(ErrorCode::kInvalidArgument, "window_left", "-1 (unbounded) or a value >= 0", std::to_string(a.window_left));
  if (a.window_right < -1)
    fail(ErrorCode::kInvalidArgument, "window_right", "-1 (unbounded) or a value >= 0",
         std::to_string(a.window_right));
  if (a.num_splits < 0)
    fail(ErrorCode::kInvalidArgument, "num_splits", "0 (heuristic) or a split count >= 1",
         std::to_string(a.num_splits));
}

void check_sinks(const TensorView& sinks, const Sizes& s) {
  if (!sinks.defined()) return;
  require_rank(sinks, "sinks", 1, "[Hq]");
  require_dtype(sinks, "sinks", {DType::kFloat32, DType::kBFloat16, DType::kFloat16});
  require_shape(sinks, "sinks", {s.num_q_heads}, "([Hq])");
}

void check_outputs(const VarlenAttentionArgs& a, const Sizes& s) {
  require_rank(a.out, "out", 3, "[total_q, Hq, D]");
  require_same_dtype(a.out, "out", a.q.dtype, "q");
  require_same_shape(a.out, "out", a.q, "q");
  require_last_dim_contiguous(a.out, "out");
  if (!a.softmax_lse.defined()) return;
  require_rank(a.softmax_lse, "softmax_lse", 2, "[Hq, total_q]");
  require_dtype(a.softmax_lse, "softmax_lse", {DType::kFloat32});
  require_shape(a.softmax_lse, "softmax_lse", {s.num_q_heads, s.total_q}, "([Hq, total_q])");
}

void check_workspace_form(const TensorView& ws) {
  if (!ws.defined()) return;
  require_rank(ws, "workspace", 1, "[bytes]");
  require_contiguous_1d(ws, "workspace");
}

void fill_kv(const VarlenAttentionArgs& a, const Sizes& s, AttentionProblem& p) {
  p.paged = s.paged;
  p.k = a.k.data;
  p.v = a.v.data;
  const int t = s.paged ? 1 : 0;  // index of the token dim
  p.k_stride_token = a.k.stride[t];
  p.k_stride_head = a.k.stride[t + 1];
  p.v_stride_token = a.v.stride[t];
  p.v_stride_head = a.v.stride[t + 1];
  if (s.paged) {
    p.k_stride_block = a.k.stride[0];
    p.v_stride_block = a.v.stride[0];
    p.num_blocks = a.k.shape[0];
    p.page_size = s.page_size;
    p.block_table = static_cast<const int32_t*>(a.block_table.data);
    p.block_table_stride = a.block_table.stride[0];
    p.max_blocks_per_seq = a.block_table.shape[1];
    p.seqused_k = static_cast<const int32_t*>(a.seqused_k.data);
  } else {
    p.cu_seqlens_k = static_cast<const int32_t*>(a.cu_seqlens_k.data);
    p.total_k = a.k.shape[0];
  }
}

// Splits only exist on CUDA; the CPU backend always runs unsplit.
void resolve_splits(const VarlenAttentionArgs& a, const Sizes& s, AttentionProblem& p) {
  p.num_splits = 1;
  if (p.backend == Backend::kCpu) return;
  const int requested = std::min(a.num_splits, kMaxSplits);
  const SplitPlan plan = plan_cuda_splits(s.batch, s.num_q_heads, s.num_kv_heads, s.head_dim, a.max_seqlen_q,
                                          a.max_seqlen_k, requested, a.q.device);
  p.num_splits = resolve_num_splits(requested, plan, a.workspace);
  // Passed on even unsplit: the FP8 prewiden scratch sits after the split bytes.
  if (a.workspace.defined()) {
    p.workspace = a.workspace.data;
    p.workspace_bytes = static_cast<size_t>(a.workspace.numel()) * dtype_size(a.workspace.dtype);
  }
}

}  // namespace

SplitPlan plan_cuda_splits(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim, int64_t max_seqlen_q,
                           int64_t max_seqlen_k, int requested_splits, Device device) {
  SplitPlan plan;
  const int requested = std::min(requested_splits, kMaxSplits);
  plan.splits = cuda_attention_num_splits(batch, num_q_heads, num_kv_heads, head_dim, max_seqlen_q, max_seqlen_k,
                                          requested, device);
  plan.splits = std::max(1, std::min(plan.splits, kMaxSplits));
  if (plan.splits > 1)
    plan.workspace_bytes = cuda_attention_workspace_size(batch, num_q_heads, num_kv_heads, head_dim, max_seqlen_q,
                                                         max_seqlen_k, plan.splits, device);
  // Degenerate sizes (no rows or no keys) need no partials: nothing to split.
  if (plan.workspace_bytes == 0) plan.splits = 1;
  return plan;
}

int resolve_num_splits(int requested_splits, const SplitPlan& plan, const TensorView& workspace) {
  if (plan.splits <= 1) return 1;
  const std::string need = "at least " + std::to_string(plan.workspace_bytes) + " bytes for " +
                           std::to_string(plan.splits) + " splits (varlen_attention_workspace_size)";
  if (!workspace.defined()) {
    // A heuristic split is only an optimization: run unsplit. An explicit one
    // is a request the caller must provide memory for.
    if (requested_splits > 1) fail(ErrorCode::kInvalidArgument, "workspace", need, "none");
    return 1;
  }
  const size_t have = static_cast<size_t>(workspace.numel()) * dtype_size(workspace.dtype);
  if (have < plan.workspace_bytes)
    fail(ErrorCode::kInvalidArgument, "workspace", need, std::to_string(have) + " bytes");
  return plan.splits;
}

AttentionProblem make_attention_problem(const VarlenAttentionArgs& a) {
  Sizes s;
  check_query(a.q, s);
  check_devices(a);
  s.paged = resolve_kv_layout(a);
  check_kv(a, s);
  check_lengths(a, s);
  check_scalars(a);
  check_sinks(a.sinks, s);
  check_outputs(a, s);
  check_workspace_form(a.workspace);

  AttentionProblem p;
  p.batch = s.batch;
  p.total_q = s.total_q;
  p.num_q_heads = s.num_q_heads;
  p.num_kv_heads = s.num_kv_heads;
  p.head_dim = s.head_dim;
  p.max_seqlen_q = a.max_seqlen_q;
  p.max_seqlen_k = a.max_seqlen_k;
  p.q_dtype = a.q.dtype;
  p.kv_dtype = a.k.dtype;
  p.q = a.q.data;
  p.q_stride_token = a.q.stride[0];
  p.q_stride_head = a.q.stride[1];
  fill_kv(a, s, p);
  p.cu_seqlens_q = static_cast<const int32_t*>(a.cu_seqlens_q.data);
  p.q_descale = check_descale(a.q_descale, "q_descale", s);
  p.k_descale = check_descale(a.k_descale, "k_descale", s);
  p.v_descale = check_descale(a.v_descale, "v_descale", s);

  p.softmax_scale = a.softmax_scale != 0.0f ? a.softmax_scale : 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  p.softcap = a.softcap;
  p.causal = a.causal;
  p.window_left = a.window_left;
  // Causal is a right window of 0 (S2); it wins over any right window given with it.
  p.window_right = a.causal ? 0 : a.window_right;

  if (a.sinks.defined()) {
    p.sinks = a.sinks.data;
    p.sinks_dtype = a.sinks.dtype;
    p.sinks_stride = a.sinks.stride[0];
  }
  p.out = a.out.data;
  p.out_stride_token = a.out.stride[0];
  p.out_stride_head = a.out.stride[1];
  if (a.softmax_lse.defined()) {
    p.lse = static_cast<float*>(a.softmax_lse.data);
    p.lse_stride_head = a.softmax_lse.stride[0];
    p.lse_stride_token = a.softmax_lse.stride[1];
  }
  p.device = a.q.device;
  p.stream = a.stream;
  // Last: may query the CUDA backend, so only after every host-side check passed.
  p.backend = resolve_backend(a.backend, a.q.device);
  resolve_splits(a, s, p);
  return p;
}

}  // namespace kvattn
