#include "common/merge_case.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "common/attention_case.h"
#include "common/attention_data.h"
#include "common/format_map.h"
#include "reference/ref_merge.h"

namespace kvtest {

using kvattn::DType;
using kvattn::TensorView;

namespace {
constexpr size_t kMinBufferBytes = 64;
constexpr double kInf = std::numeric_limits<double>::infinity();

double unit_roundoff(DType d) {
  return d == DType::kBFloat16 ? std::ldexp(1.0, -8) : d == DType::kFloat16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -24);
}

// One (prefix, suffix) LSE pair; specials cover every infinite combination
// and weights that underflow.
std::pair<float, float> sample_lse_pair(Rng& rng, double special_chance) {
  const double a = 3.0 * rng.normal(), b = 3.0 * rng.normal();
  if (!rng.chance(special_chance)) return {static_cast<float>(a), static_cast<float>(b)};
  switch (rng.uniform_int(0, 9)) {
    case 0: return {-kInf, b};
    case 1: return {a, -kInf};
    case 2: return {-kInf, -kInf};
    case 3: return {kInf, b};      // +inf counts as -inf
    case 4: return {a, kInf};
    case 5: return {kInf, kInf};
    case 6: return {kInf, -kInf};
    case 7: return {a, a + 120.0};  // prefix weight underflows
    case 8: return {a, a};         // equal weights
    default: return {a + 80.0, a};
  }
}
}  // namespace

std::string MergeCase::describe() const {
  std::ostringstream os;
  os << "T=" << num_tokens << " H=" << num_heads << " D=" << head_dim << " dtype=" << dtype_short(dtype)
     << " out_lse=" << with_out_lse << " pad(token=" << token_padding << ",head=" << head_padding << ")"
     << " lse_transposed=" << lse_transposed << " special=" << special_chance << " data_seed=0x" << std::hex << seed;
  return os.str();
}

MergeCase sample_merge_case(Rng& rng) {
  MergeCase c;
  c.num_tokens = rng.uniform_int(0, 40);
  c.num_heads = rng.pick(std::vector<int>{1, 4, 8, 32});
  c.head_dim = rng.pick(std::vector<int>{64, 96, 128, 256});
  c.dtype = rng.pick(std::vector<DType>{DType::kFloat32, DType::kFloat16, DType::kBFloat16});
  c.with_out_lse = rng.chance(0.7);
  if (rng.chance(0.4)) {
    c.token_padding = 8 * rng.uniform_int(0, 3);
    c.head_padding = 8 * rng.uniform_int(0, 2);
  }
  c.lse_transposed = rng.chance(0.3);
  c.special_chance = rng.pick(std::vector<double>{0.0, 0.3, 1.0});
  c.seed = rng.next_u64();
  return c;
}

MergeData build_merge_case(const MergeCase& c) {
  MergeData d;
  d.c = c;
  Rng rng(c.seed);
  const int T = c.num_tokens, H = c.num_heads, D = c.head_dim;
  const kvref::Format f = ref_format(c.dtype);
  d.stride_head = D + c.head_padding;
  d.stride_token = H * d.stride_head + c.token_padding;
  const int64_t elems = std::max<int64_t>(1, T * d.stride_token);
  const size_t bytes = std::max<size_t>(kMinBufferBytes, elems * kvattn::dtype_size(c.dtype));
  for (int id : {kMPrefix, kMSuffix}) {
    d.host[id].assign(bytes, 0);
    for (int64_t i = 0; i < elems; ++i) kvref::store_bits(f, d.host[id].data(), i, kvref::encode_bits(f, rng.normal(), false));
  }
  d.host[kMOut].assign(bytes, kPoisonByte);

  d.lse_stride_head = c.lse_transposed ? 1 : T;
  d.lse_stride_token = c.lse_transposed ? H : 1;
  const size_t lse_bytes = std::max<size_t>(kMinBufferBytes, static_cast<size_t>(T) * H * sizeof(float));
  d.host[kMPrefixLse].assign(lse_bytes, 0);
  d.host[kMSuffixLse].assign(lse_bytes, 0);
  auto* lp = reinterpret_cast<float*>(d.host[kMPrefixLse].data());
  auto* ls = reinterpret_cast<float*>(d.host[kMSuffixLse].data());
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h) {
      const auto pair = sample_lse_pair(rng, c.special_chance);
      lp[h * d.lse_stride_head + t * d.lse_stride_token] = pair.first;
      ls[h * d.lse_stride_head + t * d.lse_stride_token] = pair.second;
    }
  if (c.with_out_lse) d.host[kMOutLse].assign(lse_bytes, kPoisonByte);
  return d;
}

