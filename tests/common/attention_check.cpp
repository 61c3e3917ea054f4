#include "common/attention_check.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <string>

#include "common/format_map.h"

namespace kvtest {

using kvattn::DType;

namespace {

// Unit roundoff of a round-to-nearest cast into `d`.
double unit_roundoff(DType d) {
  switch (d) {
    case DType::kBFloat16: return std::ldexp(1.0, -8);
    case DType::kFloat16: return std::ldexp(1.0, -11);
    default: return std::ldexp(1.0, -24);
  }
}

// Collects problems; keeps the first few verbatim and counts the rest.
class Problems {
 public:
  void add(const std::string& s) {
    if (count_ < kShown) os_ << "  - " << s << "\n";
    ++count_;
  }
  int count() const { return count_; }
  std::string text() const {
    std::string t = os_.str();
    if (count_ > kShown) t += "  ... and " + std::to_string(count_ - kShown) + " more\n";
    return t;
  }

 private:
  static constexpr int kShown = 8;
  std::ostringstream os_;
  int count_ = 0;
};

// Where element `e` of a [rows, heads, D] buffer with these strides sits.
std::string locate(int64_t e, int64_t stride_token, int64_t stride_head, int64_t total_q, int heads, int dim) {
  std::ostringstream os;
  const int64_t t = e / stride_token, rem = e % stride_token, h = rem / stride_head, d = rem % stride_head;
  os << "element " << e << " = (token " << t << ", head " << h << ", d " << d << ")";
  if (t >= total_q) os << " [padding row past cu_seqlens_q[B]=" << total_q << "]";
  else if (h >= heads) os << " [gap after the last head]";
  else if (d >= dim) os << " [gap between heads]";
  return os.str();
}

bool untouched(const std::vector<uint8_t>& buf, int64_t e, int size) {
  for (int i = 0; i < size; ++i)
    if (buf[static_cast<size_t>(e * size + i)] != kPoisonByte) return false;
  return true;
}

// Relative L2 error after granting each of the n elements the absolute floor
// (tiny outputs, e.g. fp16 subnormals under a dominant sink, carry rounding
// errors far above u relative).
double rel_l2_beyond_floor(double err2, double ref2, int64_t n, double abs_floor) {
  const double excess = std::max(0.0, std::sqrt(err2) - abs_floor * std::sqrt(static_cast<double>(n)));
  return excess / std::max(std::sqrt(ref2), 1e-300);
}

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(7);
  os << v;
  return os.str();
}

}  // namespace

AttentionTolerance cpu_tolerance(const AttentionCase& c) {
  AttentionTolerance t;
  const double u = unit_roundoff(c.q_dtype);
  // The CPU backend computes in fp32 from exactly decoded inputs, so the final
  // cast of out to 16 bits dominates: at most u relative per element.
  t.out_roundoff = u;
  // fp32 exp and sums over at most a few hundred keys: ~n * 2^-24 relative on p.
  t.p_rel = 5e-5;
  t.abs_floor = 1e-6;  // fp16 subnormals (spacing 6e-8, reached when a sink dominates) with margin
  // Each element errs by at most u relative, so a row's (or head's) relative
  // L2 error is at most about u; typical is ~u/2 (2^-9 for bf16).
  t.row_rel_l2 = 1.3 * u + 2e-4;
  t.head_rel_l2 = t.row_rel_l2;
  // fp32 scores, exp and log of values of magnitude <= ~30: ~1e-6 absolute.
  t.lse_abs = 1e-4;
  return t;
}

AttentionTolerance gpu_tolerance(const AttentionCase& c) {
  AttentionTolerance t;
  const double u = unit_roundoff(c.q_dtype);
  t.out_roundoff = u;
  // GPU kernels round P to q's 16-bit type for the P.V MMA (u relative on each
  // p_j); 2u also covers exp2/rescaling in fp32. tanh.approx has ~2^-11
  // relative error, i.e. up to softcap * 2^-11 on a score, ~softcap * 1e-3 on p.
  t.p_rel = 2 * u + c.softcap * 1e-3 + 2e-4;
  t.abs_floor = 1e-5;
  // Typical error is ~u/2 from the cast plus ~u/2 from P rounding; these bounds
  // leave 3-4x margin and are still far below what an indexing or masking bug
  // gives (one extra key among n moves a row by ~1/sqrt(n) >= 1e-2 relative).
  t.row_rel_l2 = c.q_dtype == DType::kBFloat16 ? 2e-2 : 1e-2;
  t.head_rel_l2 = c.q_dtype == DType::kBFloat16 ? 1e-2 : 5e-3;
  // Scores in fp32 (exact 16-bit/fp8 products); tanh.approx moves a score by
  // up to softcap * 2^-11.
  t.lse_abs = 1e-3 + c.softcap * 1e-3;
  return t;
}

