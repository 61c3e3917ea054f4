#!/bin/bash
# Extracts the prefill kernel sources of git revision REV into OUTDIR/cuda_base/,
# renamed into namespace kvattn::cuda_base, plus a launcher that the standalone
# test times as "baseline" (build with BASELINE=OUTDIR tools/dev/prefill_build.sh).
# usage: prefill_baseline.sh REV OUTDIR
set -e
cd "$(dirname "$0")/../.."
rev=$1; out=$2
mkdir -p "$out/cuda_base/prefill" "$out/cuda_base/common"
for f in $(git ls-tree --name-only "$rev" src/cuda/prefill/ src/cuda/common/); do
  dst="$out/cuda_base/${f#src/cuda/}"
  git show "$rev:$f" | sed -e 's#"cuda/#"cuda_base/#g' -e 's#namespace cuda {#namespace cuda_base {#' \
    -e 's#}  // namespace cuda$#}  // namespace cuda_base#' -e 's/KVATTN_PREFILL_/KVATTN_BASE_PREFILL_/g' > "$dst"
done
cat > "$out/baseline_launch.cu" <<'EOT'
// Test-only: the prefill kernel of an earlier revision, for A/B timings.
#include "cuda_base/prefill/prefill.h"
namespace kvattn {
namespace prefill_test {
void launch_baseline_prefill(const AttentionProblem& p) { cuda_base::launch_prefill_portable(p, nullptr, false); }
}  // namespace prefill_test
}  // namespace kvattn
EOT
