#include "subset_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <set>

#include "kvattn/attention.h"

namespace kvattn_bench {

namespace {

// Query rows [row0, row0 + rows) of sequence `seq`, attending to its first `kv_used` keys.
struct Window {
  int64_t seq, row0, rows, kv_used;
};

std::vector<Window> pick_windows(const Workload& w, const BatchLayout& l) {
  std::set<int64_t> seqs = {0, l.batch / 2, l.batch - 1};
  std::vector<Window> out;
  for (int64_t b : seqs) {
    const int64_t q_len = l.cu_seqlens_q[b + 1] - l.cu_seqlens_q[b];
    const int64_t kv_len = l.seqused_k[b];
    const int64_t rows = std::min(q_len, kCheckRows);
    if (rows == 0) continue;
    out.push_back({b, q_len - rows, rows, kv_len});
    // Bottom-right causal: row i sees keys j <= i + kv_len - q_len, so the first
    // rows need only the first rows + kv_len - q_len keys, and the mask offset
    // of that smaller problem is the same.
    const int64_t kv_first = rows + kv_len - q_len;
    if (w.causal && q_len > rows && kv_first > 0) out.push_back({b, 0, rows, kv_first});
  }
  return out;
}

// Worst relative L2 error over heads; sets `worst_head`.
double max_head_rel_l2(const std::vector<uint16_t>& got, const std::vector<uint16_t>& ref, int64_t rows, int heads,
                       int dim, int* worst_head) {
  double worst = 0;
  *worst_head = 0;
  for (int h = 0; h < heads; ++h) {
    double diff2 = 0, ref2 = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int d = 0; d < dim; ++d) {
        const size_t i = (static_cast<size_t>(r) * heads + h) * dim + d;
        const double g = bf16_bits_to_float(got[i]), c = bf16_bits_to_float(ref[i]);
        diff2 += (g - c) * (g - c);
        ref2 += c * c;
      }
    const double rel = std::sqrt(diff2 / std::max(ref2, 1e-30));
    if (!(rel <= worst)) {  // NaN wins
      worst = rel;
      *worst_head = h;
      if (std::isnan(rel)) break;
    }
  }
  return worst;
}

}  // namespace

CheckResult check_against_cpu(const Workload& w, const BatchLayout& l, kvattn::DType kv_dtype, const BatchBuffers& src,
                              const std::vector<float>& k_descale, const std::vector<float>& v_descale,
                              const CopyToHost& copy) {
  CheckResult result;
  const int64_t row_elems = int64_t{w.num_q_heads} * w.head_dim;
  const size_t block_bytes =
      static_cast<size_t>(w.page_size) * w.num_kv_heads * w.head_dim * kvattn::dtype_size(kv_dtype);

  for (const Window& win : pick_windows(w, l)) {
    const int64_t first_row = l.cu_seqlens_q[win.seq] + win.row0;
    const size_t rows_bytes = static_cast<size_t>(win.rows * row_elems) * 2;
    std::vector<uint16_t> q(win.rows * row_elems), out(win.rows * row_elems), ref(win.rows * row_elems, 0x7fc0);
    copy(q.data(), static_cast<const uint16_t*>(src.q) + first_row * row_elems, rows_bytes);
    copy(out.data(), static_cast<const uint16_t*>(src.out) + first_row * row_elems, rows_bytes);

    // The window's own small paged cache: its blocks in order, block table 0..n-1.
    BatchLayout sub;
    sub.batch = 1;
    sub.total_q = sub.max_seqlen_q = win.rows;
    sub.max_seqlen_k = win.kv_used;
    sub.num_blocks = sub.max_blocks_per_seq = (win.kv_used + w.page_size - 1) / w.page_size;
    sub.cu_seqlens_q = {0, static_cast<int32_t>(win.rows)};
    sub.seqused_k = {static_cast<int32_t>(win.kv_used)};
    sub.block_table.resize(sub.num_blocks);
    std::iota(sub.block_table.begin(), sub.block_table.end(), 0);
    std::vector<uint8_t> k(sub.num_blocks * block_bytes), v(sub.num_blocks * block_bytes);
    for (int64_t j = 0; j < sub.num_blocks; ++j) {
      const int64_t phys = l.block_table[win.seq * l.max_blocks_per_seq + j];
      copy(k.data() + j * block_bytes, static_cast<const uint8_t*>(src.k) + phys * block_bytes, block_bytes);
      copy(v.data() + j * block_bytes, static_cast<const uint8_t*>(src.v) + phys * block_bytes, block_bytes);
    }

    BatchBuffers host;
    host.q = q.data();
    host.k = k.data();
    host.v = v.data();
    host.out = ref.data();
    host.cu_seqlens_q = sub.cu_seqlens_q.data();
    host.seqused_k = sub.seqused_k.data();
    host.block_table = sub.block_table.data();
    if (!k_descale.empty()) host.k_descale = k_descale.data() + win.seq * w.num_kv_heads;
    if (!v_descale.empty()) host.v_descale = v_descale.data() + win.seq * w.num_kv_heads;
    kvattn::varlen_attention_forward(make_call_args(w, sub, kv_dtype, host, kvattn::Device{}, kvattn::Backend::kCpu));

    int head = 0;
    const double rel = max_head_rel_l2(out, ref, win.rows, w.num_q_heads, w.head_dim, &head);
    if (!std::isnan(result.max_rel_l2) && !(rel <= result.max_rel_l2)) result.max_rel_l2 = rel;  // NaN sticks
    if (result.ok && !(rel < kCheckTolerance)) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "vs CPU backend: sequence %lld rows [%lld, %lld) with %lld keys, head %d: rel L2 %.3g "
                    "(tolerance %.0e)",
                    static_cast<long long>(win.seq), static_cast<long long>(win.row0),
                    static_cast<long long>(win.row0 + win.rows), static_cast<long long>(win.kv_used), head, rel,
                    kCheckTolerance);
      result.ok = false;
      result.message = buf;
    }
  }
  return result;
}

}  // namespace kvattn_bench