kvattn::MergeArgs bind_merge_args(const MergeData& d, const std::array<void*, kMNumBuffers>& p, kvattn::Device device) {
  const MergeCase& c = d.c;
  const int64_t T = c.num_tokens, H = c.num_heads, D = c.head_dim;
  kvattn::MergeArgs a;
  auto out_view = [&](void* ptr) {
    return TensorView::strided(ptr, c.dtype, {T, H, D}, {d.stride_token, d.stride_head, 1}, device);
  };
  auto lse_view = [&](void* ptr) {
    return TensorView::strided(ptr, DType::kFloat32, {H, T}, {d.lse_stride_head, d.lse_stride_token}, device);
  };
  a.output = out_view(p[kMOut]);
  if (c.with_out_lse) a.output_lse = lse_view(p[kMOutLse]);
  a.prefix_output = out_view(p[kMPrefix]);
  a.prefix_lse = lse_view(p[kMPrefixLse]);
  a.suffix_output = out_view(p[kMSuffix]);
  a.suffix_lse = lse_view(p[kMSuffixLse]);
  return a;
}

::testing::AssertionResult check_merge(const MergeData& d, const std::vector<uint8_t>& out,
                                       const std::vector<uint8_t>& out_lse) {
  const MergeCase& c = d.c;
  const int T = c.num_tokens, H = c.num_heads, D = c.head_dim;
  const kvref::Format f = ref_format(c.dtype);
  const int esize = kvattn::dtype_size(c.dtype);
  kvref::RefMergeInput in;
  in.num_tokens = T;
  in.num_heads = H;
  in.head_dim = D;
  in.format = f;
  in.prefix = d.host[kMPrefix].data();
  in.suffix = d.host[kMSuffix].data();
  in.prefix_stride_token = in.suffix_stride_token = d.stride_token;
  in.prefix_stride_head = in.suffix_stride_head = d.stride_head;
  in.prefix_lse = reinterpret_cast<const float*>(d.host[kMPrefixLse].data());
  in.suffix_lse = reinterpret_cast<const float*>(d.host[kMSuffixLse].data());
  in.prefix_lse_stride_head = in.suffix_lse_stride_head = d.lse_stride_head;
  in.prefix_lse_stride_token = in.suffix_lse_stride_token = d.lse_stride_token;
  const kvref::RefMergeResult ref = kvref::reference_merge(in);

  // Merge computes in fp32 (exp of LSE differences, one weighted sum) and
  // casts once: u of the output dtype relative, plus a few fp32 ulps (and
  // __expf's error) relative to the inputs' magnitude.
  const double u = unit_roundoff(c.dtype);
  const double p_rel = 1e-5;
  int64_t bad = 0;
  std::ostringstream first;
  auto note = [&](const std::string& s) {
    if (bad++ == 0) first << s;
  };
  const int64_t n = static_cast<int64_t>(out.size()) / esize;
  std::vector<char> valid(static_cast<size_t>(n), 0);
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h) {
      const float lp = in.prefix_lse[h * d.lse_stride_head + t * d.lse_stride_token];
      const float ls = in.suffix_lse[h * d.lse_stride_head + t * d.lse_stride_token];
      std::ostringstream where;
      where << "(token " << t << ", head " << h << ") with prefix_lse " << lp << ", suffix_lse " << ls;
      for (int e = 0; e < D; ++e) {
        const int64_t i = t * d.stride_token + h * d.stride_head + e;
        valid[static_cast<size_t>(i)] = 1;
        const double g = kvref::load_value(f, out.data(), i);
        const double r = ref.out[ref.out_index(t, h, e)];
        const double bound = u * std::fabs(r) + p_rel * ref.magnitude[ref.out_index(t, h, e)] + 1e-7;
        if (!(std::fabs(g - r) <= bound)) {
          std::ostringstream os;
          os << "output at " << where.str() << " d " << e << ": got " << g << " expected " << r << " (bound " << bound << ")";
          note(os.str());
        }
      }
      if (c.with_out_lse) {
        float g;
        std::memcpy(&g, out_lse.data() + (h * d.lse_stride_head + t * d.lse_stride_token) * sizeof(float), 4);
        const double r = ref.lse[static_cast<size_t>(h) * T + t];
        const bool ok = std::isinf(r) ? (std::isinf(g) && g < 0) : std::fabs(g - r) <= 1e-5 + 1e-6 * std::fabs(r);
        if (!ok) {
          std::ostringstream os;
          os << "output_lse at " << where.str() << ": got " << g << " expected " << r;
          note(os.str());
        }
      }
    }
  for (int64_t i = 0; i < n; ++i)
    if (!valid[static_cast<size_t>(i)])
      for (int b = 0; b < esize; ++b)
        if (out[static_cast<size_t>(i * esize + b)] != kPoisonByte) {
          note("output: wrote the gap element " + std::to_string(i) + " between heads/tokens");
          break;
        }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " wrong element(s); first: " << first.str();
}

}  // namespace kvtest
