#include "results.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#ifndef KVATTN_BENCH_COMMIT
#define KVATTN_BENCH_COMMIT "unknown"
#endif

namespace kvattn_bench {

std::string current_commit() {
  const char* env = std::getenv("KVATTN_COMMIT");
  return env && *env ? env : KVATTN_BENCH_COMMIT;
}

std::string utc_now_iso() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

std::string slugify(const std::string& name) {
  std::string slug;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      slug += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!slug.empty() && slug.back() != '-')
      slug += '-';
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  return slug.empty() ? "unknown" : slug;
}

// ---- table ----------------------------------------------------------------

static std::string fixed(double v, int digits) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Three significant digits, whatever the magnitude (0.0123, 1.23, 123).
static std::string sig3(double v) {
  if (std::isnan(v)) return "-";
  const double a = std::fabs(v);
  return fixed(v, a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : a >= 0.1 ? 3 : 4);
}

static std::string check_cell(const Row& r) {
  if (r.status == "error") return "ERROR";
  char buf[48];
  if (std::isnan(r.check_max_rel_l2)) return r.status == "ok" ? "-" : "FAIL";
  std::snprintf(buf, sizeof buf, "%s %.1e", r.status == "ok" ? "ok" : "FAIL", r.check_max_rel_l2);
  return buf;
}

static void print_aligned(std::ostream& os, const std::vector<std::vector<std::string>>& cells) {
  std::vector<size_t> width;
  for (const auto& row : cells)
    for (size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  for (size_t r = 0; r < cells.size(); ++r) {
    std::string line;
    for (size_t c = 0; c < cells[r].size(); ++c) {
      const std::string& s = cells[r][c];
      const std::string pad(width[c] - s.size(), ' ');
      line += (c ? "  " : "") + (c < 3 ? s + pad : pad + s);  // text left, numbers right
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    os << line << "\n";
    if (r == 0) os << std::string(line.size(), '-') << "\n";
  }
}

void print_table(std::ostream& os, const Report& report) {
  const bool gpu = report.mode == "gpu";
  if (gpu) {
    os << "kvattn-bench on " << report.gpu << " (commit " << report.commit << ", " << report.date << ")\n";
    const Ceilings& c = report.ceilings;
    os << "ceilings: copy " << fixed(c.copy_tbps, 2) << " TB/s, bf16 GEMM " << fixed(c.bf16_gemm_tflops, 0)
       << " TFLOP/s, fp8 e4m3 GEMM " << fixed(c.fp8_gemm_tflops, 0) << " TFLOP/s\n";
    if (report.sustain_s > 0)
      os << "sustained: every timing (ceilings too) after " << fixed(report.sustain_s, 1)
         << " s of back-to-back launches\n";
    os << "\n";
  } else {
    os << "kvattn-bench: CPU backend, scaled-down workloads (" << report.scale << "; " << report.cpu_threads
       << " threads; commit " << report.commit << ")\n\n";
  }
  std::vector<std::vector<std::string>> cells;
  if (gpu)
    cells.push_back({"workload", "kv", "impl", "ms", "min", "max", "TFLOP/s", "TB/s", "%bf16gemm", "%copy", "check"});
  else
    cells.push_back({"workload", "kv", "shape", "ms", "min", "max", "GFLOP/s", "GB/s", "reps", "check"});
  for (const Row& r : report.rows) {
    if (gpu)
      cells.push_back({r.workload, r.kv_dtype, r.impl, sig3(r.ms), sig3(r.min_ms), sig3(r.max_ms), sig3(r.tflops),
                       fixed(r.tbps, 2), fixed(r.pct_bf16_gemm, 0), fixed(r.pct_copy, 0), check_cell(r)});
    else
      cells.push_back({r.workload, r.kv_dtype, r.shape, sig3(r.ms), sig3(r.min_ms), sig3(r.max_ms),
                       sig3(r.tflops * 1e3), sig3(r.tbps * 1e3), std::to_string(r.reps), check_cell(r)});
  }
  print_aligned(os, cells);
  for (const Row& r : report.rows)
    if (r.status != "ok")
      os << "\n" << r.status << ": " << r.workload << " " << r.kv_dtype << " " << r.impl << ": " << r.message;
  os << "\n";
}

// ---- JSON -----------------------------------------------------------------

static std::string quote(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        q += "\\\"";
        break;
      case '\\':
        q += "\\\\";
        break;
      case '\n':
        q += "\\n";
        break;
      case '\t':
        q += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          q += buf;
        } else {
          q += c;
        }
    }
  }
  return q + "\"";
}

