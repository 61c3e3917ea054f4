// Validation of merge-attention-states arguments (docs/semantics.md S7).
#include <cstdint>
#include <string>

#include "core/check.h"
#include "core/dispatch.h"
#include "core/validate.h"
#include "kvattn/error.h"

namespace kvattn {

namespace {

using namespace check;


// An attention output [T, H, D] with output's dtype and shape.
void check_partial(const TensorView& t, const char* name, const TensorView& output) {
  require_rank(t, name, 3, "[T, H, D]");
  require_same_dtype(t, name, output.dtype, "output");
  require_same_shape(t, name, output, "output");
  require_last_dim_contiguous(t, name);
}

// An LSE fp32 [H, T], any strides.
void check_lse(const TensorView& t, const char* name, const TensorView& output) {
  require_rank(t, name, 2, "[H, T]");
  require_dtype(t, name, {DType::kFloat32});
  require_shape(t, name, {output.shape[1], output.shape[0]}, "([H, T] of output [T, H, D])");
}

}  // namespace

MergeProblem make_merge_problem(const MergeArgs& a) {
  const TensorView& out = a.output;
  require_float_token_heads(out, "output", "[T, H, D]", "H");
  const struct {
    const TensorView* view;
    const char* name;
  } tensors[] = {{&a.output_lse, "output_lse"},
                 {&a.prefix_output, "prefix_output"},
                 {&a.prefix_lse, "prefix_lse"},
                 {&a.suffix_output, "suffix_output"},
                 {&a.suffix_lse, "suffix_lse"}};
  for (const auto& t : tensors)
    if (t.view->defined()) require_same_device(*t.view, t.name, out.device, "output");

  check_partial(a.prefix_output, "prefix_output", out);
  check_lse(a.prefix_lse, "prefix_lse", out);
  check_partial(a.suffix_output, "suffix_output", out);
  check_lse(a.suffix_lse, "suffix_lse", out);
  if (a.output_lse.defined()) check_lse(a.output_lse, "output_lse", out);

  MergeProblem p;
  p.num_tokens = out.shape[0];
  p.num_heads = static_cast<int>(out.shape[1]);
  p.head_dim = static_cast<int>(out.shape[2]);
  p.dtype = out.dtype;
  p.out = out.data;
  p.out_stride_token = out.stride[0];
  p.out_stride_head = out.stride[1];
  if (a.output_lse.defined()) {
    p.out_lse = static_cast<float*>(a.output_lse.data);
    p.out_lse_stride_head = a.output_lse.stride[0];
    p.out_lse_stride_token = a.output_lse.stride[1];
  }
  p.prefix = a.prefix_output.data;
  p.prefix_stride_token = a.prefix_output.stride[0];
  p.prefix_stride_head = a.prefix_output.stride[1];
  p.prefix_lse = static_cast<const float*>(a.prefix_lse.data);
  p.prefix_lse_stride_head = a.prefix_lse.stride[0];
  p.prefix_lse_stride_token = a.prefix_lse.stride[1];
  p.suffix = a.suffix_output.data;
  p.suffix_stride_token = a.suffix_output.stride[0];
  p.suffix_stride_head = a.suffix_output.stride[1];
  p.suffix_lse = static_cast<const float*>(a.suffix_lse.data);
  p.suffix_lse_stride_head = a.suffix_lse.stride[0];
  p.suffix_lse_stride_token = a.suffix_lse.stride[1];
  p.device = out.device;
  p.stream = a.stream;
  p.backend = resolve_backend(a.backend, out.device);
  return p;
}

}  // namespace kvattn
