// launch_prefill_hopper: picks the kernel instance for (head dim, q dtype, KV
// kind).
#include <string>

#include "cuda/common/routing.h"
#include "cuda/hopper/hopper_instances.h"
#include "cuda/hopper/hopper_prefill.h"
#include "cuda/prefill/prefill.h"
#include "cuda/prefill/prefill_params.h"
#include "kvattn/error.h"

namespace kvattn {
namespace cuda {

bool hopper_prefill_supports(const AttentionProblem& p) {
#if defined(KVATTN_HAVE_HOPPER_KERNELS)
  const bool head_dim_ok = p.head_dim == 64 || p.head_dim == 128 || p.head_dim == 256;
  const bool q_ok = p.q_dtype == DType::kBFloat16 || p.q_dtype == DType::kFloat16;
  const bool fp8 = is_fp8(p.kv_dtype);
  const bool kv_ok = fp8 || p.kv_dtype == p.q_dtype;
  return head_dim_ok && q_ok && kv_ok && prefill_rows_aligned16(p);
#else
  (void)p;
  return false;
#endif
}

#if defined(KVATTN_HAVE_HOPPER_KERNELS)
namespace {

template <class QT>
void dispatch_head_dim(const AttentionProblem& p, const PrefillParams& params, const PrefillGrid& grid,
                       cudaStream_t stream, bool fp8, bool wait_first) {
  switch (p.head_dim) {
#define KVATTN_HOPPER_CASE(D)                                      \
  case D:                                                          \
    if (fp8)                                                       \
      hopper::launch_instance<D, QT, true>(p, params, grid, stream, wait_first);  \
    else                                                           \
      hopper::launch_instance<D, QT, false>(p, params, grid, stream, wait_first); \
    return;
    KVATTN_HOPPER_HEAD_DIMS(KVATTN_HOPPER_CASE)
#undef KVATTN_HOPPER_CASE
    default:
      throw Error(ErrorCode::kNotImplemented, "head_dim",
                  "the Hopper prefill kernel supports 64, 128 or 256, got " + std::to_string(p.head_dim));
  }
}

}  // namespace
#endif

void launch_prefill_hopper(const AttentionProblem& p, cudaStream_t stream, bool skip_short_queries, bool wait_first) {
#if !defined(KVATTN_HAVE_HOPPER_KERNELS)
  (void)p, (void)stream, (void)skip_short_queries, (void)wait_first;
  throw Error(ErrorCode::kNotImplemented, "backend", "this build has no Hopper kernels (CUTLASS headers missing)");
#else
  PrefillGrid grid;
  if (!make_prefill_grid(p, skip_short_queries, grid)) return;
  PrefillParams params = make_prefill_params(p, skip_short_queries);
  const bool fp8 = is_fp8(p.kv_dtype);
  if (p.q_dtype == DType::kBFloat16)
    dispatch_head_dim<__nv_bfloat16>(p, params, grid, stream, fp8, wait_first);
  else
    dispatch_head_dim<__half>(p, params, grid, stream, fp8, wait_first);
#endif
}

}  // namespace cuda
}  // namespace kvattn