static std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

static void write_report(std::ostream& os, const Report& r) {
  os << "{\n";
  os << "  \"gpu\": " << quote(r.gpu) << ",\n";
  os << "  \"commit\": " << quote(r.commit) << ",\n";
  os << "  \"date\": " << quote(r.date) << ",\n";
  os << "  \"mode\": " << quote(r.mode) << ",\n";
  os << "  \"tool\": \"kvattn-bench\",\n";
  if (r.sustain_s > 0) os << "  \"sustain_s\": " << num(r.sustain_s) << ",\n";
  if (r.mode == "cpu") os << "  \"scale\": " << quote(r.scale) << ",\n  \"cpu_threads\": " << r.cpu_threads << ",\n";
  if (r.has_device) {
    const DeviceInfo& d = r.device;
    os << "  \"device\": {\"name\": " << quote(d.name) << ", \"sm_count\": " << d.sm_count
       << ", \"compute_capability\": \"" << d.cc_major << "." << d.cc_minor << "\""
       << ", \"clock_mhz\": " << d.clock_mhz << ", \"mem_clock_mhz\": " << d.mem_clock_mhz
       << ", \"mem_bus_width_bits\": " << d.mem_bus_width << ", \"l2_bytes\": " << d.l2_bytes
       << ", \"memory_bytes\": " << d.memory_bytes << ", \"driver_version\": " << d.driver_version
       << ", \"runtime_version\": " << d.runtime_version << "},\n";
  }
  const Ceilings& c = r.ceilings;
  os << "  \"ceilings\": {\"copy_tbps\": " << num(c.copy_tbps) << ", \"bf16_gemm_tflops\": " << num(c.bf16_gemm_tflops)
     << ", \"fp8_gemm_tflops\": " << num(c.fp8_gemm_tflops) << "},\n";
  os << "  \"rows\": [";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const Row& w = r.rows[i];
    os << (i ? ",\n" : "\n") << "    {\"workload\": " << quote(w.workload) << ", \"impl\": " << quote(w.impl)
       << ", \"kv_dtype\": " << quote(w.kv_dtype) << ", \"ms\": " << num(w.ms) << ", \"tflops\": " << num(w.tflops)
       << ", \"tbps\": " << num(w.tbps) << ", \"min_ms\": " << num(w.min_ms) << ", \"max_ms\": " << num(w.max_ms)
       << ", \"reps\": " << w.reps << ", \"shape\": " << quote(w.shape) << ", \"flops\": " << num(w.flops)
       << ", \"bytes\": " << num(w.bytes) << ", \"pct_bf16_gemm\": " << num(w.pct_bf16_gemm)
       << ", \"pct_copy\": " << num(w.pct_copy) << ", \"check_max_rel_l2\": " << num(w.check_max_rel_l2)
       << ", \"input_sets\": " << w.input_sets << ", \"workspace_bytes\": " << w.workspace_bytes
       << ", \"status\": " << quote(w.status) << ", \"message\": " << quote(w.message) << "}";
  }
  os << "\n  ]\n}\n";
}

std::string write_json(const std::string& path, const Report& report) {
  namespace fs = std::filesystem;
  std::string target = path;
  if (!path.empty() && (path.back() == '/' || fs::is_directory(path))) {
    fs::create_directories(path);
    target = (fs::path(path) / (slugify(report.gpu) + ".json")).string();
  }
  std::ofstream out(target);
  if (!out) throw std::runtime_error("--json: cannot open '" + target + "' for writing");
  write_report(out, report);
  if (!out) throw std::runtime_error("--json: failed writing '" + target + "'");
  return target;
}

}  // namespace kvattn_bench
