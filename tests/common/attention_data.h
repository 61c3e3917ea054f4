// Host buffers for one AttentionCase (fresh random data from its seed), the
// public-API argument struct over any copy of them (host or device pointers),
// and the float64 reference over the host copy.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "common/attention_case.h"
#include "kvattn/attention.h"
#include "reference/ref_attention.h"

namespace kvtest {

enum BufferId : int {
  kQ,
  kKv,  // K and V share one allocation (see KvPacking)
  kCuSeqlensQ,
  kCuSeqlensK,
  kSequsedK,
  kBlockTable,
  kKDescale,
  kVDescale,
  kSinks,
  kOut,  // outputs: host copies hold the poison pattern
  kLse,
  kNumBuffers
};
const char* buffer_name(int id);
inline bool is_output_buffer(int id) { return id == kOut || id == kLse; }

// All-ones bytes: NaN in fp32, fp16 and bf16, so an unwritten output element
// can never pass for a result, and untouched bytes are easy to recognize.
constexpr uint8_t kPoisonByte = 0xFF;

// Shapes and strides (in elements) of every buffer.
struct AttentionLayout {
  int64_t total_q = 0;  // cu_seqlens_q[B]
  int64_t q_rows = 0;   // q.shape[0] = out.shape[0] >= total_q
  int64_t max_seqlen_q = 0, max_seqlen_k = 0;  // hints passed to the call
  int64_t q_stride_token = 0, q_stride_head = 0;
  int64_t out_stride_token = 0, out_stride_head = 0;
  int64_t lse_stride_head = 0;  // token stride 1
  int64_t num_blocks = 0;       // paged
  int64_t kv_rows = 0;          // contiguous: k.shape[0]
  int64_t v_offset = 0;         // V's first element in the kv buffer (K's is 0)
  int64_t kv_stride_block = 0, kv_stride_token = 0, kv_stride_head = 0;
  int64_t kv_elements = 0;
  int64_t table_columns = 0, table_stride = 0;
  int64_t descale_stride_b = 0, descale_stride_h = 0;
};

struct AttentionCaseData {
  AttentionCase c;
  AttentionLayout l;
  std::array<std::vector<uint8_t>, kNumBuffers> host;  // empty = buffer not used by this case
};

using BufferPointers = std::array<void*, kNumBuffers>;

// Throws std::invalid_argument when fixed capacities are too small.
AttentionCaseData build_attention_case(const AttentionCase& c);

// Pointers into d.host (nullptr for unused buffers). Outputs point at `out`/`lse`.
BufferPointers host_input_pointers(const AttentionCaseData& d);

// The call over buffers at `p` on `device` (backend kAuto, no workspace).
kvattn::VarlenAttentionArgs bind_attention_args(const AttentionCaseData& d, const BufferPointers& p,
                                                kvattn::Device device);

kvref::RefAttentionResult run_reference(const AttentionCaseData& d);

// Fresh poisoned copies of the output buffers.
std::vector<uint8_t> poisoned_like(const std::vector<uint8_t>& buffer);

}  // namespace kvtest
