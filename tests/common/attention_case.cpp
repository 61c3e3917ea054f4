#include "common/attention_case.h"

#include <algorithm>
#include <sstream>

namespace kvtest {

using kvattn::DType;

const char* dtype_short(DType d) {
  switch (d) {
    case DType::kFloat32: return "f32";
    case DType::kFloat16: return "f16";
    case DType::kBFloat16: return "bf16";
    case DType::kFloat8E4M3: return "e4m3";
    case DType::kFloat8E5M2: return "e5m2";
    case DType::kInt32: return "i32";
    case DType::kInt64: return "i64";
    case DType::kUInt8: return "u8";
  }
  return "?";
}

namespace {
const char* descale_name(DescaleKind k) {
  switch (k) {
    case DescaleKind::kNone: return "none";
    case DescaleKind::kPerTensor: return "per-tensor(stride0)";
    case DescaleKind::kPerSeqHead: return "per-(seq,head)";
  }
  return "?";
}
const char* packing_name(KvPacking p) {
  switch (p) {
    case KvPacking::kSeparate: return "separate";
    case KvPacking::kBlockInterleaved: return "block-interleaved";
    case KvPacking::kTokenInterleaved: return "token-interleaved";
  }
  return "?";
}
}  // namespace

int64_t AttentionCase::total_q() const {
  int64_t n = 0;
  for (const auto& s : seqs) n += s.q_len;
  return n;
}

int AttentionCase::max_q_len() const {
  int m = 0;
  for (const auto& s : seqs) m = std::max(m, s.q_len);
  return m;
}

int AttentionCase::max_kv_len() const {
  int m = 0;
  for (const auto& s : seqs) m = std::max(m, s.kv_len);
  return m;
}

double AttentionCase::work() const {
  double w = 0;
  for (const auto& s : seqs) w += static_cast<double>(s.q_len) * s.kv_len;
  return w * num_q_heads * head_dim;
}

std::string AttentionCase::describe() const {
  std::ostringstream os;
  os << "B=" << seqs.size() << " (q_len,kv_len)=[";
  for (size_t i = 0; i < seqs.size(); ++i) os << (i ? " " : "") << "(" << seqs[i].q_len << "," << seqs[i].kv_len << ")";
  os << "] Hq=" << num_q_heads << " Hkv=" << num_kv_heads << " D=" << head_dim << " q=" << dtype_short(q_dtype)
     << " kv=" << dtype_short(kv_dtype);
  if (paged) {
    os << " paged(page=" << page_size << " table="
       << (block_table == BlockTableKind::kRepeated ? "repeated+out-of-order" : "permuted")
       << " extra_blocks=" << extra_blocks << " extra_cols=" << extra_table_columns
       << " row_pad=" << table_row_padding << ")";
  } else {
    os << " contiguous(extra_rows=" << extra_kv_rows << ")";
  }
  os << " kv_packing=" << packing_name(kv_packing) << " kv_head_pad=" << kv_head_padding;
  if (poison_unused_kv) os << " poison_unused_kv";
  os << " causal=" << causal << " window=(" << window_left << "," << window_right << ")"
     << " softcap=" << softcap << " scale=" << (softmax_scale == 0.0f ? std::string("default") : std::to_string(softmax_scale));
  if (sinks) os << " sinks(" << dtype_short(sinks_dtype) << ")";
  os << " descale=" << descale_name(descale) << (descale_transposed ? "(transposed)" : "")
     << " lse=" << with_lse << " q_pad(head=" << q_head_padding << ",token=" << q_token_padding
     << ") out_head_pad=" << out_head_padding << " lse_row_pad=" << lse_row_padding
     << " pad_rows=" << padding_q_rows << " hint_slack=(" << extra_max_seqlen_q << "," << extra_max_seqlen_k << ")";
  if (fixed_q_rows || fixed_num_blocks || fixed_max_seqlen_q || fixed_max_seqlen_k)
    os << " fixed(q_rows=" << fixed_q_rows << " blocks=" << fixed_num_blocks << " max_q=" << fixed_max_seqlen_q
       << " max_k=" << fixed_max_seqlen_k << ")";
  os << " num_splits=" << num_splits << " data_seed=0x" << std::hex << seed;
  return os.str();
}

SeqLens sample_seq(Rng& rng, int max_q_len, int max_kv_len) {
  max_q_len = std::max(max_q_len, 1);
  max_kv_len = std::max(max_kv_len, 1);
  SeqLens s;
  const int kind = rng.uniform_int(0, 15);
  if (kind == 0) {  // no queries
    s.q_len = 0;
    s.kv_len = rng.uniform_int(0, max_kv_len);
  } else if (kind == 1) {  // no keys
    s.q_len = rng.uniform_int(1, std::min(max_q_len, 8));
    s.kv_len = 0;
  } else if (kind <= 4) {  // decode
    s.q_len = 1;
    s.kv_len = rng.uniform_int(1, max_kv_len);
  } else if (kind <= 6) {  // speculative verify
    s.q_len = rng.uniform_int(2, std::min(max_q_len, 16));
    s.kv_len = rng.uniform_int(s.q_len, std::max(s.q_len, max_kv_len));
  } else if (kind <= 8) {  // prefill from scratch
    s.q_len = rng.uniform_int(1, std::min(max_q_len, max_kv_len));
    s.kv_len = s.q_len;
  } else if (kind <= 13) {  // chunk on (long) context
    s.q_len = rng.uniform_int(1, std::min(max_q_len, max_kv_len));
    s.kv_len = rng.uniform_int(s.q_len, max_kv_len);
  } else {  // more queries than keys
    s.kv_len = rng.uniform_int(1, std::max(1, std::min(max_q_len, max_kv_len) - 1));
    s.q_len = rng.uniform_int(s.kv_len + 1, std::max(s.kv_len + 1, max_q_len));
  }
  return s;
}

void fit_work(AttentionCase& c, double max_work) {
  while (c.work() > max_work) {
    bool changed = false;
    for (auto& s : c.seqs) {
      // Halve, but keep 1 as 1 so decode rows stay decode rows.
      if (s.q_len > 1) { s.q_len = (s.q_len + 1) / 2; changed = true; }
      if (s.kv_len > 1) { s.kv_len = (s.kv_len + 1) / 2; changed = true; }
    }
    if (!changed) break;
  }
}

AttentionCase sample_case(const CaseSpace& sp, Rng& rng) {
  AttentionCase c;
  c.head_dim = rng.pick(sp.head_dims);
  const auto heads = rng.pick(sp.heads);
  c.num_q_heads = heads.first;
  c.num_kv_heads = heads.second;
  c.q_dtype = rng.pick(sp.q_dtypes);
  c.kv_dtype = rng.pick(sp.kv_dtypes);
  if (c.kv_dtype == DType::kFloat32) c.kv_dtype = c.q_dtype;
  c.paged = rng.pick(sp.paged);
  c.page_size = rng.pick(sp.page_sizes);

  const int batch = rng.uniform_int(sp.min_batch, sp.max_batch);
  for (int b = 0; b < batch; ++b) c.seqs.push_back(sample_seq(rng, sp.max_q_len, sp.max_kv_len));

  c.causal = rng.pick(sp.causal);
  const auto window = rng.pick(sp.windows);
  c.window_left = window.first;
  // Causal folds in right = 0; pass -1 or 0 so the request is unambiguous.
  c.window_right = c.causal ? (rng.chance(0.5) ? -1 : 0) : window.second;
  if (rng.chance(sp.softcap_chance)) c.softcap = static_cast<float>(rng.uniform(1.5, 10.0));
  if (rng.chance(0.3)) c.softmax_scale = static_cast<float>(rng.uniform(0.03, 0.25));
  if (rng.chance(sp.sinks_chance)) {
    c.sinks = true;
    c.sinks_dtype = rng.pick(std::vector<DType>{DType::kFloat32, DType::kBFloat16, DType::kFloat16});
  }
  c.descale = rng.pick(sp.descales);
  c.descale_transposed = c.descale == DescaleKind::kPerSeqHead && rng.chance(0.5);
  c.with_lse = rng.chance(0.85);

  c.block_table = rng.chance(sp.repeated_blocks_chance) ? BlockTableKind::kRepeated : BlockTableKind::kPermuted;
  c.extra_blocks = rng.uniform_int(0, 3);
  c.extra_table_columns = rng.uniform_int(0, 2);
  c.padding_q_rows = rng.uniform_int(0, 3);
  c.extra_kv_rows = rng.uniform_int(0, 5);
  if (rng.chance(sp.strided_chance)) {
    // Paddings keep 16-byte alignment of every row (what vectorized kernels may assume).
    c.q_head_padding = 8 * rng.uniform_int(0, 2);
    c.q_token_padding = 8 * rng.uniform_int(0, 3);
    c.out_head_padding = 8 * rng.uniform_int(0, 2);
    c.lse_row_padding = rng.uniform_int(1, 5);
    c.kv_head_padding = 16 * rng.uniform_int(0, 2);
    c.table_row_padding = rng.uniform_int(1, 3);
    c.kv_packing = rng.pick(std::vector<KvPacking>{KvPacking::kSeparate, KvPacking::kBlockInterleaved,
                                                   KvPacking::kTokenInterleaved});
    if (!c.paged && c.kv_packing == KvPacking::kBlockInterleaved) c.kv_packing = KvPacking::kTokenInterleaved;
  }
  if (rng.chance(sp.hint_slack_chance)) {
    c.extra_max_seqlen_q = rng.uniform_int(1, 40);
    c.extra_max_seqlen_k = rng.uniform_int(1, 300);
  }
  c.seed = rng.next_u64();
  fit_work(c, sp.max_work);
  return c;
}

void cycle_kv_packing(AttentionCase& c, int i) {
  const KvPacking packings[] = {KvPacking::kSeparate, KvPacking::kBlockInterleaved, KvPacking::kTokenInterleaved};
  c.kv_packing = packings[i % 3];
  if (!c.paged && c.kv_packing == KvPacking::kBlockInterleaved) c.kv_packing = KvPacking::kTokenInterleaved;
}

}  // namespace kvtest
