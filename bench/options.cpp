#include "options.h"

#include <sstream>
#include <stdexcept>

namespace kvattn_bench {

static std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ','))
    if (!part.empty()) parts.push_back(part);
  return parts;
}

static KvDTypeChoice parse_kv_dtype(const std::string& name) {
  if (name == "bf16") return {name, kvattn::DType::kBFloat16};
  if (name == "e4m3") return {name, kvattn::DType::kFloat8E4M3};
  if (name == "e5m2") return {name, kvattn::DType::kFloat8E5M2};
  throw std::invalid_argument("--kv-dtype: unknown dtype '" + name + "'; expected bf16, e4m3 or e5m2");
}

static BackendChoice parse_backend(const std::string& name) {
  if (name == "auto") return {"kvattn", kvattn::Backend::kAuto};
  if (name == "portable") return {"kvattn-portable", kvattn::Backend::kCudaPortable};
  if (name == "hopper") return {"kvattn-hopper", kvattn::Backend::kCudaHopper};
  throw std::invalid_argument("--backend: unknown backend '" + name + "'; expected auto, portable or hopper");
}

const char* usage_text() {
  return "usage: kvattn-bench [flags]\n"
         "  --workload NAME[,NAME]   standard workloads to run (default: all; "
         "--list shows them; ad hoc: seqs_<count>x<q_len>[_ctx<cached>[-<hi>]][_d<D>][_nc])\n"
         "  --kv-dtype bf16,e4m3,e5m2  KV cache dtypes (default: all three; q "
         "is bf16)\n"
         "  --backend auto,portable,hopper  CUDA backends to time (default: "
         "auto; rows kvattn, kvattn-portable, kvattn-hopper)\n"
         "  --page-size N            page size of every workload's KV cache (default: "
         "the workload's, 16)\n"
         "  --reps N                 timed repetitions (default: ~1 s per "
         "workload, at most 100)\n"
         "  --sustain SECONDS        before each timing (ceilings and rows), launch it "
         "back to back this long: the power-capped regime of sustained load (GPU; default 0)\n"
         "  --json FILE|DIR/         write results as JSON (a directory gets "
         "<gpu-slug>.json)\n"
         "  --graph                  also time CUDA-graph replays of each "
         "call\n"
         "  --cpu                    use the CPU backend (scaled-down "
         "workloads) even with a GPU\n"
         "  --no-check               skip the correctness check against the "
         "CPU backend\n"
         "  --no-ceilings            skip the copy / GEMM ceiling "
         "measurements\n"
         "  --list                   list the workloads and exit\n"
         "Env: KVATTN_COMMIT overrides the commit recorded in the JSON.\n";
}

// The whole of v as a number in [lo, hi], else invalid_argument naming the flag.
static double seconds_in_range(const char* flag, const std::string& v, double lo, double hi) {
  double x = -1;
  size_t used = 0;
  try {
    x = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size() || !(x >= lo && x <= hi))
    throw std::invalid_argument(std::string(flag) + ": expected seconds in [" + std::to_string(static_cast<int>(lo)) +
                                ", " + std::to_string(static_cast<int>(hi)) + "], got '" + v + "'");
  return x;
}

// The whole of v as an integer >= 1, else invalid_argument naming the flag.
static int positive_int(const char* flag, const std::string& v) {
  int n = 0;
  try {
    size_t used = 0;
    n = std::stoi(v, &used);
    if (used != v.size()) n = 0;
  } catch (const std::exception&) {
    n = 0;
  }
  if (n < 1) throw std::invalid_argument(std::string(flag) + ": expected a positive integer, got '" + v + "'");
  return n;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* flag) -> std::string {
      const std::string prefix = std::string(flag) + "=";
      if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
      if (i + 1 >= argc) throw std::invalid_argument(std::string(flag) + ": expected a value after the flag");
      return argv[++i];
    };
    auto is = [&](const char* flag) { return arg == flag || arg.rfind(std::string(flag) + "=", 0) == 0; };

    if (is("--workload")) {
      for (const std::string& w : split_commas(value("--workload"))) o.workloads.push_back(w);
    } else if (is("--page-size")) {
      o.page_size = positive_int("--page-size", value("--page-size"));
    } else if (is("--kv-dtype")) {
      for (const std::string& d : split_commas(value("--kv-dtype"))) o.kv_dtypes.push_back(parse_kv_dtype(d));
    } else if (is("--backend")) {
      for (const std::string& b : split_commas(value("--backend"))) o.backends.push_back(parse_backend(b));
    } else if (is("--reps")) {
      o.reps = positive_int("--reps", value("--reps"));
    } else if (is("--sustain")) {
      o.sustain_s = seconds_in_range("--sustain", value("--sustain"), 0.0, 600.0);
    } else if (is("--json")) {
      o.json_path = value("--json");
    } else if (arg == "--graph") {
      o.graph = true;
    } else if (arg == "--cpu") {
      o.force_cpu = true;
    } else if (arg == "--no-check") {
      o.check = false;
    } else if (arg == "--no-ceilings") {
      o.ceilings = false;
    } else if (arg == "--list") {
      o.list = true;
    } else if (arg == "--help" || arg == "-h") {
      o.help = true;
    } else {
      throw std::invalid_argument(arg + ": unknown flag (see --help)");
    }
  }
  if (o.kv_dtypes.empty())
    o.kv_dtypes = {
        {"bf16", kvattn::DType::kBFloat16}, {"e4m3", kvattn::DType::kFloat8E4M3}, {"e5m2", kvattn::DType::kFloat8E5M2}};
  if (o.backends.empty()) o.backends = {{"kvattn", kvattn::Backend::kAuto}};
  return o;
}

}  // namespace kvattn_bench
