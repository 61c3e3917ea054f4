// launch_prefill_hopper: picks the kernel instance for (head dim, q dtype, KV
// kind).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
  const bool fp8 = p.kv_dtype == DType::kFloat8E4M3 || p.kv_dtype == DType::kFloat8E5M2;
  const bool kv_ok = fp8 || p.kv_dtype == p.q_dtype;
  return head_dim_ok && q_ok && kv_ok && prefill_rows_aligned16(p);
#else
  (void)p;
  return false;
#endif
}

#if defined(KVATTN_HAVE_HOPPER_KERNELS)
namespace {

// KVATTN_HOPPER_PINGPONG=1 turns the consumer ping-pong on (off by default: on an
// H200 it measured 6% slower for bf16 KV and equal for FP8); read once per process.
bool ping_pong_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("KVATTN_HOPPER_PINGPONG");
    if (v != nullptr && std::strcmp(v, "0") != 0 && std::strcmp(v, "1") != 0)
      std::fprintf(stderr, "kvattn: KVATTN_HOPPER_PINGPONG: expected 0 or 1, got '%s' (ping-pong stays off)\n", v);
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return enabled;
}

// KVATTN_HOPPER_EXPERIMENT: comma-separated kHopper* names (prefill_params.h) for
// A/B runs and diagnostics; unknown names are reported and ignored. Read once.
unsigned experiment_flags() {
  static const unsigned flags = [] {
    const char* v = std::getenv("KVATTN_HOPPER_EXPERIMENT");
    unsigned f = 0;
    if (v == nullptr) return f;
    std::string list(v);
    size_t start = 0;
    while (start <= list.size()) {
      const size_t end = std::min(list.find(',', start), list.size());
      const std::string name = list.substr(start, end - start);
      if (name == "noload")
        f |= kHopperNoLoad;
      else if (name == "nosoftmax")
        f |= kHopperNoSoftmax;
      else if (name == "nowiden")
        f |= kHopperNoWiden;
      else if (!name.empty())
        std::fprintf(stderr, "kvattn: KVATTN_HOPPER_EXPERIMENT: unknown '%s' (expected noload, nosoftmax, nowiden)\n",
                     name.c_str());
      start = end + 1;
    }
    if (f != 0) std::fprintf(stderr, "kvattn: KVATTN_HOPPER_EXPERIMENT=%s (0x%x)\n", v, f);
    return f;
  }();
  return flags;
}

template <class QT>
void dispatch_head_dim(const AttentionProblem& p, const PrefillParams& params, const PrefillGrid& grid,
                       cudaStream_t stream, bool fp8) {
  switch (p.head_dim) {
#define KVATTN_HOPPER_CASE(D)                                      \
  case D:                                                          \
    if (fp8)                                                       \
      hopper::launch_instance<D, QT, true>(p, params, grid, stream);  \
    else                                                           \
      hopper::launch_instance<D, QT, false>(p, params, grid, stream); \
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

void launch_prefill_hopper(const AttentionProblem& p, cudaStream_t stream, bool skip_short_queries) {
#if !defined(KVATTN_HAVE_HOPPER_KERNELS)
  (void)p, (void)stream, (void)skip_short_queries;
  throw Error(ErrorCode::kNotImplemented, "backend", "this build has no Hopper kernels (CUTLASS headers missing)");
#else
  PrefillGrid grid;
  if (!make_prefill_grid(p, skip_short_queries, grid)) return;
  PrefillParams params = make_prefill_params(p, skip_short_queries);
  params.hopper_ping_pong = ping_pong_enabled();
  params.hopper_experiment = experiment_flags();
  const bool fp8 = p.kv_dtype == DType::kFloat8E4M3 || p.kv_dtype == DType::kFloat8E5M2;
  if (p.q_dtype == DType::kBFloat16)
    dispatch_head_dim<__nv_bfloat16>(p, params, grid, stream, fp8);
  else
    dispatch_head_dim<__half>(p, params, grid, stream, fp8);
#endif
}

}  // namespace cuda
}  // namespace kvattn
