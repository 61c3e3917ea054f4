// kvattn-bench: times the standard serving workloads through the public API.
// With a GPU: ceilings, a CPU-backend correctness gate, CUDA-event timings.
// Without one (or with --cpu): the same workloads scaled down on the CPU backend.
// Exit status: 0 all rows ok, 1 a row failed its check or errored, 2 bad flags.
#include <exception>
#include <iostream>
#include <thread>

#include "cpu_mode.h"
#include "options.h"
#include "results.h"
#include "workloads.h"

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(KVATTN_BENCH_CUDA)
#include "gpu/device_info.h"
#include "gpu/gpu_mode.h"
#endif

namespace kb = kvattn_bench;

namespace {

void list_workloads() {
  for (const kb::Workload& w : kb::standard_workloads())
    std::cout << w.name << ": " << kb::shape_string(w) << " (new, cached) tokens, Hq " << w.num_q_heads << ", Hkv "
              << w.num_kv_heads << ", D " << w.head_dim << ", page " << w.page_size << (w.causal ? ", causal" : "")
              << "\n";
}

int cpu_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return static_cast<int>(std::thread::hardware_concurrency());
#endif
}

}  // namespace

int main(int argc, char** argv) {
  kb::Options opts;
  std::vector<kb::Workload> workloads;
  try {
    opts = kb::parse_options(argc, argv);
    workloads = kb::select_workloads(opts.workloads);
    if (opts.page_size > 0)
      for (kb::Workload& w : workloads) w.page_size = opts.page_size;
  } catch (const std::exception& e) {
    std::cerr << "kvattn-bench: " << e.what() << "\n" << kb::usage_text();
    return 2;
  }
  if (opts.help) {
    std::cout << kb::usage_text();
    return 0;
  }
  if (opts.list) {
    list_workloads();
    return 0;
  }

  kb::Report report;
  report.commit = kb::current_commit();
  report.date = kb::utc_now_iso();

  std::string why_cpu = "--cpu given";
  bool use_gpu = false;
#if defined(KVATTN_BENCH_CUDA)
  if (!opts.force_cpu) use_gpu = kb::cuda_device_available(&why_cpu);
#else
  if (!opts.force_cpu) why_cpu = "this build has no CUDA backend";
#endif

  try {
    if (use_gpu) {
#if defined(KVATTN_BENCH_CUDA)
      report.mode = "gpu";
      kb::run_gpu(opts, workloads, report);
#endif
    } else {
      // CPU mode times the CPU backend only: naming a CUDA backend is a mistake, not a no-op.
      for (const kb::BackendChoice& b : opts.backends)
        if (b.backend != kvattn::Backend::kAuto) {
          std::cerr << "kvattn-bench: --backend: expected auto in CPU mode (" << why_cpu << "), got "
                    << (b.backend == kvattn::Backend::kCudaHopper ? "hopper" : "portable") << "\n";
          return 2;
        }
      if (opts.sustain_s > 0) {  // a GPU power regime: meaningless for the CPU backend
        std::cerr << "kvattn-bench: --sustain: expected 0 in CPU mode (" << why_cpu << "), got " << opts.sustain_s
                  << "\n";
        return 2;
      }
      report.mode = "cpu";
      report.gpu = "cpu";
      report.cpu_threads = cpu_threads();
      report.scale = "sequence lengths / " + std::to_string(kb::kCpuScale.len_div) +
                     " (lengths <= " + std::to_string(kb::kKeepShortLen) + " kept), sequence counts / " +
                     std::to_string(kb::kCpuScale.count_div);
      std::cerr << "kvattn-bench: " << why_cpu << " -> CPU backend, scaled-down workloads (" << report.scale << ")\n";
      kb::run_cpu(opts, workloads, report);
    }
  } catch (const std::exception& e) {  // device setup failures; per-workload failures become rows
    std::cerr << "kvattn-bench: " << e.what() << "\n";
    return 1;
  }

  kb::print_table(std::cout, report);
  if (!opts.json_path.empty()) {
    try {
      std::cerr << "wrote " << kb::write_json(opts.json_path, report) << "\n";
    } catch (const std::exception& e) {
      std::cerr << "kvattn-bench: " << e.what() << "\n";
      return 1;
    }
  }
  for (const kb::Row& r : report.rows)
    if (r.status != "ok") return 1;
  return 0;
}
