#include "cpu_mode.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <iostream>

#include "call_args.h"
#include "host_data.h"
#include "kvattn/attention.h"
#include "row_for.h"
#include "seeds.h"
#include "stats.h"
#include "subset_check.h"

namespace kvattn_bench {

namespace {

constexpr double kTimeBudgetMs = 200;  // timed reps per (workload, dtype), after one warm-up call
constexpr int kMaxReps = 100;
constexpr uint16_t kBf16NaN = 0x7fc0;  // `out` starts as NaN so an unwritten row cannot pass

int64_t count_nonfinite_bf16(const std::vector<uint16_t>& values) {
  int64_t bad = 0;
  for (uint16_t v : values) bad += (v & 0x7f80) == 0x7f80;
  return bad;
}

double now_ms() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(clock::now().time_since_epoch()).count();
}

Row run_one(const Options& opts, const Workload& w, const KvDTypeChoice& kv) {
  Row row = row_for(w, kv, "kvattn-cpu");
  const BatchLayout l = make_layout(w, buffer_seed(w.name, kv.name, "layout"));
  const int kv_size = kvattn::dtype_size(kv.dtype);
  std::vector<uint16_t> q(q_elems(w, l)), out(q_elems(w, l), kBf16NaN);
  std::vector<uint8_t> k(kv_elems(w, l) * kv_size), v(kv_elems(w, l) * kv_size);
  const float kv_scale = is_fp8(kv.dtype) ? kFp8CodeScale : 1.0f;
  fill_normal_host(q.data(), kvattn::DType::kBFloat16, q_elems(w, l), buffer_seed(w.name, kv.name, "q"), 1.0f);
  fill_normal_host(k.data(), kv.dtype, kv_elems(w, l), buffer_seed(w.name, kv.name, "k"), kv_scale);
  fill_normal_host(v.data(), kv.dtype, kv_elems(w, l), buffer_seed(w.name, kv.name, "v"), kv_scale);
  std::vector<float> k_descale, v_descale;
  if (is_fp8(kv.dtype)) {
    k_descale = make_descales(l.batch, w.num_kv_heads, buffer_seed(w.name, kv.name, "k_descale"));
    v_descale = make_descales(l.batch, w.num_kv_heads, buffer_seed(w.name, kv.name, "v_descale"));
  }

  BatchBuffers buf;
  buf.q = q.data();
  buf.k = k.data();
  buf.v = v.data();
  buf.out = out.data();
  buf.cu_seqlens_q = l.cu_seqlens_q.data();
  buf.seqused_k = l.seqused_k.data();
  buf.block_table = l.block_table.data();
  buf.k_descale = k_descale.empty() ? nullptr : k_descale.data();
  buf.v_descale = v_descale.empty() ? nullptr : v_descale.data();
  const kvattn::VarlenAttentionArgs args = make_call_args(w, l, kv.dtype, buf, kvattn::Device{}, kvattn::Backend::kCpu);

  double t0 = now_ms();
  kvattn::varlen_attention_forward(args);  // warm-up; also the call whose output is checked
  const double first_ms = now_ms() - t0;
  if (opts.check) {
    // The batched call against single-sequence re-computations of a few windows
    // (a random block table vs an identity one, the batch vs one sequence).
    if (const int64_t bad = count_nonfinite_bf16(out)) {
      row.status = "mismatch";
      row.message = std::to_string(bad) + " output values are NaN/inf (or were never written)";
    } else {
      const CheckResult check =
          check_against_cpu(w, l, kv.dtype, buf, k_descale, v_descale,
                            [](void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); });
      row.check_max_rel_l2 = check.max_rel_l2;
      if (!check.ok) {
        row.status = "mismatch";
        row.message = check.message;
      }
    }
  }

  const int reps =
      opts.reps ? opts.reps : std::clamp(static_cast<int>(kTimeBudgetMs / std::max(first_ms, 1e-3)), 1, kMaxReps);
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    t0 = now_ms();
    kvattn::varlen_attention_forward(args);
    times.push_back(now_ms() - t0);
  }
  const TimeSummary s = summarize(times);
  row.ms = s.median_ms;
  row.min_ms = s.min_ms;
  row.max_ms = s.max_ms;
  row.reps = s.reps;
  row.tflops = row.flops / (row.ms * 1e9);
  row.tbps = row.bytes / (row.ms * 1e9);
  return row;
}

}  // namespace

void run_cpu(const Options& opts, const std::vector<Workload>& workloads, Report& report) {
  const size_t total = workloads.size() * opts.kv_dtypes.size();
  size_t index = 0;
  for (const Workload& full : workloads) {
    const Workload w = scaled(full, kCpuScale);
    for (const KvDTypeChoice& kv : opts.kv_dtypes) {
      ++index;
      std::cerr << "[" << index << "/" << total << "] " << w.name << " " << kv.name << " " << shape_string(w) << " ... "
                << std::flush;
      Row row;
      try {
        row = run_one(opts, w, kv);
      } catch (const std::exception& e) {
        row = row_for(w, kv, "kvattn-cpu");
        row.status = "error";
        row.message = e.what();
      }
      if (row.status == "ok")
        std::cerr << row.ms << " ms (" << row.reps << " reps)\n";
      else
        std::cerr << row.status << ": " << row.message << "\n";
      report.rows.push_back(row);
    }
  }
}

}  // namespace kvattn_bench
