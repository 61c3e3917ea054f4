// Description of one randomized varlen-attention test case, and samplers that
// draw cases from a space of options. Plain data: no buffers here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/rng.h"
#include "kvattn/tensor.h"

namespace kvtest {

enum class DescaleKind { kNone, kPerTensor /* one value, stride-0 expand */, kPerSeqHead };
// Where K and V live relative to each other (both views always come from one allocation).
enum class KvPacking {
  kSeparate,          // K then V, each [blocks, page, Hkv, D] (or [total_k, Hkv, D])
  kBlockInterleaved,  // [blocks, 2, page, Hkv, D] (paged only)
  kTokenInterleaved,  // [blocks, page, 2, Hkv, D] / [total_k, 2, Hkv, D]
};
enum class BlockTableKind {
  kPermuted,  // distinct physical blocks in a random order
  kRepeated,  // like kPermuted, then some entries reuse blocks of earlier positions/sequences
};

struct SeqLens {
  int q_len = 0;
  int kv_len = 0;
};

struct AttentionCase {
  std::vector<SeqLens> seqs;
  int num_q_heads = 4;
  int num_kv_heads = 4;
  int head_dim = 64;
  kvattn::DType q_dtype = kvattn::DType::kBFloat16;
  kvattn::DType kv_dtype = kvattn::DType::kBFloat16;

  bool paged = true;
  int page_size = 16;
  BlockTableKind block_table = BlockTableKind::kPermuted;
  int extra_blocks = 0;          // unused physical blocks
  int extra_table_columns = 0;   // block-table columns beyond ceil(max_seqlen_k / page)
  int table_row_padding = 0;     // block-table row stride = columns + this
  KvPacking kv_packing = KvPacking::kSeparate;
  int kv_head_padding = 0;       // elements between kv heads beyond D
  bool poison_unused_kv = false; // NaN in every K/V element no sequence may read

  bool causal = false;
  int window_left = -1;
  int window_right = -1;
  float softcap = 0.0f;
  float softmax_scale = 0.0f;  // 0 = default 1/sqrt(D)
  bool sinks = false;
  kvattn::DType sinks_dtype = kvattn::DType::kFloat32;
  DescaleKind descale = DescaleKind::kNone;  // k_descale and v_descale alike
  bool descale_transposed = false;           // per-(seq, head) values stored [Hkv, B]

  bool with_lse = true;
  int q_head_padding = 0;    // q/out: elements between heads beyond D
  int q_token_padding = 0;   // q/out: elements between tokens beyond Hq * head stride
  int out_head_padding = 0;  // out may differ from q
  int lse_row_padding = 0;   // softmax_lse head stride = q rows + this
  int padding_q_rows = 0;    // q/out rows past cu_seqlens_q[B] (must stay untouched)
  int extra_kv_rows = 0;     // contiguous KV: rows past cu_seqlens_k[B]
  int extra_max_seqlen_q = 0;  // hints above the real maxima
  int extra_max_seqlen_k = 0;

  // Fixed capacities (0 = derived from the lengths). CUDA-graph replays keep
  // every buffer's size and every host value identical while lengths change.
  int64_t fixed_q_rows = 0;
  int64_t fixed_num_blocks = 0;
  int64_t fixed_max_seqlen_q = 0;
  int64_t fixed_max_seqlen_k = 0;

  int num_splits = 0;  // GPU only: 0 heuristic, n forced
  uint64_t seed = 0;   // data seed

  std::string describe() const;
  int64_t total_q() const;
  int max_q_len() const;
  int max_kv_len() const;
  // sum over sequences and query heads of visible (q, k) pairs, times D: the reference's cost.
  double work() const;
};

const char* dtype_short(kvattn::DType d);

// Options a sampler draws from; each vector must be non-empty.
struct CaseSpace {
  std::vector<int> head_dims = {64, 96, 128, 192, 256};
  std::vector<std::pair<int, int>> heads = {{4, 4}, {8, 2}, {10, 2}, {16, 1}, {71, 1}};
  std::vector<int> page_sizes = {1, 16, 64, 256, 7, 13};
  std::vector<kvattn::DType> q_dtypes = {kvattn::DType::kBFloat16, kvattn::DType::kFloat16};
  // kv dtype "same as q" is spelled kFloat32 here.
  std::vector<kvattn::DType> kv_dtypes = {kvattn::DType::kFloat32, kvattn::DType::kFloat8E4M3,
                                          kvattn::DType::kFloat8E5M2};
  std::vector<bool> paged = {true, true, true, false};
  std::vector<bool> causal = {false, true};
  std::vector<std::pair<int, int>> windows = {{-1, -1}, {-1, -1}, {-1, 127}, {127, -1}, {64, 64}};
  double softcap_chance = 0.3;
  double sinks_chance = 0.3;
  double strided_chance = 0.3;      // padded q/out/lse/kv strides, interleaved K/V
  double repeated_blocks_chance = 0.3;
  double hint_slack_chance = 0.3;   // max_seqlen hints above the real maxima
  std::vector<DescaleKind> descales = {DescaleKind::kNone, DescaleKind::kPerTensor, DescaleKind::kPerSeqHead};

  // Lengths: batch size and per-sequence shape kinds.
  int min_batch = 1, max_batch = 4;
  int max_q_len = 96;
  int max_kv_len = 300;
  // Cap on AttentionCase::work(); lengths shrink until the case fits.
  double max_work = 2e7;
};

// Per-sequence lengths mixing the shapes serving produces: empty (0), single
// token decode, short spec-verify, prefill (q = kv), chunks on long context,
// and q_len > kv_len.
SeqLens sample_seq(Rng& rng, int max_q_len, int max_kv_len);

AttentionCase sample_case(const CaseSpace& space, Rng& rng);

// Gives case number i the i-th of separate / block-interleaved / token-interleaved
// K/V packing (block interleaving needs a paged cache: contiguous cases get token).
void cycle_kv_packing(AttentionCase& c, int i);

// Halves lengths until c.work() <= max_work.
void fit_work(AttentionCase& c, double max_work);

}  // namespace kvtest
