// Compares one varlen-attention result (host copies of out and softmax_lse,
// which were poisoned before the call) with the float64 reference.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "common/attention_data.h"
#include "reference/ref_attention.h"

namespace kvtest {

struct AttentionTolerance {
  // Elementwise: |got - ref| <= out_roundoff * |ref| + p_rel * magnitude + abs_floor,
  // magnitude = v_descale * sum_j p_j |v_j| (the reference's out_magnitude).
  double out_roundoff = 0;  // unit roundoff of the final cast to q's dtype
  double p_rel = 0;         // relative error allowed on each probability p_j
  double abs_floor = 0;
  // Statistical: relative L2 error of each query row and of each (sequence, head),
  // after granting every element abs_floor.
  double row_rel_l2 = 0;
  double head_rel_l2 = 0;
  double lse_abs = 0;
};

AttentionTolerance cpu_tolerance(const AttentionCase& c);
AttentionTolerance gpu_tolerance(const AttentionCase& c);

// Checks: every out/LSE element of the real rows was written (no poison, no
// NaN), nothing else in the buffers changed (padding rows past cu_seqlens_q[B],
// gaps between heads/tokens), rows that see no key are zeros with LSE -inf, and
// the values are within `tol` of the reference. `lse` is ignored when the case
// has no LSE.
::testing::AssertionResult check_attention(const AttentionCaseData& d, const kvref::RefAttentionResult& ref,
                                           const std::vector<uint8_t>& out, const std::vector<uint8_t>& lse,
                                           const AttentionTolerance& tol);

// Bitwise equality of two runs' outputs (determinism).
::testing::AssertionResult check_bitwise_equal(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b,
                                               const char* what);

}  // namespace kvtest