::testing::AssertionResult check_attention(const AttentionCaseData& d, const kvref::RefAttentionResult& ref,
                                           const std::vector<uint8_t>& out, const std::vector<uint8_t>& lse,
                                           const AttentionTolerance& tol) {
  const AttentionCase& c = d.c;
  const AttentionLayout& l = d.l;
  const int Hq = c.num_q_heads, D = c.head_dim;
  const kvref::Format of = ref_format(c.q_dtype);
  const int osize = kvattn::dtype_size(c.q_dtype);
  Problems problems;

  if (out.size() != d.host[kOut].size() || (c.with_lse && lse.size() != d.host[kLse].size()))
    return ::testing::AssertionFailure() << "output buffer sizes differ from the case's";

  // 1. Nothing outside the real rows' elements changed.
  const int64_t out_elems = static_cast<int64_t>(out.size()) / osize;
  std::vector<char> valid(static_cast<size_t>(out_elems), 0);
  for (int64_t t = 0; t < l.total_q; ++t)
    for (int h = 0; h < Hq; ++h)
      for (int e = 0; e < D; ++e) valid[static_cast<size_t>(t * l.out_stride_token + h * l.out_stride_head + e)] = 1;
  for (int64_t e = 0; e < out_elems; ++e)
    if (!valid[e] && !untouched(out, e, osize))
      problems.add("out: wrote outside the real rows at " +
                   locate(e, l.out_stride_token, l.out_stride_head, l.total_q, Hq, D));

  // 2. Values, row by row.
  const int64_t B = static_cast<int64_t>(c.seqs.size());
  const int32_t* cu_q = reinterpret_cast<const int32_t*>(d.host[kCuSeqlensQ].data());
  double worst_row = 0, worst_head = 0, worst_abs = 0, worst_abs_ratio = 0, worst_lse = 0;
  std::string worst_row_at, worst_head_at, worst_abs_at, worst_lse_at;
  std::vector<double> got(static_cast<size_t>(D));
  for (int64_t b = 0; b < B; ++b) {
    for (int h = 0; h < Hq; ++h) {
      double head_err2 = 0, head_ref2 = 0;
      for (int64_t t = cu_q[b]; t < cu_q[b + 1]; ++t) {
        const int64_t base = t * l.out_stride_token + h * l.out_stride_head;
        const bool empty = ref.keys_seen[ref.row_index(h, t)] == 0;
        std::ostringstream where;
        where << "seq " << b << " head " << h << " row " << (t - cu_q[b]) << " (token " << t << ", sees "
              << ref.keys_seen[ref.row_index(h, t)] << " keys)";
        double err2 = 0, ref2 = 0;
        bool row_reported = false;
        for (int e = 0; e < D; ++e) {
          got[e] = kvref::load_value(of, out.data(), base + e);
          const double r = ref.out[ref.out_index(t, h, e)];
          if (std::isnan(got[e])) {
            if (!row_reported)
              problems.add("out: " + std::string(untouched(out, base + e, osize) ? "never written" : "NaN") +
                           " at " + where.str() + " d " + std::to_string(e) + " (expected " + fmt(r) + ")");
            row_reported = true;
            continue;
          }
          if (empty) {
            if (got[e] != 0.0 && !row_reported) {
              problems.add("out: row that sees no key must be zeros (S4) at " + where.str() + " d " +
                           std::to_string(e) + ": got " + fmt(got[e]));
              row_reported = true;
            }
            continue;
          }
          const double err = std::fabs(got[e] - r);
          const double bound = tol.out_roundoff * std::fabs(r) + tol.p_rel * ref.out_magnitude[ref.out_index(t, h, e)] +
                               tol.abs_floor;
          if (err > worst_abs) {
            worst_abs = err;
            worst_abs_at = where.str() + " d " + std::to_string(e) + ": got " + fmt(got[e]) + " expected " + fmt(r);
          }
          if (err / bound > worst_abs_ratio) worst_abs_ratio = err / bound;
          if (err > bound && !row_reported) {
            problems.add("out: |got - expected| = " + fmt(err) + " > bound " + fmt(bound) + " at " + where.str() +
                         " d " + std::to_string(e) + ": got " + fmt(got[e]) + " expected " + fmt(r));
            row_reported = true;
          }
          err2 += err * err;
          ref2 += r * r;
        }
        if (!empty) {
          const double rel = rel_l2_beyond_floor(err2, ref2, D, tol.abs_floor);
          if (rel > worst_row) {
            worst_row = rel;
            worst_row_at = where.str();
          }
          if (rel > tol.row_rel_l2 && !row_reported)
            problems.add("out: row relative L2 error " + fmt(rel) + " > " + fmt(tol.row_rel_l2) + " at " + where.str());
          head_err2 += err2;
          head_ref2 += ref2;
        }

        // LSE of this row.
        if (c.with_lse) {
          const int64_t li = h * l.lse_stride_head + t;
          float g;
          std::memcpy(&g, lse.data() + li * sizeof(float), sizeof(float));
          const double r = ref.lse[ref.row_index(h, t)];
          if (std::isnan(g)) {
            problems.add(std::string("softmax_lse: ") + (untouched(lse, li, 4) ? "never written" : "NaN") + " at " +
                         where.str() + " (expected " + fmt(r) + ")");
          } else if (empty) {
            if (!(std::isinf(g) && g < 0))
              problems.add("softmax_lse: row that sees no key must be -inf (S4) at " + where.str() + ": got " + fmt(g));
          } else {
            const double err = std::fabs(g - r);
            if (err > worst_lse || std::isinf(err)) {
              worst_lse = err;
              worst_lse_at = where.str() + ": got " + fmt(g) + " expected " + fmt(r);
            }
            if (!(err <= tol.lse_abs))
              problems.add("softmax_lse: |got - expected| = " + fmt(err) + " > " + fmt(tol.lse_abs) + " at " +
                           where.str() + ": got " + fmt(g) + " expected " + fmt(r));
          }
        }
      }
      if (head_ref2 > 0) {
        const int64_t head_elems = static_cast<int64_t>(cu_q[b + 1] - cu_q[b]) * D;
        const double rel = rel_l2_beyond_floor(head_err2, head_ref2, head_elems, tol.abs_floor);
        if (rel > worst_head) {
          worst_head = rel;
          worst_head_at = "seq " + std::to_string(b) + " head " + std::to_string(h);
        }
        if (rel > tol.head_rel_l2)
          problems.add("out: (sequence, head) relative L2 error " + fmt(rel) + " > " + fmt(tol.head_rel_l2) +
                       " at seq " + std::to_string(b) + " head " + std::to_string(h));
      }
    }
  }

  // 3. LSE outside the real rows unchanged.
  if (c.with_lse) {
    const int64_t lse_elems = static_cast<int64_t>(lse.size()) / 4;
    std::vector<char> lvalid(static_cast<size_t>(lse_elems), 0);
    for (int h = 0; h < Hq; ++h)
      for (int64_t t = 0; t < l.total_q; ++t) lvalid[static_cast<size_t>(h * l.lse_stride_head + t)] = 1;
    for (int64_t e = 0; e < lse_elems; ++e)
      if (!lvalid[e] && !untouched(lse, e, 4)) {
        problems.add("softmax_lse: wrote outside the real rows at element " + std::to_string(e) + " = (head " +
                     std::to_string(e / l.lse_stride_head) + ", token " + std::to_string(e % l.lse_stride_head) +
                     "); real tokens < " + std::to_string(l.total_q));
        break;
      }
  }

  if (problems.count() == 0) return ::testing::AssertionSuccess();
  std::ostringstream os;
  os << problems.count() << " problem(s):\n"
     << problems.text() << "  worst row rel L2 " << fmt(worst_row) << " (tol " << fmt(tol.row_rel_l2) << ") at "
     << worst_row_at << "\n  worst (seq, head) rel L2 " << fmt(worst_head) << " (tol " << fmt(tol.head_rel_l2)
     << ") at " << worst_head_at << "\n  max |err| " << fmt(worst_abs) << " at " << worst_abs_at
     << " (max err/bound " << fmt(worst_abs_ratio) << ")";
  if (c.with_lse) os << "\n  max LSE err " << fmt(worst_lse) << " (tol " << fmt(tol.lse_abs) << ") at " << worst_lse_at;
  return ::testing::AssertionFailure() << os.str();
}

::testing::AssertionResult check_bitwise_equal(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b,
                                               const char* what) {
  if (a.size() != b.size())
    return ::testing::AssertionFailure() << what << ": sizes differ (" << a.size() << " vs " << b.size() << ")";
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i])
      return ::testing::AssertionFailure() << what << ": first differing byte " << i << " (0x" << std::hex
                                           << int(a[i]) << " vs 0x" << int(b[i]) << ")";
  return ::testing::AssertionSuccess();
}

}  // namespace kvtest
