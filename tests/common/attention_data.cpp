#include "common/attention_data.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "common/format_map.h"

namespace kvtest {

using kvattn::DType;
using kvattn::TensorView;

const char* buffer_name(int id) {
  static const char* names[kNumBuffers] = {"q",         "kv",        "cu_seqlens_q", "cu_seqlens_k",
                                           "seqused_k", "block_table", "k_descale",  "v_descale",
                                           "sinks",     "out",       "softmax_lse"};
  return (id >= 0 && id < kNumBuffers) ? names[id] : "?";
}

namespace {

// Every buffer gets at least this many bytes so no pointer is null, even for
// zero-sized tensors (cudaMalloc(0) may return null).
constexpr size_t kMinBufferBytes = 64;

template <class T>
std::vector<uint8_t> to_bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(std::max(kMinBufferBytes, v.size() * sizeof(T)), 0);
  if (!v.empty()) std::memcpy(b.data(), v.data(), v.size() * sizeof(T));
  return b;
}

std::vector<uint8_t> element_buffer(DType dtype, int64_t elements) {
  return std::vector<uint8_t>(std::max<size_t>(kMinBufferBytes, static_cast<size_t>(elements) * kvattn::dtype_size(dtype)), 0);
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Physical block ids per (sequence, logical block): a permutation, optionally
// with some entries pointing back at blocks used earlier (shared prefixes,
// repeats within a sequence).
std::vector<std::vector<int32_t>> assign_blocks(const AttentionCase& c, int64_t num_blocks, Rng& rng) {
  std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
  for (int64_t i = 0; i < num_blocks; ++i) perm[i] = static_cast<int32_t>(i);
  rng.shuffle(perm);
  std::vector<std::vector<int32_t>> blocks(c.seqs.size());
  std::vector<int32_t> used;
  size_t next = 0;
  for (size_t b = 0; b < c.seqs.size(); ++b) {
    const int64_t n = ceil_div(c.seqs[b].kv_len, c.page_size);
    for (int64_t i = 0; i < n; ++i) {
      int32_t id = perm[next++];
      if (c.block_table == BlockTableKind::kRepeated && !used.empty() && rng.chance(0.35))
        id = used[static_cast<size_t>(rng.uniform_int(0, static_cast<int>(used.size()) - 1))];
      blocks[b].push_back(id);
      used.push_back(id);
    }
  }
  return blocks;
}

}  // namespace

AttentionCaseData build_attention_case(const AttentionCase& c) {
  AttentionCaseData d;
  d.c = c;
  AttentionLayout& l = d.l;
  Rng rng(c.seed);
  const int64_t B = static_cast<int64_t>(c.seqs.size());
  const int Hq = c.num_q_heads, Hkv = c.num_kv_heads, D = c.head_dim;
  const kvref::Format qf = ref_format(c.q_dtype), kvf = ref_format(c.kv_dtype);
  if (B < 1) throw std::invalid_argument("a case needs at least one sequence");

  // Lengths and hints.
  std::vector<int32_t> cu_q(B + 1, 0), cu_k(B + 1, 0), used_k(B, 0);
  for (int64_t b = 0; b < B; ++b) {
    cu_q[b + 1] = cu_q[b] + c.seqs[b].q_len;
    cu_k[b + 1] = cu_k[b] + c.seqs[b].kv_len;
    used_k[b] = c.seqs[b].kv_len;
  }
  l.total_q = cu_q[B];
  l.q_rows = c.fixed_q_rows ? c.fixed_q_rows : l.total_q + c.padding_q_rows;
  l.max_seqlen_q = c.fixed_max_seqlen_q ? c.fixed_max_seqlen_q : c.max_q_len() + c.extra_max_seqlen_q;
  l.max_seqlen_k = c.fixed_max_seqlen_k ? c.fixed_max_seqlen_k : c.max_kv_len() + c.extra_max_seqlen_k;
  if (l.q_rows < l.total_q || l.max_seqlen_q < c.max_q_len() || l.max_seqlen_k < c.max_kv_len())
    throw std::invalid_argument("fixed capacities below the case's lengths: " + c.describe());
  d.host[kCuSeqlensQ] = to_bytes(cu_q);

  // Q and out: [q_rows, Hq, D] with optional padding between heads and tokens.
  l.q_stride_head = D + c.q_head_padding;
  l.q_stride_token = Hq * l.q_stride_head + c.q_token_padding;
  l.out_stride_head = D + c.out_head_padding;
  l.out_stride_token = Hq * l.out_stride_head + c.q_token_padding;
  const int64_t q_elems = l.q_rows * l.q_stride_token;
  d.host[kQ] = element_buffer(c.q_dtype, q_elems);
  for (int64_t i = 0; i < q_elems; ++i)
    kvref::store_bits(qf, d.host[kQ].data(), i, kvref::encode_bits(qf, rng.normal(), false));
  d.host[kOut] = std::vector<uint8_t>(std::max<size_t>(kMinBufferBytes, l.q_rows * l.out_stride_token * kvattn::dtype_size(c.q_dtype)), kPoisonByte);
  if (c.with_lse) {
    l.lse_stride_head = l.q_rows + c.lse_row_padding;
    d.host[kLse] = std::vector<uint8_t>(std::max<size_t>(kMinBufferBytes, Hq * l.lse_stride_head * sizeof(float)), kPoisonByte);
  }

  // KV layout: one allocation tiled by (block, row, K|V, head, padded D).
  const int64_t hs = D + c.kv_head_padding;
  l.kv_stride_head = hs;
  std::vector<std::vector<int32_t>> blocks;
  int64_t slots = 0;  // (block, row) pairs, i.e. rows of K
  if (c.paged) {
    int64_t needed = 0;
    for (const auto& s : c.seqs) needed += ceil_div(s.kv_len, c.page_size);
    l.num_blocks = c.fixed_num_blocks ? c.fixed_num_blocks : std::max<int64_t>(1, needed + c.extra_blocks);
    if (l.num_blocks < needed) throw std::invalid_argument("fixed_num_blocks too small: " + c.describe());
    blocks = assign_blocks(c, l.num_blocks, rng);
    slots = l.num_blocks * c.page_size;
    const int64_t row = Hkv * hs;
    switch (c.kv_packing) {
      case KvPacking::kSeparate:
        l.kv_stride_token = row;
        l.kv_stride_block = c.page_size * row;
        l.v_offset = l.num_blocks * c.page_size * row;
        break;
      case KvPacking::kBlockInterleaved:
        l.kv_stride_token = row;
        l.kv_stride_block = 2 * c.page_size * row;
        l.v_offset = c.page_size * row;
        break;
      case KvPacking::kTokenInterleaved:
        l.kv_stride_token = 2 * row;
        l.kv_stride_block = 2 * c.page_size * row;
        l.v_offset = row;
        break;
    }
  } else {
    l.kv_rows = cu_k[B] + c.extra_kv_rows;
    slots = l.kv_rows;
    const int64_t row = Hkv * hs;
    if (c.kv_packing == KvPacking::kTokenInterleaved) {
      l.kv_stride_token = 2 * row;
      l.v_offset = row;
    } else {
      l.kv_stride_token = row;
      l.v_offset = l.kv_rows * row;
    }
  }
  l.kv_elements = slots * Hkv * hs * 2;

  // Stored K/V: random normals times an amplitude. Without descales fp8 holds
  // N(0,1) directly; with descales it holds values spanning the format's range
  // (up to ~max/4, saturating in the tails) and the descale brings them back.
  const bool fp8 = is_fp8(c.kv_dtype);
  const double amplitude = (fp8 && c.descale != DescaleKind::kNone) ? kvref::format_max(kvf) / 4.0 : 1.0;
  d.host[kKv] = element_buffer(c.kv_dtype, l.kv_elements);
  uint8_t* kv = d.host[kKv].data();
  for (int64_t i = 0; i < l.kv_elements; ++i)
    kvref::store_bits(kvf, kv, i, kvref::encode_bits(kvf, rng.normal() * amplitude, /*saturate=*/true));

  if (c.poison_unused_kv) {
    // Mark the (slot) rows some sequence may read; NaN everywhere else,
    // including the padding between heads.
    std::vector<char> used(static_cast<size_t>(slots), 0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t pos = 0; pos < c.seqs[b].kv_len; ++pos) {
        if (c.paged)
          used[static_cast<size_t>(blocks[b][pos / c.page_size] * c.page_size + pos % c.page_size)] = 1;
        else
          used[static_cast<size_t>(cu_k[b] + pos)] = 1;
      }
    const uint32_t nan = kvref::nan_bits(kvf);
    for (int64_t slot = 0; slot < slots; ++slot) {
      const int64_t base = c.paged ? (slot / c.page_size) * l.kv_stride_block + (slot % c.page_size) * l.kv_stride_token
                                   : slot * l.kv_stride_token;
      for (int which = 0; which < 2; ++which)
        for (int h = 0; h < Hkv; ++h)
          for (int64_t e = 0; e < hs; ++e)
            if (!used[slot] || e >= D)
              kvref::store_bits(kvf, kv, base + (which ? l.v_offset : 0) + h * hs + e, nan);
    }
  }

  if (c.paged) {
    d.host[kSequsedK] = to_bytes(used_k);
    l.table_columns = ceil_div(l.max_seqlen_k, c.page_size) + c.extra_table_columns;
    l.table_columns = std::max<int64_t>(l.table_columns, 1);
    l.table_stride = l.table_columns + c.table_row_padding;
    // Entries past a sequence's blocks hold valid but unrelated ids: a kernel
    // must not need them to be anything in particular.
    std::vector<int32_t> table(static_cast<size_t>(B * l.table_stride));
    for (auto& e : table) e = rng.uniform_int(0, static_cast<int>(l.num_blocks) - 1);
    for (int64_t b = 0; b < B; ++b)
      for (size_t i = 0; i < blocks[b].size(); ++i) table[b * l.table_stride + i] = blocks[b][i];
    d.host[kBlockTable] = to_bytes(table);
  } else {
    d.host[kCuSeqlensK] = to_bytes(cu_k);
  }

  // Descales (k and v independent).
  if (c.descale != DescaleKind::kNone) {
    const double base = 1.0 / amplitude;  // real values ~ N(0,1), jittered per scale
    for (int which = 0; which < 2; ++which) {
      std::vector<float> values;
      if (c.descale == DescaleKind::kPerTensor) {
        values.push_back(static_cast<float>(base * rng.uniform(0.5, 2.0)));
      } else {
        values.resize(static_cast<size_t>(B * Hkv));
        for (auto& v : values) v = static_cast<float>(base * rng.uniform(0.5, 2.0));
      }
      d.host[which ? kVDescale : kKDescale] = to_bytes(values);
    }
    if (c.descale == DescaleKind::kPerSeqHead) {
      l.descale_stride_b = c.descale_transposed ? 1 : Hkv;
      l.descale_stride_h = c.descale_transposed ? B : 1;
    }
  }

  if (c.sinks) {
    const kvref::Format sf = ref_format(c.sinks_dtype);
    d.host[kSinks] = element_buffer(c.sinks_dtype, Hq);
    for (int h = 0; h < Hq; ++h)
      kvref::store_bits(sf, d.host[kSinks].data(), h, kvref::encode_bits(sf, 2.0 * rng.normal() + 1.0, false));
  }
  return d;
}

BufferPointers host_input_pointers(const AttentionCaseData& d) {
  BufferPointers p{};
  for (int i = 0; i < kNumBuffers; ++i)
    p[i] = d.host[i].empty() ? nullptr : const_cast<uint8_t*>(d.host[i].data());
  return p;
}

kvattn::VarlenAttentionArgs bind_attention_args(const AttentionCaseData& d, const BufferPointers& p,
                                                kvattn::Device device) {
  const AttentionCase& c = d.c;
  const AttentionLayout& l = d.l;
  const int64_t B = static_cast<int64_t>(c.seqs.size());
  const int Hq = c.num_q_heads, Hkv = c.num_kv_heads, D = c.head_dim;
  kvattn::VarlenAttentionArgs a;
  a.q = TensorView::strided(p[kQ], c.q_dtype, {l.q_rows, Hq, D}, {l.q_stride_token, l.q_stride_head, 1}, device);
  auto* kv = static_cast<uint8_t*>(p[kKv]);
  void* v_ptr = kv + l.v_offset * kvattn::dtype_size(c.kv_dtype);
  if (c.paged) {
    a.k = TensorView::strided(kv, c.kv_dtype, {l.num_blocks, c.page_size, Hkv, D},
                              {l.kv_stride_block, l.kv_stride_token, l.kv_stride_head, 1}, device);
    a.v = TensorView::strided(v_ptr, c.kv_dtype, {l.num_blocks, c.page_size, Hkv, D},
                              {l.kv_stride_block, l.kv_stride_token, l.kv_stride_head, 1}, device);
    a.seqused_k = TensorView::contiguous(p[kSequsedK], DType::kInt32, {B}, device);
    a.block_table = TensorView::strided(p[kBlockTable], DType::kInt32, {B, l.table_columns}, {l.table_stride, 1}, device);
  } else {
    a.k = TensorView::strided(kv, c.kv_dtype, {l.kv_rows, Hkv, D}, {l.kv_stride_token, l.kv_stride_head, 1}, device);
    a.v = TensorView::strided(v_ptr, c.kv_dtype, {l.kv_rows, Hkv, D}, {l.kv_stride_token, l.kv_stride_head, 1}, device);
    a.cu_seqlens_k = TensorView::contiguous(p[kCuSeqlensK], DType::kInt32, {B + 1}, device);
  }
  a.cu_seqlens_q = TensorView::contiguous(p[kCuSeqlensQ], DType::kInt32, {B + 1}, device);
  a.max_seqlen_q = l.max_seqlen_q;
  a.max_seqlen_k = l.max_seqlen_k;
  if (c.descale != DescaleKind::kNone) {
    a.k_descale = TensorView::strided(p[kKDescale], DType::kFloat32, {B, Hkv}, {l.descale_stride_b, l.descale_stride_h}, device);
    a.v_descale = TensorView::strided(p[kVDescale], DType::kFloat32, {B, Hkv}, {l.descale_stride_b, l.descale_stride_h}, device);
  }
  a.softmax_scale = c.softmax_scale;
  a.causal = c.causal;
  a.window_left = c.window_left;
  a.window_right = c.window_right;
  a.softcap = c.softcap;
  if (c.sinks) a.sinks = TensorView::contiguous(p[kSinks], c.sinks_dtype, {Hq}, device);
  a.out = TensorView::strided(p[kOut], c.q_dtype, {l.q_rows, Hq, D}, {l.out_stride_token, l.out_stride_head, 1}, device);
  if (c.with_lse)
    a.softmax_lse = TensorView::strided(p[kLse], DType::kFloat32, {Hq, l.q_rows}, {l.lse_stride_head, 1}, device);
  a.num_splits = c.num_splits;
  return a;
}

kvref::RefAttentionResult run_reference(const AttentionCaseData& d) {
  const AttentionCase& c = d.c;
  const AttentionLayout& l = d.l;
  kvref::RefAttentionInput in;
  in.batch = static_cast<int>(c.seqs.size());
  in.num_q_heads = c.num_q_heads;
  in.num_kv_heads = c.num_kv_heads;
  in.head_dim = c.head_dim;
  in.cu_seqlens_q = reinterpret_cast<const int32_t*>(d.host[kCuSeqlensQ].data());
  in.q_format = ref_format(c.q_dtype);
  in.q = d.host[kQ].data();
  in.q_stride_token = l.q_stride_token;
  in.q_stride_head = l.q_stride_head;
  in.kv_format = ref_format(c.kv_dtype);
  in.k = d.host[kKv].data();
  in.v = d.host[kKv].data() + l.v_offset * kvattn::dtype_size(c.kv_dtype);
  in.k_stride_block = in.v_stride_block = l.kv_stride_block;
  in.k_stride_token = in.v_stride_token = l.kv_stride_token;
  in.k_stride_head = in.v_stride_head = l.kv_stride_head;
  in.paged = c.paged;
  if (c.paged) {
    in.page_size = c.page_size;
    in.seqused_k = reinterpret_cast<const int32_t*>(d.host[kSequsedK].data());
    in.block_table = reinterpret_cast<const int32_t*>(d.host[kBlockTable].data());
    in.block_table_stride = l.table_stride;
  } else {
    in.cu_seqlens_k = reinterpret_cast<const int32_t*>(d.host[kCuSeqlensK].data());
  }
  if (c.descale != DescaleKind::kNone) {
    in.k_descale = {reinterpret_cast<const float*>(d.host[kKDescale].data()), l.descale_stride_b, l.descale_stride_h};
    in.v_descale = {reinterpret_cast<const float*>(d.host[kVDescale].data()), l.descale_stride_b, l.descale_stride_h};
  }
  in.softmax_scale = c.softmax_scale;
  in.softcap = c.softcap;
  in.causal = c.causal;
  in.window_left = c.window_left;
  in.window_right = c.window_right;
  if (c.sinks) {
    in.sinks = d.host[kSinks].data();
    in.sinks_format = ref_format(c.sinks_dtype);
  }
  return kvref::reference_attention(in);
}

std::vector<uint8_t> poisoned_like(const std::vector<uint8_t>& buffer) {
  return std::vector<uint8_t>(buffer.size(), kPoisonByte);
}

}  // namespace kvtest
