#include "gpu_mode.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <iostream>
#include <memory>

#include "call_args.h"
#include "ceilings.h"
#include "cuda_util.h"
#include "device_info.h"
#include "fill.h"
#include "host_data.h"
#include "kvattn/attention.h"
#include "row_for.h"
#include "seeds.h"
#include "stats.h"
#include "subset_check.h"
#include "timing.h"

namespace kvattn_bench {

namespace {

constexpr int kDevice = 0;
constexpr int kWarmupCalls = 3;
constexpr double kTimeBudgetMs = 1000;  // timed reps per row when --reps is not given
constexpr int kMinReps = 5, kMaxReps = 100;
constexpr int kMaxInputSets = 8;
constexpr double kL2Multiple = 4;  // inputs touched per rotation >= 4x L2, so no call starts with a warm L2

struct Stream {
  cudaStream_t s = nullptr;
  Stream() { BENCH_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(s); }
};

// One complete set of inputs (and its output) on the device.
struct InputSet {
  BatchLayout layout;  // own random block permutation
  std::vector<float> k_descale,
      v_descale;  // host copies; empty for a bf16 cache
  DeviceBuffer q, k, v, out, cu_seqlens_q, seqused_k, block_table, k_descale_dev, v_descale_dev;

  BatchBuffers view(const DeviceBuffer& workspace) const {
    BatchBuffers b;
    b.q = q.get(), b.k = k.get(), b.v = v.get(), b.out = out.get();
    b.cu_seqlens_q = cu_seqlens_q.as<int32_t>();
    b.seqused_k = seqused_k.as<int32_t>();
    b.block_table = block_table.as<int32_t>();
    b.k_descale = k_descale_dev.as<float>();
    b.v_descale = v_descale_dev.as<float>();
    b.workspace = workspace.get();
    b.workspace_bytes = workspace.bytes();
    return b;
  }
};

InputSet make_input_set(const Workload& w, const KvDTypeChoice& kv, int set, cudaStream_t stream) {
  auto seed = [&](const char* what) { return buffer_seed(w.name, kv.name, what, set); };
  InputSet s;
  s.layout = make_layout(w, seed("layout"));
  const BatchLayout& l = s.layout;
  const int64_t nq = q_elems(w, l), nkv = kv_elems(w, l);
  s.q = DeviceBuffer(nq * 2);
  s.out = DeviceBuffer(nq * 2);
  s.k = DeviceBuffer(nkv * kvattn::dtype_size(kv.dtype));
  s.v = DeviceBuffer(nkv * kvattn::dtype_size(kv.dtype));
  const float kv_scale = is_fp8(kv.dtype) ? kFp8CodeScale : 1.0f;
  fill_normal_device(s.q.get(), kvattn::DType::kBFloat16, nq, seed("q"), 1.0f, stream);
  fill_normal_device(s.k.get(), kv.dtype, nkv, seed("k"), kv_scale, stream);
  fill_normal_device(s.v.get(), kv.dtype, nkv, seed("v"), kv_scale, stream);
  BENCH_CUDA_CHECK(cudaMemsetAsync(s.out.get(), 0xff, s.out.bytes(), stream));  // bf16 NaN
  s.cu_seqlens_q = upload(l.cu_seqlens_q.data(), l.cu_seqlens_q.size());
  s.seqused_k = upload(l.seqused_k.data(), l.seqused_k.size());
  s.block_table = upload(l.block_table.data(), l.block_table.size());
  if (is_fp8(kv.dtype)) {
    s.k_descale = make_descales(l.batch, w.num_kv_heads, seed("k_descale"));
    s.v_descale = make_descales(l.batch, w.num_kv_heads, seed("v_descale"));
    s.k_descale_dev = upload(s.k_descale.data(), s.k_descale.size());
    s.v_descale_dev = upload(s.v_descale.data(), s.v_descale.size());
  }
  return s;
}

// How many input sets to rotate through: enough to touch kL2Multiple x L2 per
// rotation, as memory allows.
int input_set_count(const Workload& w, const KvDTypeChoice& kv, const BatchLayout& l, long long l2_bytes) {
  const double set_bytes = 2.0 * q_elems(w, l) * 2 + 2.0 * kv_elems(w, l) * kvattn::dtype_size(kv.dtype);
  int sets = static_cast<int>(std::ceil(kL2Multiple * l2_bytes / set_bytes));
  size_t free_bytes = 0, total_bytes = 0;
  BENCH_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  const int fit = static_cast<int>(0.8 * free_bytes / set_bytes);
  return std::clamp(std::min(sets, fit), 1, kMaxInputSets);
}

void fill_timing(Row& row, const TimeSummary& t, const Ceilings& c) {
  row.ms = t.median_ms;
  row.min_ms = t.min_ms;
  row.max_ms = t.max_ms;
  row.reps = t.reps;
  row.tflops = row.flops / (row.ms * 1e9);
  row.tbps = row.bytes / (row.ms * 1e9);
  row.pct_bf16_gemm = 100.0 * row.tflops / c.bf16_gemm_tflops;
  row.pct_copy = 100.0 * row.tbps / c.copy_tbps;
}

// Times calls[rep % n] (each one a complete forward on its own inputs).
TimeSummary time_rotating(const std::function<void(int)>& call, const Options& opts, cudaStream_t stream) {
  const double warm = summarize(time_launches(call, kWarmupCalls, stream)).median_ms;
  const int reps = opts.reps ? opts.reps : reps_for_budget(warm, kTimeBudgetMs, kMinReps, kMaxReps);
  sustain(call, stream);
  return summarize(time_launches(call, reps, stream));
}

std::vector<Row> run_workload(const Options& opts, const Workload& w, const KvDTypeChoice& kv,
                              const BackendChoice& backend, const Report& report, cudaStream_t stream) {
  Row row = row_for(w, kv, backend.impl);
  const BatchLayout first = make_layout(w, buffer_seed(w.name, kv.name, "layout", 0));
  const int num_sets = input_set_count(w, kv, first, report.device.l2_bytes);
  std::vector<InputSet> sets;
  for (int s = 0; s < num_sets; ++s) sets.push_back(make_input_set(w, kv, s, stream));

  const kvattn::Device device{kvattn::DeviceType::kCUDA, kDevice};
  const size_t ws_bytes = kvattn::varlen_attention_workspace_size(
      first.batch, w.num_q_heads, w.num_kv_heads, w.head_dim, first.max_seqlen_q, first.max_seqlen_k, 0, device,
      kv.dtype);
  const DeviceBuffer workspace(ws_bytes);  // shared: the calls run one after another on one stream
  std::vector<kvattn::VarlenAttentionArgs> args;
  for (const InputSet& s : sets) {
    args.push_back(make_call_args(w, s.layout, kv.dtype, s.view(workspace), device, backend.backend));
    args.back().stream = stream;
  }
  // The fills ran on `stream`, the metadata uploads on the legacy stream (which
  // a non-blocking stream does not wait for): settle both before the first
  // call.
  BENCH_CUDA_CHECK(cudaDeviceSynchronize());

  if (opts.check) {
    kvattn::varlen_attention_forward(args[0]);  // into set 0's NaN-filled out
    const int64_t bad = count_nonfinite_bf16_device(sets[0].out.get(), q_elems(w, first), stream);
    const CheckResult check = check_against_cpu(w, sets[0].layout, kv.dtype, sets[0].view(workspace), sets[0].k_descale,
                                                sets[0].v_descale, [](void* dst, const void* src, size_t bytes) {
                                                  BENCH_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
                                                });
    row.check_max_rel_l2 = check.max_rel_l2;
    if (bad) {
      row.status = "mismatch";
      row.message = std::to_string(bad) + " output values are NaN/inf or were never written";
    } else if (!check.ok) {
      row.status = "mismatch";
      row.message = check.message;
    }
  }

  auto eager = [&](int rep) { kvattn::varlen_attention_forward(args[rep % num_sets]); };
  fill_timing(row, time_rotating(eager, opts, stream), report.ceilings);
  row.input_sets = num_sets;
  row.workspace_bytes = static_cast<long long>(ws_bytes);
  std::vector<Row> rows = {row};

  if (opts.graph) {
    std::vector<std::unique_ptr<CapturedGraph>> graphs;
    for (const kvattn::VarlenAttentionArgs& a : args)
      graphs.push_back(std::make_unique<CapturedGraph>([&] { kvattn::varlen_attention_forward(a); }, stream));
    Row graph_row = row;
    graph_row.impl = backend.impl + "+graph";
    auto replay = [&](int rep) { graphs[rep % num_sets]->launch(stream); };
    fill_timing(graph_row, time_rotating(replay, opts, stream), report.ceilings);
    rows.push_back(graph_row);
  }
  return rows;
}

Row error_row(const Workload& w, const KvDTypeChoice& kv, const BackendChoice& backend, const std::string& message) {
  Row row = row_for(w, kv, backend.impl);
  row.status = "error";
  row.message = message;
  return row;
}

}  // namespace

void run_gpu(const Options& opts, const std::vector<Workload>& workloads, Report& report) {
  BENCH_CUDA_CHECK(cudaSetDevice(kDevice));
  report.has_device = true;
  report.device = query_device(kDevice);
  report.gpu = report.device.name;
  std::cerr << "device: " << report.gpu << ", " << report.device.sm_count << " SMs, L2 "
            << report.device.l2_bytes / (1 << 20) << " MiB\n";
  Stream stream;
  set_sustain_seconds(opts.sustain_s);
  report.sustain_s = opts.sustain_s;
  if (opts.ceilings) report.ceilings = measure_ceilings(stream.s);

  const size_t total = workloads.size() * opts.kv_dtypes.size() * opts.backends.size();
  size_t index = 0;
  for (const Workload& w : workloads)
    for (const KvDTypeChoice& kv : opts.kv_dtypes)
      for (const BackendChoice& backend : opts.backends) {
        std::cerr << "[" << ++index << "/" << total << "] " << w.name << " " << kv.name << " ... " << std::flush;
        std::vector<Row> rows;
        try {
          rows = run_workload(opts, w, kv, backend, report, stream.s);
        } catch (const std::exception& e) {
          cudaStreamSynchronize(stream.s);
          cudaGetLastError();
          rows = {error_row(w, kv, backend, e.what())};
        }
        for (const Row& r : rows) {
          std::cerr << (&r == &rows.front() ? "" : "    ") << r.impl << " " << r.status;
          if (!std::isnan(r.ms)) std::cerr << " " << r.ms << " ms (" << r.reps << " reps)";
          if (!std::isnan(r.check_max_rel_l2) && &r == &rows.front())
            std::cerr << ", check rel L2 " << r.check_max_rel_l2;
          if (r.status != "ok") std::cerr << ": " << r.message;
          std::cerr << "\n";
          report.rows.push_back(r);
        }
      }
}

}  // namespace kvattn_bench
