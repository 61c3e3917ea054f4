// Small valid calls for the contract tests: each test breaks one argument of a
// valid call and checks the rejection. Buffers are owned by the case; outputs
// start as a sentinel pattern so a test can prove nothing was written.
// EXPECT_REJECTED(case, code, arg[, needle]) runs the case's call and checks
// both the error and that the outputs are untouched.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kvattn/attention.h"
#include "kvattn/cache.h"
#include "kvattn/error.h"
#include "kvattn/merge.h"
#include "kvattn/tensor.h"

namespace contract {

using kvattn::Backend;
using kvattn::Device;
using kvattn::DeviceType;
using kvattn::DType;
using kvattn::ErrorCode;
using kvattn::TensorView;

constexpr Device kCuda0{DeviceType::kCUDA, 0};
constexpr Device kCuda1{DeviceType::kCUDA, 1};

// bf16 bits of x, rounded to nearest even (x finite).
inline uint16_t to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline void fill_bf16(std::vector<uint16_t>& v, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto& x : v) x = to_bf16(dist(gen));
}

inline void fill_float(std::vector<float>& v, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto& x : v) x = dist(gen);
}

// A copy of a buffer's bytes, to prove later that nothing wrote to it.
class Snapshot {
 public:
  template <class T>
  void add(const std::vector<T>& v) {
    const auto* p = reinterpret_cast<const unsigned char*>(v.data());
    entries_.push_back({p, std::vector<unsigned char>(p, p + v.size() * sizeof(T))});
  }
  bool unchanged() const {
    for (const auto& e : entries_)
      if (std::memcmp(e.where, e.bytes.data(), e.bytes.size()) != 0) return false;
    return true;
  }

 private:
  struct Entry {
    const unsigned char* where;
    std::vector<unsigned char> bytes;
  };
  std::vector<Entry> entries_;
};

// Runs `call`, expecting kvattn::Error with this code naming `arg` (and, if
// given, a message containing `needle`).
template <class Call>
void expect_error(Call&& call, ErrorCode code, const std::string& arg, const std::string& needle = "") {
  try {
    call();
    ADD_FAILURE() << "expected kvattn::Error naming '" << arg << "', but the call succeeded";
  } catch (const kvattn::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(code)) << msg;
    EXPECT_EQ(e.argument(), arg) << msg;
    EXPECT_EQ(msg.rfind("kvattn: " + arg + ": expected ", 0), 0u) << msg;
    EXPECT_NE(msg.find(", got "), std::string::npos) << msg;
    if (!needle.empty()) {
      EXPECT_NE(msg.find(needle), std::string::npos) << "missing '" << needle << "' in: " << msg;
    }
  }
}

// A valid bf16 attention call: B = 2 sequences (q_len 3 and 1; kv_len 20 and 5),
// Hq = 4, Hkv = 2, D = 64. Paged: 4 blocks of 16 tokens, table [[2, 0], [3, 1]].
// Contiguous: k/v [25, Hkv, D] with cu_seqlens_k [0, 20, 25].
struct AttentionCase {
  static constexpr int kB = 2, kHq = 4, kHkv = 2, kD = 64, kPage = 16, kBlocks = 4, kMaxBlocks = 2;
  static constexpr int kTotalQ = 4, kTotalK = 25;

  std::vector<uint16_t> q, k, v, out;
  std::vector<float> lse;
  std::vector<int32_t> cu_seqlens_q{0, 3, 4}, seqused_k{20, 5}, cu_seqlens_k{0, 20, 25};
  std::vector<int32_t> block_table{2, 0, 3, 1};
  kvattn::VarlenAttentionArgs args;
  Snapshot outputs;

  explicit AttentionCase(bool paged = true) {
    q.resize(kTotalQ * kHq * kD);
    const int64_t kv_tokens = paged ? int64_t{kBlocks} * kPage : kTotalK;
    k.resize(kv_tokens * kHkv * kD);
    v.resize(k.size());
    fill_bf16(q, 1);
    fill_bf16(k, 2);
    fill_bf16(v, 3);
    out.assign(q.size(), 0xA5A5);                 // sentinel pattern
    lse.assign(kHq * kTotalQ, -12345.5f);

    args.q = TensorView::contiguous(q.data(), DType::kBFloat16, {kTotalQ, kHq, kD});
    args.cu_seqlens_q = TensorView::contiguous(cu_seqlens_q.data(), DType::kInt32, {kB + 1});
    if (paged) {
      args.k = TensorView::contiguous(k.data(), DType::kBFloat16, {kBlocks, kPage, kHkv, kD});
      args.v = TensorView::contiguous(v.data(), DType::kBFloat16, {kBlocks, kPage, kHkv, kD});
      args.seqused_k = TensorView::contiguous(seqused_k.data(), DType::kInt32, {kB});
      args.block_table = TensorView::contiguous(block_table.data(), DType::kInt32, {kB, kMaxBlocks});
    } else {
      args.k = TensorView::contiguous(k.data(), DType::kBFloat16, {kTotalK, kHkv, kD});
      args.v = TensorView::contiguous(v.data(), DType::kBFloat16, {kTotalK, kHkv, kD});
      args.cu_seqlens_k = TensorView::contiguous(cu_seqlens_k.data(), DType::kInt32, {kB + 1});
    }
    args.max_seqlen_q = 3;
    args.max_seqlen_k = 20;
    args.out = TensorView::contiguous(out.data(), DType::kBFloat16, {kTotalQ, kHq, kD});
    args.softmax_lse = TensorView::contiguous(lse.data(), DType::kFloat32, {kHq, kTotalQ});
    outputs.add(out);
    outputs.add(lse);
  }
  AttentionCase(const AttentionCase&) = delete;
  AttentionCase& operator=(const AttentionCase&) = delete;

