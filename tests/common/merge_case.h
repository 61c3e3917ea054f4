// Randomized merge_attn_states cases: description, host buffers, argument
// binding over host or device pointers, and a checker against the float64
// reference (docs/semantics.md S7).
#pragma once
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/rng.h"
#include "kvattn/merge.h"

namespace kvtest {

struct MergeCase {
  int num_tokens = 8;
  int num_heads = 4;
  int head_dim = 64;
  kvattn::DType dtype = kvattn::DType::kFloat32;
  bool with_out_lse = true;
  int token_padding = 0;  // outputs: elements between tokens beyond H * head stride
  int head_padding = 0;
  bool lse_transposed = false;  // LSEs stored [T, H] and viewed [H, T] with strides (1, H)
  double special_chance = 0.3;  // (h, t) pairs given infinite / extreme LSEs
  uint64_t seed = 0;
  std::string describe() const;
};

enum MergeBufferId : int { kMPrefix, kMSuffix, kMPrefixLse, kMSuffixLse, kMOut, kMOutLse, kMNumBuffers };

struct MergeData {
  MergeCase c;
  int64_t stride_token = 0, stride_head = 0;          // all three outputs
  int64_t lse_stride_head = 0, lse_stride_token = 0;  // all three LSEs
  std::array<std::vector<uint8_t>, kMNumBuffers> host;  // outputs hold the poison pattern
};

MergeCase sample_merge_case(Rng& rng);
MergeData build_merge_case(const MergeCase& c);
kvattn::MergeArgs bind_merge_args(const MergeData& d, const std::array<void*, kMNumBuffers>& p, kvattn::Device device);
// `out` / `out_lse`: host copies after the call (poisoned before it).
::testing::AssertionResult check_merge(const MergeData& d, const std::vector<uint8_t>& out,
                                       const std::vector<uint8_t>& out_lse);

}  // namespace kvtest
