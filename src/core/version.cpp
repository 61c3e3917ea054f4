#include "kvattn/version.h"

namespace kvattn {
bool built_with_cuda() {
#if defined(KVATTN_WITH_CUDA)
  return true;
#else
  return false;
#endif
}
}  // namespace kvattn
