#include "cpu/bounds.h"

#include <cstdint>
#include <string>

#include "kvattn/error.h"

namespace kvattn {
namespace cpu {

namespace {

[[noreturn]] void fail(const char* argument, const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, argument, message);
}

std::string at(const char* name, int64_t index) { return std::string(name) + "[" + std::to_string(index) + "]"; }

// cu_seqlens-style offsets: start at 0, never decrease, end within `total`;
// every length at most `max_len`.
void check_offsets(const char* argument, const int32_t* cu, int64_t batch, int64_t total, const char* total_name,
                   int64_t max_len, const char* max_name) {
  if (cu[0] != 0) fail(argument, at(argument, 0) + " must be 0, got " + std::to_string(cu[0]));
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = static_cast<int64_t>(cu[b + 1]) - cu[b];
    if (len < 0) {
      fail(argument, "must be non-decreasing, but " + at(argument, b + 1) + " = " + std::to_string(cu[b + 1]) +
                         " < " + at(argument, b) + " = " + std::to_string(cu[b]));
    }
    if (len > max_len) {
      fail(argument, "sequence " + std::to_string(b) + " has length " + std::to_string(len) + " > " + max_name +
                         " = " + std::to_string(max_len));
    }
  }
  if (total >= 0 && cu[batch] > total) {
    fail(argument, at(argument, batch) + " = " + std::to_string(cu[batch]) + " exceeds " + total_name + " = " +
                       std::to_string(total));
  }
}

}  // namespace

void check_attention_bounds(const AttentionProblem& p) {
  check_offsets("cu_seqlens_q", p.cu_seqlens_q, p.batch, p.total_q, "total_q (q.shape[0])", p.max_seqlen_q,
                "max_seqlen_q");
  if (!p.paged) {
    // The problem does not carry k.shape[0]; -1 skips the end check.
    check_offsets("cu_seqlens_k", p.cu_seqlens_k, p.batch, p.total_k, "k.shape[0]", p.max_seqlen_k, "max_seqlen_k");
    return;
  }
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t kv_len = p.seqused_k[b];
    if (kv_len < 0) fail("seqused_k", at("seqused_k", b) + " = " + std::to_string(kv_len) + " must be >= 0");
    if (kv_len > p.max_seqlen_k) {
      fail("seqused_k", at("seqused_k", b) + " = " + std::to_string(kv_len) + " exceeds max_seqlen_k = " +
                            std::to_string(p.max_seqlen_k));
    }
    const int64_t blocks_used = (kv_len + p.page_size - 1) / p.page_size;
    if (blocks_used > p.max_blocks_per_seq) {
      fail("block_table", "sequence " + std::to_string(b) + " needs " + std::to_string(blocks_used) +
                              " blocks but block_table has " + std::to_string(p.max_blocks_per_seq) + " columns");
    }
    const int32_t* row = p.block_table + b * p.block_table_stride;
    for (int64_t i = 0; i < blocks_used; ++i) {
      if (row[i] < 0 || row[i] >= p.num_blocks) {
        fail("block_table", "block_table[" + std::to_string(b) + ", " + std::to_string(i) + "] = " +
                                std::to_string(row[i]) + " is outside [0, num_blocks = " +
                                std::to_string(p.num_blocks) + ")");
      }
    }
  }
}

void check_cache_write_bounds(const CacheWriteProblem& p) {
  const int64_t num_slots = p.num_blocks * p.page_size;
  for (int64_t t = 0; t < p.num_tokens; ++t) {
    const int64_t slot = p.slot_mapping[t];
    if (slot >= num_slots) {
      fail("slot_mapping", at("slot_mapping", t) + " = " + std::to_string(slot) +
                               " is >= num_blocks * page_size = " + std::to_string(num_slots));
    }
  }
}

}  // namespace cpu
}  // namespace kvattn
