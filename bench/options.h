// Command-line flags of kvattn-bench.
#pragma once
#include <string>
#include <vector>

#include "kvattn/attention.h"
#include "kvattn/tensor.h"

namespace kvattn_bench {

struct KvDTypeChoice {
  std::string name;  // "bf16", "e4m3", "e5m2" (as in the tables and JSON)
  kvattn::DType dtype;
};

// A CUDA backend to time; impl is the row's label ("kvattn" for kAuto).
struct BackendChoice {
  std::string impl;
  kvattn::Backend backend;
};

struct Options {
  std::vector<std::string> workloads;  // empty = all
  std::vector<KvDTypeChoice> kv_dtypes;
  std::vector<BackendChoice> backends;  // default: {kvattn = kAuto}
  int page_size = 0;                    // > 0: every workload's page size (default: its own, 16)
  int reps = 0;                         // 0 = enough for about one second per workload (at most 100)
  double sustain_s = 0;                 // --sustain: back-to-back seconds before each timing (GPU)
  std::string json_path;                // empty = no JSON; a directory (or trailing '/') =
                                        // <dir>/<gpu-slug>.json
  bool graph = false;                   // also time CUDA-graph replays
  bool force_cpu = false;
  bool check = true;
  bool ceilings = true;
  bool list = false;
  bool help = false;
};

// Throws std::invalid_argument naming the flag and what it expects.
Options parse_options(int argc, char** argv);
const char* usage_text();

}  // namespace kvattn_bench
