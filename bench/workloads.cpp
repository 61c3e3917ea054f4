#include "workloads.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <sstream>
#include <stdexcept>

namespace kvattn_bench {

std::vector<Workload> standard_workloads() {
  std::vector<Workload> list = {
      {"prefill_4x8k", {{4, 8192, 0}}},
      {"chunk_8x2k_ctx6k", {{8, 2048, 6144}}},
      {"mixed_2k_128dec", {{1, 2048, 2048}, {128, 1, 4096}}},
      {"decode_128_ctx4k", {{128, 1, 4096}}},
      {"decode_32_ctx32k", {{32, 1, 32768}}},
      {"specdec_64x4_ctx4k", {{64, 4, 4096}}},
      {"decode_8_ctx128k", {{8, 1, 131072}}},
      {"prefill_d64", {{4, 8192, 0}}},
      {"prefill_d256", {{4, 8192, 0}}},
      // The prefill half of mixed_2k_128dec on its own (its decode half is
      // decode_128_ctx4k): the mixed batch should cost no more than the two.
      {"mixed_part_chunk_2k", {{1, 2048, 2048}}},
      // Short chunks on a long context (small chunked-prefill steps, long drafts):
      // 32 queries of 4 query heads per KV head, the case GQA packing is for.
      {"chunk_64x32_ctx4k", {{64, 32, 4096}}},
  };
  list[7].head_dim = 64;
  list[8].head_dim = 256;
  list[8].num_q_heads = 16;
  return list;
}

// "seqs_<count>x<q_len>[_ctx<cached>[-<cached_hi>]][_d<head dim>][_nc]": an ad-hoc
// shape (the standard heads and page size; _nc: not causal; ctx<lo>-<hi>: cached
// lengths spread evenly from lo to hi, a ragged batch), for sweeps such as how the
// kernel's time per work tile depends on the sequence length. False if `name` does
// not start with "seqs_"; throws if it does but is malformed.
static bool parse_ad_hoc(const std::string& name, Workload& w) {
  const std::string prefix = "seqs_";
  if (name.rfind(prefix, 0) != 0) return false;
  const std::invalid_argument bad("--workload: '" + name +
                                  "': expected seqs_<count>x<q_len>[_ctx<cached>[-<cached_hi>]][_d<head dim>][_nc], e.g. "
                                  "seqs_1x32768, seqs_8x2048_ctx6144_d64 or seqs_64x1_ctx1024-32768");
  // The whole of `text` as an integer in [lo, hi].
  const auto whole = [&](const std::string& text, int64_t lo, int64_t hi = INT64_MAX) {
    size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(text, &used);
    } catch (const std::logic_error&) {
      throw bad;
    }
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])) || used != text.size() || v < lo || v > hi)
      throw bad;
    return v;
  };
  std::vector<std::string> parts;
  std::stringstream rest(name.substr(prefix.size()) + "_");  // every part, the last one too, ends in '_'
  for (std::string part; std::getline(rest, part, '_');) parts.push_back(part);
  const size_t x = parts.empty() ? std::string::npos : parts[0].find('x');
  if (x == std::string::npos) throw bad;
  SeqGroup g;
  g.count = whole(parts[0].substr(0, x), 1);
  g.q_len = whole(parts[0].substr(x + 1), 1);
  w = Workload{};
  w.name = name;
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    const size_t dash = part.find('-');
    if (part.rfind("ctx", 0) == 0 && dash != std::string::npos) {
      g.cached = whole(part.substr(3, dash - 3), 0);
      g.cached_hi = whole(part.substr(dash + 1), g.cached);
    } else if (part.rfind("ctx", 0) == 0)
      g.cached = whole(part.substr(3), 0);
    else if (part.rfind("d", 0) == 0)
      w.head_dim = static_cast<int>(whole(part.substr(1), 1, 1 << 16));
    else if (part == "nc")
      w.causal = false;
    else
      throw bad;
  }
  w.groups = {g};
  return true;
}

