#include "kvattn/version.h"

namespace kvattn {
bool built_with_cuda() {
#if defined(KVATTN_WITH_CUDA)
  return true;
#else
  return false;
#endif
}
bool built_with_hopper_kernels() {
#if defined(KVATTN_HAVE_HOPPER_KERNELS)
  return true;
#else
  return false;
#endif
}
}  // namespace kvattn
