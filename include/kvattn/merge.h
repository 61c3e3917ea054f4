// Merge of two partial attention states (vLLM's merge_attn_states).
#pragma once
#include "kvattn/attention.h"
#include "kvattn/tensor.h"

namespace kvattn {

struct MergeArgs {
  TensorView output;         // [T, H, D] fp32/fp16/bf16
  TensorView output_lse;     // optional fp32 [H, T]
  TensorView prefix_output;  // [T, H, D], output's dtype
  TensorView prefix_lse;     // fp32 [H, T], natural log; +inf counts as -inf
  TensorView suffix_output;
  TensorView suffix_lse;
  Backend backend = Backend::kAuto;
  void* stream = nullptr;
};

// out = (e^{lp} o_p + e^{ls} o_s) / (e^{lp} + e^{ls}), lse = log(e^{lp} + e^{ls});
// both sides empty (-inf) gives zeros and -inf.
void merge_attn_states(const MergeArgs& args);

}  // namespace kvattn
