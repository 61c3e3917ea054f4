// Data-dependent checks the CPU backend makes before writing anything
// (docs/semantics.md S8): lengths, block ids and slots read from the caller's
// index tensors. Each throws kvattn::Error naming the offending argument.
#pragma once
#include "core/problem.h"

namespace kvattn {
namespace cpu {

void check_attention_bounds(const AttentionProblem& p);
void check_cache_write_bounds(const CacheWriteProblem& p);

}  // namespace cpu
}  // namespace kvattn
