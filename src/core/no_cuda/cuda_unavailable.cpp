// Stand-ins for the CUDA backend in a build without CUDA: every CUDA request
// fails with a clear error instead of a link error.
#include "core/backends.h"
#include "kvattn/error.h"

namespace kvattn {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw Error(ErrorCode::kNotImplemented, what,
              "this kvattn build has no CUDA backend (configure with nvcc available and KVATTN_ENABLE_CUDA=ON)");
}
}  // namespace

void cuda_varlen_attention(const AttentionProblem&) { no_cuda("device"); }
void cuda_cache_write(const CacheWriteProblem&) { no_cuda("device"); }
void cuda_merge(const MergeProblem&) { no_cuda("device"); }
int cuda_attention_num_splits(int64_t, int, int, int, int64_t, int64_t, int, Device) { return 1; }
size_t cuda_attention_workspace_size(int64_t, int, int, int, int64_t, int64_t, int, Device) { return 0; }
size_t cuda_attention_prewiden_bytes(int64_t, int, int, int64_t, int64_t, DType, Device) { return 0; }
bool cuda_device_is_hopper(Device) { return false; }

}  // namespace kvattn