std::vector<Workload> select_workloads(const std::vector<std::string>& names) {
  std::vector<Workload> all = standard_workloads();
  if (names.empty()) return all;
  std::vector<Workload> picked;
  for (const std::string& name : names) {
    if (name == "all") return all;
    Workload ad_hoc;
    if (parse_ad_hoc(name, ad_hoc)) {
      picked.push_back(ad_hoc);
      continue;
    }
    auto it = std::find_if(all.begin(), all.end(), [&](const Workload& w) { return w.name == name; });
    if (it == all.end()) {
      std::string known;
      for (const Workload& w : all) known += (known.empty() ? "" : ", ") + w.name;
      throw std::invalid_argument("--workload: unknown workload '" + name + "'; expected one of: " + known +
                                  " (or all, or an ad-hoc seqs_<count>x<q_len>[_ctx<cached>[-<cached_hi>]][_d<head dim>][_nc])");
    }
    picked.push_back(*it);
  }
  return picked;
}

static int64_t scale_len(int64_t len, int64_t div) {
  if (len <= kKeepShortLen) return len;
  return std::max<int64_t>(kKeepShortLen, len / div);
}

Workload scaled(const Workload& w, Scale scale) {
  Workload s = w;
  for (SeqGroup& g : s.groups) {
    g.count = std::max<int64_t>(1, g.count / scale.count_div);
    g.q_len = scale_len(g.q_len, scale.len_div);
    g.cached = scale_len(g.cached, scale.len_div);
    if (g.cached_hi >= 0) g.cached_hi = scale_len(g.cached_hi, scale.len_div);
  }
  return s;
}

std::vector<SeqLens> sequences(const Workload& w) {
  std::vector<SeqLens> seqs;
  for (const SeqGroup& g : w.groups)
    for (int64_t i = 0; i < g.count; ++i) seqs.push_back({g.q_len, g.cached_of(i) + g.q_len});
  return seqs;
}

std::string shape_string(const Workload& w) {
  std::ostringstream os;
  for (size_t i = 0; i < w.groups.size(); ++i) {
    const SeqGroup& g = w.groups[i];
    os << (i ? "+" : "") << g.count << "x(" << g.q_len << "," << g.cached;
    if (g.cached_hi >= 0) os << ".." << g.cached_hi;
    os << ")";
  }
  return os.str();
}

// Keys visible to the rows of one sequence, counted row by row (at most a few
// thousand rows per sequence, so exactness costs nothing).
static int64_t sequence_pairs(int64_t q_len, int64_t kv_len, bool causal) {
  if (!causal) return q_len * kv_len;
  const int64_t off = kv_len - q_len;
  int64_t pairs = 0;
  for (int64_t i = 0; i < q_len; ++i) pairs += std::clamp<int64_t>(i + off + 1, 0, kv_len);
  return pairs;
}

int64_t visible_pairs(const Workload& w) {
  int64_t pairs = 0;
  for (const SeqLens& s : sequences(w)) pairs += sequence_pairs(s.q_len, s.kv_len, w.causal);
  return pairs;
}

double attention_flops(const Workload& w) {
  return 4.0 * w.head_dim * w.num_q_heads * static_cast<double>(visible_pairs(w));
}

double attention_bytes(const Workload& w, kvattn::DType kv_dtype, kvattn::DType q_dtype) {
  const double kv_size = kvattn::dtype_size(kv_dtype);
  const double q_size = kvattn::dtype_size(q_dtype);
  const bool fp8 = kv_dtype == kvattn::DType::kFloat8E4M3 || kv_dtype == kvattn::DType::kFloat8E5M2;
  double bytes = 0;
  for (const SeqLens& s : sequences(w)) {
    bytes += 2.0 * s.kv_len * w.num_kv_heads * w.head_dim * kv_size;  // K and V
    bytes += 2.0 * s.q_len * w.num_q_heads * w.head_dim * q_size;     // q and out
    bytes += 4.0 * ((s.kv_len + w.page_size - 1) / w.page_size);      // block-table entries
    if (fp8) bytes += 2.0 * 4.0 * w.num_kv_heads;                     // k/v descales
  }
  return bytes;
}

}  // namespace kvattn_bench