  static constexpr const char* kOutputsName = "out or softmax_lse";
  void call() { kvattn::varlen_attention_forward(args); }

  // Every view of the call (required and optional) moved to `device`.
  void move_all_to(Device device) {
    for (TensorView* t : {&args.q, &args.k, &args.v, &args.cu_seqlens_q, &args.cu_seqlens_k, &args.seqused_k,
                          &args.block_table, &args.q_descale, &args.k_descale, &args.v_descale, &args.sinks,
                          &args.out, &args.softmax_lse, &args.workspace})
      t->device = device;
  }
};

// A valid fp8 (e4m3) cache write: T = 5 fp32 tokens, Hkv = 2, D = 64 into
// 3 blocks of 4 slots; k_scale one element, v_scale per head.
struct CacheWriteCase {
  static constexpr int kT = 5, kHkv = 2, kD = 64, kBlocks = 3, kPage = 4;

  std::vector<float> key, value, k_scale{0.5f}, v_scale{0.25f, 2.0f};
  std::vector<uint8_t> key_cache, value_cache;
  std::vector<int64_t> slot_mapping{0, 5, -1, 11, 2};
  kvattn::CacheWriteArgs args;
  Snapshot outputs;

  CacheWriteCase() {
    key.resize(kT * kHkv * kD);
    value.resize(key.size());
    fill_float(key, 4);
    fill_float(value, 5);
    key_cache.assign(kBlocks * kPage * kHkv * kD, 0x5A);
    value_cache.assign(key_cache.size(), 0xC3);
    args.key = TensorView::contiguous(key.data(), DType::kFloat32, {kT, kHkv, kD});
    args.value = TensorView::contiguous(value.data(), DType::kFloat32, {kT, kHkv, kD});
    args.key_cache = TensorView::contiguous(key_cache.data(), DType::kFloat8E4M3, {kBlocks, kPage, kHkv, kD});
    args.value_cache = TensorView::contiguous(value_cache.data(), DType::kFloat8E4M3, {kBlocks, kPage, kHkv, kD});
    args.slot_mapping = TensorView::contiguous(slot_mapping.data(), DType::kInt64, {kT});
    args.kv_cache_dtype = kvattn::KvCacheDType::kFp8E4M3;
    args.k_scale = TensorView::contiguous(k_scale.data(), DType::kFloat32, {1});
    args.v_scale = TensorView::contiguous(v_scale.data(), DType::kFloat32, {kHkv});
    outputs.add(key_cache);
    outputs.add(value_cache);
  }
  CacheWriteCase(const CacheWriteCase&) = delete;
  CacheWriteCase& operator=(const CacheWriteCase&) = delete;

  static constexpr const char* kOutputsName = "a cache";
  void call() { kvattn::reshape_and_cache_flash(args); }
};

// A valid fp32 merge: T = 3 tokens, H = 2 heads, D = 64.
struct MergeCase {
  static constexpr int kT = 3, kH = 2, kD = 64;

  std::vector<float> prefix, suffix, out, prefix_lse, suffix_lse, out_lse;
  kvattn::MergeArgs args;
  Snapshot outputs;

  MergeCase() {
    prefix.resize(kT * kH * kD);
    suffix.resize(prefix.size());
    prefix_lse.resize(kH * kT);
    suffix_lse.resize(kH * kT);
    fill_float(prefix, 6);
    fill_float(suffix, 7);
    fill_float(prefix_lse, 8);
    fill_float(suffix_lse, 9);
    out.assign(prefix.size(), -777.25f);
    out_lse.assign(kH * kT, -888.5f);
    args.output = TensorView::contiguous(out.data(), DType::kFloat32, {kT, kH, kD});
    args.output_lse = TensorView::contiguous(out_lse.data(), DType::kFloat32, {kH, kT});
    args.prefix_output = TensorView::contiguous(prefix.data(), DType::kFloat32, {kT, kH, kD});
    args.prefix_lse = TensorView::contiguous(prefix_lse.data(), DType::kFloat32, {kH, kT});
    args.suffix_output = TensorView::contiguous(suffix.data(), DType::kFloat32, {kT, kH, kD});
    args.suffix_lse = TensorView::contiguous(suffix_lse.data(), DType::kFloat32, {kH, kT});
    outputs.add(out);
    outputs.add(out_lse);
  }
  MergeCase(const MergeCase&) = delete;
  MergeCase& operator=(const MergeCase&) = delete;

  static constexpr const char* kOutputsName = "output or output_lse";
  void call() { kvattn::merge_attn_states(args); }
};

constexpr ErrorCode kArg = ErrorCode::kInvalidArgument;
constexpr ErrorCode kDType = ErrorCode::kInvalidDType;
constexpr ErrorCode kNotImpl = ErrorCode::kNotImplemented;

// Runs the case's call, expecting expect_error(code, arg, needle), and checks
// that the rejected call left the case's outputs untouched.
template <class Case>
void check_rejected(Case& c, ErrorCode code, const std::string& arg, const std::string& needle = "") {
  expect_error([&] { c.call(); }, code, arg, needle);
  EXPECT_TRUE(c.outputs.unchanged()) << "a rejected call wrote to " << Case::kOutputsName;
}

// SCOPED_TRACE makes a failure report the test's line, not the helper's.
#define EXPECT_REJECTED(c, ...)                 \
  do {                                          \
    SCOPED_TRACE("rejected call");              \
    ::contract::check_rejected(c, __VA_ARGS__); \
  } while (0)

}  // namespace contract
