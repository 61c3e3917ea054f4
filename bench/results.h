// What a run measured, and the two ways it is written out: an aligned table
// (stdout) and JSON (the bench/results/<gpu-slug>.json schema plus details).
#pragma once
#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

namespace kvattn_bench {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Row {
  std::string workload;
  std::string shape;     // e.g. "128x(1,4096)"
  std::string impl;      // "kvattn", "kvattn+graph", "kvattn-cpu"
  std::string kv_dtype;  // "bf16", "e4m3", "e5m2"
  double ms = kNaN, min_ms = kNaN, max_ms = kNaN;
  int reps = 0;
  double flops = 0, bytes = 0;
  double tflops = kNaN, tbps = kNaN;
  double pct_bf16_gemm = kNaN, pct_copy = kNaN;  // of the ceilings measured in the same run
  double check_max_rel_l2 = kNaN;                // worst head over the checked rows; NaN = not checked
  int input_sets = 1;                            // input sets rotated through while timing
  long long workspace_bytes = 0;                 // split-KV workspace passed to the call
  std::string status = "ok";                     // "ok", "mismatch", "error"
  std::string message;
};

struct Ceilings {
  double copy_tbps = kNaN;
  double bf16_gemm_tflops = kNaN;
  double fp8_gemm_tflops = kNaN;
};

struct DeviceInfo {
  std::string name;
  int sm_count = 0;
  int cc_major = 0, cc_minor = 0;
  int clock_mhz = 0, mem_clock_mhz = 0, mem_bus_width = 0;
  long long l2_bytes = 0, memory_bytes = 0;
  int driver_version = 0, runtime_version = 0;
};

struct Report {
  std::string mode;  // "gpu" or "cpu"
  std::string gpu;   // device name; "cpu" in CPU mode
  std::string commit;
  std::string date;   // UTC, ISO 8601
  std::string scale;  // CPU mode: how the workloads were scaled down
  int cpu_threads = 0;
  bool has_device = false;
  DeviceInfo device;
  Ceilings ceilings;
  double sustain_s = 0;  // --sustain (GPU): every timing followed this many seconds of back-to-back launches
  std::vector<Row> rows;
};

// KVATTN_COMMIT from the environment, else the commit CMake saw at configure time.
std::string current_commit();
std::string utc_now_iso();
// "NVIDIA H100 80GB HBM3" -> "nvidia-h100-80gb-hbm3".
std::string slugify(const std::string& name);

void print_table(std::ostream& os, const Report& report);
// A directory (existing, or given with a trailing '/') gets <gpu-slug>.json.
// Returns the path written; throws std::runtime_error if it cannot write.
std::string write_json(const std::string& path, const Report& report);

}  // namespace kvattn_bench
