// The CPU attention kernel for one work item: the queries of a tile, all heads
// of one GQA group, against a range of keys. It leaves the unnormalized
// softmax state of every row (O = sum_j e^{s_j - m} v_j, m, l = sum_j e^{s_j - m})
// in the scratch; the caller finalizes or merges it.
#pragma once
#include <cstdint>
#include <vector>

#include "core/problem.h"
#include "cpu/attention_plan.h"
#include "cpu/micro_kernels.h"  // kRowBlock: row buffers are padded to it
#include "cpu/row_convert.h"

namespace kvattn {
namespace cpu {

// Per-thread buffers, sized once per call for the largest item.
class TileScratch {
 public:
  void reserve(int64_t max_rows, int64_t max_queries, int head_dim);

  int64_t ld = 0;          // row stride of q, k, v, o: D rounded up to whole column blocks
  float* q = nullptr;      // [rows_pad][ld] scaled queries, row r = query (r / G), head (r % G)
  float* kt = nullptr;     // [D][kKeyTile] decoded keys, transposed (many rows per item)
  float* k = nullptr;      // [kKeyTile][ld] decoded keys, row-major (few rows per item)
  float* v = nullptr;      // [kKeyTile][ld] decoded values
  float* s = nullptr;      // [rows_pad][kKeyTile] scores, then probabilities
  float* o = nullptr;      // [rows_pad][ld] unnormalized output
  float* m = nullptr;      // [rows_pad] running max
  float* l = nullptr;      // [rows_pad] running sum
  float* row = nullptr;    // [D] one decoded row before transposition
  KeyRange* query_keys = nullptr;  // [max_queries] visible keys within the item's range
  unsigned char* block_active = nullptr;  // [rows_pad / kRowBlock] block sees a key of the current tile

 private:
  std::vector<float> floats_;
  std::vector<KeyRange> ranges_;
  std::vector<unsigned char> flags_;
};

// One work item with everything resolved.
struct TileJob {
  const AttentionProblem* p = nullptr;
  const SequenceSpan* seq = nullptr;
  const WorkItem* item = nullptr;
  RowDecoder q_decoder;
  RowDecoder kv_decoder;
  float score_factor = 1.0f;  // softmax_scale * q_descale * k_descale (/ softcap when on)
};

// Fills scratch.o / m / l for rows [0, (q_end - q_begin) * G) of the item.
void compute_tile_states(const TileJob& job, TileScratch& scratch);

// Which vector code path compute_tile_states uses: "avx512", "avx2" or
// "generic". KVATTN_CPU_ISA=generic|avx2|avx512 in the environment caps it.
const char* cpu_kernel_isa();

}  // namespace cpu
}  // namespace kvattn
