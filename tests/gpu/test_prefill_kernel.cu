// Focused device test of the portable prefill kernel (launch_prefill_portable)
// against a float64 reference written here from docs/semantics.md, plus the
// FP8 widening functor over all 256 codes. Outputs are poisoned before each
// run and every element is checked, including rows that must stay untouched.
//
// In the project build this is a GoogleTest suite (skipped without a GPU).
// Built with -DKVATTN_PREFILL_STANDALONE it has its own main():
//   prefill_test [--bench] [--rounds N] [--quick] [--only NAME_SUBSTRING] [--list]
// and with -DKVATTN_PREFILL_SHAPE_BENCH it also checks and times other D=128 tile
// shapes; with -DKVATTN_PREFILL_BASELINE_BENCH it times a baseline kernel too.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/problem.h"
#include "cuda/common/fp8_widen.h"
#include "cuda/common/routing.h"
#include "cuda/prefill/prefill.h"
#ifdef KVATTN_PREFILL_SHAPE_BENCH
#include "cuda/prefill/prefill_launch.cuh"
#endif

namespace kvattn {
namespace prefill_test {

#define CUDA_OK(expr)                                                                              \
  do {                                                                                             \
    cudaError_t e_ = (expr);                                                                       \
    if (e_ != cudaSuccess) {                                                                       \
      std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", #expr, __FILE__, __LINE__,              \
                   cudaGetErrorString(e_));                                                        \
      std::exit(2);                                                                                \
    }                                                                                              \
  } while (0)

// ---------------- host element codecs ----------------
uint16_t to_bits16(float x, DType t) {
  if (t == DType::kBFloat16) {
    __nv_bfloat16 v = __float2bfloat16_rn(x);
    uint16_t b;
    std::memcpy(&b, &v, 2);
    return b;
  }
  __half v = __float2half_rn(x);
  uint16_t b;
  std::memcpy(&b, &v, 2);
  return b;
}
float from_bits16(uint16_t b, DType t) {
  if (t == DType::kBFloat16) {
    uint32_t u = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  __half h;
  std::memcpy(&h, &b, 2);
  return __half2float(h);
}
uint8_t to_fp8(float x, DType t) {
  return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, t == DType::kFloat8E4M3 ? __NV_E4M3 : __NV_E5M2);
}
// Exact decode written from S5 (independent of the CUDA headers' codec).
float fp8_decode(uint8_t c, DType t) {
  const int sign = c >> 7;
  float v;
  if (t == DType::kFloat8E4M3) {
    const int e = (c >> 3) & 15, m = c & 7;
    if (e == 15 && m == 7) return NAN;
    v = e == 0 ? std::ldexp(float(m), -9) : std::ldexp(1.0f + m / 8.0f, e - 7);
  } else {
    const int e = (c >> 2) & 31, m = c & 3;
    if (e == 31) return m == 0 ? (sign ? -INFINITY : INFINITY) : NAN;
    v = e == 0 ? std::ldexp(float(m), -16) : std::ldexp(1.0f + m / 4.0f, e - 15);
  }
  return sign ? -v : v;
}

// ---------------- FP8 widening over all 256 codes ----------------
template <class T, cuda::Fp8Format F>
__global__ void widen_all_codes(uint16_t* out) {
  const int i = threadIdx.x;  // 32 threads x 8 codes
  uint2 codes;
  uint8_t bytes[8];
  for (int k = 0; k < 8; ++k) bytes[k] = static_cast<uint8_t>(i * 8 + k);
  std::memcpy(&codes, bytes, 8);
  const uint4 w = cuda::widen_fp8x8<T, F>(codes);
  std::memcpy(out + i * 8, &w, 16);
}

template <class T, cuda::Fp8Format F>
int check_widen(DType out_t, DType fp8_t, const char* name) {
  uint16_t* d = nullptr;
  CUDA_OK(cudaMalloc(&d, 512));
  widen_all_codes<T, F><<<1, 32>>>(d);
  CUDA_OK(cudaGetLastError());
  uint16_t h[256];
  CUDA_OK(cudaMemcpy(h, d, 512, cudaMemcpyDeviceToHost));
  CUDA_OK(cudaFree(d));
  int bad = 0;
  for (int c = 0; c < 256; ++c) {
    const float want = fp8_decode(static_cast<uint8_t>(c), fp8_t), got = from_bits16(h[c], out_t);
    const bool ok = std::isnan(want) ? std::isnan(got) : got == want;
    // sm_80 software path: documented to map the e4m3 NaN code to +-480.
    const bool sw_nan = std::isnan(want) && std::fabs(got) == 480.0f;
    if (!ok && !sw_nan) {
      if (bad < 4) std::printf("  widen %s code 0x%02x: got %g want %g\n", name, c, got, want);
      ++bad;
    }
  }
  std::printf("[%s] widen %s: %d mismatches\n", bad ? "FAIL" : " ok ", name, bad);
  return bad;
}

int check_all_widen() {
  using cuda::Fp8Format;
  return check_widen<__half, Fp8Format::kE4M3>(DType::kFloat16, DType::kFloat8E4M3, "e4m3->f16") +
         check_widen<__half, Fp8Format::kE5M2>(DType::kFloat16, DType::kFloat8E5M2, "e5m2->f16") +
         check_widen<__nv_bfloat16, Fp8Format::kE4M3>(DType::kBFloat16, DType::kFloat8E4M3, "e4m3->bf16") +
         check_widen<__nv_bfloat16, Fp8Format::kE5M2>(DType::kBFloat16, DType::kFloat8E5M2, "e5m2->bf16");
}

// ---------------- attention cases ----------------
using Launcher = std::function<void(const AttentionProblem&)>;

#ifdef KVATTN_PREFILL_SHAPE_BENCH
template <class Shape, class QT, bool kFp8>
Launcher shape_launcher() {
  return [](const AttentionProblem& p) {
    cuda::PrefillGrid g;
    g.batch = p.batch;
    g.num_q_heads = p.num_q_heads;
    g.max_seqlen_q = p.max_seqlen_q;
    g.device = 0;
    cuda::launch_prefill_shape<Shape, QT, kFp8>(cuda::make_prefill_params(p, false), g, nullptr);
  };
}
#endif

#ifdef KVATTN_PREFILL_SHAPE_BENCH
// D=128 tile shapes besides the default (8w x2 BN64, widen after QK^T) that the benchmark
// checks and times, bf16 q.
struct ShapeVariant {
  std::string name;
  Launcher bf16, fp8;  // 16-bit KV (empty: FP8-only variant), FP8 KV
};
std::vector<ShapeVariant> bench_shapes() {
  using cuda::PrefillShape;
  using BF = __nv_bfloat16;
  return {
      {"8w x1 BN64 2cta", shape_launcher<PrefillShape<128, 8, 1, 64, 2>, BF, false>(),
       shape_launcher<PrefillShape<128, 8, 1, 64, 2>, BF, true>()},
      {"8w x2 BN64 widen-before", {}, shape_launcher<PrefillShape<128, 8, 2, 64, 1, cuda::kWidenBefore>, BF, true>()},
      {"8w x2 BN64 widen-own-phase", {},
       shape_launcher<PrefillShape<128, 8, 2, 64, 1, cuda::kWidenOwnPhase>, BF, true>()},
      {"4w x2 BN64 2cta", {}, shape_launcher<PrefillShape<128, 4, 2, 64, 2>, BF, true>()},
  };
}
#endif

#ifdef KVATTN_PREFILL_BASELINE_BENCH
// The kernel as committed before this round of tuning (built from the old sources
// into its own namespace by tools/dev/prefill_build.sh), for A/B timings.
void launch_baseline_prefill(const AttentionProblem& p);
#endif

struct Case {
  std::string name;
  int head_dim = 128;
  DType q_dtype = DType::kBFloat16;
  DType kv_dtype = DType::kBFloat16;
  int hq = 4, hkv = 2;
  std::vector<int> q_lens, kv_lens;
  bool paged = true;
  int page_size = 16;
  bool causal = false;
  int window_left = -1, window_right = -1;
  float softmax_scale = 0.0f;  // 0 = 1/sqrt(D)
  float softcap = 0.0f;
  bool sinks = false;
  DType sinks_dtype = DType::kFloat32;
  bool lse = true;
  int descales = 0;  // 0 none, 1 per (b, kv head), 2 per tensor (stride 0)
  bool skip_short = false;
  bool unaligned = false;    // odd token strides: the byte-copy path
  int64_t seqlen_hint = 0;   // extra added to max_seqlen_q
  int pad_rows = 3;          // q/out rows past cu_seqlens_q[B] that must stay untouched
  int q_exp_lo = 0, q_exp_hi = -1;  // if lo <= hi: q token row t scaled by 2^(lo + t*13 mod (hi-lo+1)), every
                                    // 7th row zero (the bf16 -> scaled fp16 rewrite of Q for FP8 KV)
  float kv_scale = 1.0f;     // K/V drawn times this before quantizing; descales take 1 / kv_scale
  Launcher launch;           // empty: launch_prefill_portable (with skip_short)
};

using kvattn::is_fp8;

template <class T>
T* to_device(const std::vector<T>& h) {
  T* d = nullptr;
  CUDA_OK(cudaMalloc(&d, std::max<size_t>(h.size() * sizeof(T), 16)));
  if (!h.empty()) CUDA_OK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

struct HostData {
  // Element arrays as stored (16-bit bits or fp8 codes) and their float values.
  std::vector<uint16_t> q16, out_init;
  std::vector<uint8_t> k_raw, v_raw;  // bytes of the cache (any element size)
  std::vector<float> kf, vf;          // decoded values, same element indexing as the cache
  std::vector<int32_t> cu_q, cu_k, used_k, table;
  std::vector<float> qd, kd, vd, sinks_f;
  std::vector<uint16_t> sinks16;
  int64_t total_q = 0, q_rows = 0, q_stride_t = 0, out_stride_t = 0;
  int64_t k_stride_b = 0, k_stride_t = 0, v_stride_b = 0, v_stride_t = 0, kv_elems_k = 0, kv_elems_v = 0;
  int64_t num_blocks = 0, max_blocks = 0, table_stride = 0;
};

// Offset (elements) of K/V element (b, pos, kv head, 0).
int64_t kv_index(const Case& c, const HostData& H, int b, int pos, int hk, bool is_v) {
  const int64_t st = is_v ? H.v_stride_t : H.k_stride_t, sb = is_v ? H.v_stride_b : H.k_stride_b;
  if (!c.paged) return (H.cu_k[b] + int64_t{pos}) * st + int64_t{hk} * c.head_dim;
  const int32_t blk = H.table[b * H.table_stride + pos / c.page_size];
  return blk * sb + int64_t{pos % c.page_size} * st + int64_t{hk} * c.head_dim;
}

HostData make_data(const Case& c, std::mt19937& rng) {
  HostData H;
  const int B = static_cast<int>(c.q_lens.size()), D = c.head_dim;
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> ud(0.5f, 2.0f);
  H.cu_q.assign(B + 1, 0);
  H.cu_k.assign(B + 1, 0);
  for (int b = 0; b < B; ++b) {
    H.cu_q[b + 1] = H.cu_q[b] + c.q_lens[b];
    H.cu_k[b + 1] = H.cu_k[b] + c.kv_lens[b];
  }
  H.used_k = c.kv_lens;
  H.total_q = H.cu_q[B];
  H.q_rows = H.total_q + c.pad_rows;
  H.q_stride_t = int64_t{c.hq} * D + (c.unaligned ? 1 : 0);
  H.out_stride_t = int64_t{c.hq} * D + (c.unaligned ? 5 : 0);
  H.q16.resize(H.q_rows * H.q_stride_t);
  for (int64_t i = 0; i < static_cast<int64_t>(H.q16.size()); ++i) {
    float x = nd(rng);
    if (c.q_exp_lo <= c.q_exp_hi) {
      const int64_t t = i / H.q_stride_t;
      x = t % 7 == 3 ? 0.0f : std::ldexp(x, c.q_exp_lo + static_cast<int>((t * 13) % (c.q_exp_hi - c.q_exp_lo + 1)));
    }
    H.q16[i] = to_bits16(x, c.q_dtype);
  }

  const int kv_bytes = is_fp8(c.kv_dtype) ? 1 : 2;
  H.k_stride_t = int64_t{c.hkv} * D + (c.unaligned ? 3 : 0);
  H.v_stride_t = int64_t{c.hkv} * D + (c.unaligned ? 1 : 0) + 16;  // V: its own (padded) strides
  if (c.paged) {
    for (int b = 0; b < B; ++b) H.max_blocks = std::max<int64_t>(H.max_blocks, (c.kv_lens[b] + c.page_size - 1) / c.page_size);
    H.max_blocks = std::max<int64_t>(H.max_blocks, 1);
    H.table_stride = H.max_blocks + 2;
    H.num_blocks = std::max<int64_t>(4, B * H.max_blocks / 2 + 3);  // fewer blocks than slots: repeats
    H.k_stride_b = c.page_size * H.k_stride_t + 7 * (c.unaligned ? 1 : 0);
    H.v_stride_b = c.page_size * H.v_stride_t + 32;
    H.kv_elems_k = H.num_blocks * H.k_stride_b;
    H.kv_elems_v = H.num_blocks * H.v_stride_b;
    std::uniform_int_distribution<int> bd(0, static_cast<int>(H.num_blocks) - 1);
    H.table.assign(B * H.table_stride, -7);  // unused slots hold garbage
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < H.max_blocks; ++i) H.table[b * H.table_stride + i] = bd(rng);  // out of order, repeated
  } else {
    H.kv_elems_k = int64_t{H.cu_k[B]} * H.k_stride_t + 16;
    H.kv_elems_v = int64_t{H.cu_k[B]} * H.v_stride_t + 16;
  }
  auto fill = [&](std::vector<uint8_t>& raw, std::vector<float>& f, int64_t n) {
    raw.resize(n * kv_bytes);
    f.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      const float x = nd(rng) * c.kv_scale;
      if (kv_bytes == 1) {
        raw[i] = to_fp8(x, c.kv_dtype);
        f[i] = fp8_decode(raw[i], c.kv_dtype);
      } else {
        const uint16_t bits = to_bits16(x, c.kv_dtype);
        std::memcpy(&raw[2 * i], &bits, 2);
        f[i] = from_bits16(bits, c.kv_dtype);
      }
    }
  };
  fill(H.k_raw, H.kf, H.kv_elems_k);
  fill(H.v_raw, H.vf, H.kv_elems_v);

  if (c.descales) {
    const int n = c.descales == 1 ? B * c.hkv : 1;
    for (auto* v : {&H.qd, &H.kd, &H.vd}) {
      v->resize(n);
      for (auto& x : *v) x = ud(rng) / (v == &H.qd ? 1.0f : c.kv_scale);
    }
  }
  if (c.sinks) {
    std::uniform_real_distribution<float> sd(-2.0f, 3.0f);
    H.sinks_f.resize(c.hq);
    for (auto& x : H.sinks_f) {
      x = sd(rng);
      if (c.sinks_dtype != DType::kFloat32) x = from_bits16(to_bits16(x, c.sinks_dtype), c.sinks_dtype);
    }
    for (float x : H.sinks_f) H.sinks16.push_back(to_bits16(x, c.sinks_dtype));
  }
  return H;
}

// Runs fn(0..n-1) on all host cores.
void parallel_for(int64_t n, const std::function<void(int64_t)>& fn) {
  const int workers = std::max(1u, std::thread::hardware_concurrency());
  std::atomic<int64_t> next{0};
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w)
    pool.emplace_back([&] {
      for (int64_t i; (i = next.fetch_add(1)) < n;) fn(i);
    });
  for (auto& t : pool) t.join();
}

struct Reference {
  std::vector<double> out;  // [total_q, hq, D]
  std::vector<double> lse;  // [hq, total_q]
};

Reference reference(const Case& c, const HostData& H) {
  const int B = static_cast<int>(c.q_lens.size()), D = c.head_dim, g = c.hq / c.hkv;
  const double scale0 = c.softmax_scale != 0.0f ? c.softmax_scale : 1.0 / std::sqrt(double(D));
  const int left = c.window_left, right = c.causal ? 0 : c.window_right;
  Reference R;
  R.out.assign(H.total_q * c.hq * D, 0.0);
  R.lse.assign(int64_t{c.hq} * H.total_q, -INFINITY);
  for (int b = 0; b < B; ++b) {
    const int ql = c.q_lens[b], kl = c.kv_lens[b];
    const int64_t off = int64_t{kl} - ql;
    parallel_for(int64_t{c.hq} * ql, [&](int64_t task) {
        const int h = static_cast<int>(task / ql), i = static_cast<int>(task % ql);
        const int hk = h / g;
        auto desc = [&](const std::vector<float>& v) {
          return v.empty() ? 1.0 : double(v[v.size() == 1 ? 0 : b * c.hkv + hk]);
        };
        const double scale = scale0 * desc(H.qd) * desc(H.kd);
        const int64_t t = H.cu_q[b] + int64_t{i};
        std::vector<double> s(kl), q(D);
        for (int d = 0; d < D; ++d) q[d] = from_bits16(H.q16[t * H.q_stride_t + int64_t{h} * D + d], c.q_dtype);
        double m = -INFINITY;
        std::vector<char> vis(kl, 0);
        for (int j = 0; j < kl; ++j) {
          if (left >= 0 && j < i + off - left) continue;
          if (right >= 0 && j > i + off + right) continue;
          vis[j] = 1;
          const int64_t base = kv_index(c, H, b, j, hk, false);
          double dot = 0.0;
          for (int d = 0; d < D; ++d) dot += q[d] * H.kf[base + d];
          double x = dot * scale;
          if (c.softcap > 0.0f) x = c.softcap * std::tanh(x / c.softcap);
          s[j] = x;
          m = std::max(m, x);
        }
        if (m == -INFINITY) return;  // S4: zeros, lse -inf
        const double sink = c.sinks ? double(H.sinks_f[h]) : -INFINITY;
        const double mm = std::max(m, sink);
        double den = c.sinks ? std::exp(sink - mm) : 0.0;
        std::vector<double> acc(D, 0.0);
        for (int j = 0; j < kl; ++j) {
          if (!vis[j]) continue;
          const double pj = std::exp(s[j] - mm);
          den += pj;
          const int64_t base = kv_index(c, H, b, j, hk, true);
          for (int d = 0; d < D; ++d) acc[d] += pj * H.vf[base + d];
        }
        const double vdesc = desc(H.vd);
        for (int d = 0; d < D; ++d) R.out[(t * c.hq + h) * D + d] = acc[d] / den * vdesc;
        R.lse[int64_t{h} * H.total_q + t] = mm + std::log(den);
      });
  }
  return R;
}

struct DeviceRun {
  std::vector<uint16_t> out;
  std::vector<float> lse;
};

constexpr uint16_t kPoison16 = 0xFFFF;  // NaN in bf16 and fp16
constexpr float kPoisonLse = -12345.0f;

// Builds the problem the way validation would and runs launch_prefill_portable.
DeviceRun run_device(const Case& c, const HostData& H) {
  const int B = static_cast<int>(c.q_lens.size()), D = c.head_dim;
  void* q = to_device(H.q16);
  std::vector<uint16_t> out_h(H.q_rows * H.out_stride_t, kPoison16);
  void* out = to_device(out_h);
  std::vector<float> lse_h(int64_t{c.hq} * H.q_rows, kPoisonLse);
  float* lse = to_device(lse_h);
  void* k = to_device(H.k_raw);
  void* v = to_device(H.v_raw);
  int32_t* cu_q = to_device(H.cu_q);
  int32_t* cu_k = to_device(H.cu_k);
  int32_t* used = to_device(H.used_k);
  int32_t* table = c.paged ? to_device(H.table) : nullptr;
  float* qd = H.qd.empty() ? nullptr : to_device(H.qd);
  float* kd = H.kd.empty() ? nullptr : to_device(H.kd);
  float* vd = H.vd.empty() ? nullptr : to_device(H.vd);
  void* sinks = nullptr;
  if (c.sinks) sinks = c.sinks_dtype == DType::kFloat32 ? static_cast<void*>(to_device(H.sinks_f)) : to_device(H.sinks16);

  AttentionProblem p;
  p.batch = B;
  p.total_q = H.q_rows;
  p.num_q_heads = c.hq;
  p.num_kv_heads = c.hkv;
  p.head_dim = D;
  p.max_seqlen_q = *std::max_element(c.q_lens.begin(), c.q_lens.end()) + c.seqlen_hint;
  p.max_seqlen_k = *std::max_element(c.kv_lens.begin(), c.kv_lens.end());
  p.q_dtype = c.q_dtype;
  p.kv_dtype = c.kv_dtype;
  p.q = q;
  p.q_stride_token = H.q_stride_t;
  p.q_stride_head = D;
  p.paged = c.paged;
  p.k = k;
  p.v = v;
  p.k_stride_block = H.k_stride_b;
  p.k_stride_token = H.k_stride_t;
  p.k_stride_head = D;
  p.v_stride_block = H.v_stride_b;
  p.v_stride_token = H.v_stride_t;
  p.v_stride_head = D;
  p.num_blocks = H.num_blocks;
  p.page_size = c.paged ? c.page_size : 0;
  p.block_table = table;
  p.block_table_stride = H.table_stride;
  p.max_blocks_per_seq = H.max_blocks;
  p.cu_seqlens_q = cu_q;
  p.cu_seqlens_k = c.paged ? nullptr : cu_k;
  p.seqused_k = c.paged ? used : nullptr;
  const int64_t ds_b = c.descales == 1 ? c.hkv : 0, ds_h = c.descales == 1 ? 1 : 0;
  p.q_descale = {qd, ds_b, ds_h};
  p.k_descale = {kd, ds_b, ds_h};
  p.v_descale = {vd, ds_b, ds_h};
  p.softmax_scale = c.softmax_scale != 0.0f ? c.softmax_scale : 1.0f / std::sqrt(float(D));
  p.softcap = c.softcap;
  p.window_left = c.window_left;
  p.window_right = c.causal ? 0 : c.window_right;
  p.causal = c.causal;
  p.sinks = sinks;
  p.sinks_dtype = c.sinks_dtype;
  p.sinks_stride = 1;
  p.out = out;
  p.out_stride_token = H.out_stride_t;
  p.out_stride_head = D;
  p.lse = c.lse ? lse : nullptr;
  p.lse_stride_head = H.q_rows;
  p.lse_stride_token = 1;
  p.backend = Backend::kCudaPortable;
  p.device = Device{DeviceType::kCUDA, 0};

  if (c.launch)
    c.launch(p);
  else
    cuda::launch_prefill_portable(p, nullptr, c.skip_short);
  CUDA_OK(cudaDeviceSynchronize());
  DeviceRun r;
  r.out.resize(out_h.size());
  r.lse.resize(lse_h.size());
  CUDA_OK(cudaMemcpy(r.out.data(), out, r.out.size() * 2, cudaMemcpyDeviceToHost));
  CUDA_OK(cudaMemcpy(r.lse.data(), lse, r.lse.size() * 4, cudaMemcpyDeviceToHost));
  for (void* ptr : {q, out, static_cast<void*>(lse), k, v, static_cast<void*>(cu_q), static_cast<void*>(cu_k),
                    static_cast<void*>(used), static_cast<void*>(table), static_cast<void*>(qd),
                    static_cast<void*>(kd), static_cast<void*>(vd), sinks})
    if (ptr) CUDA_OK(cudaFree(ptr));
  return r;
}

// Returns the number of bad elements (printing the first few).
int64_t check_case(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const HostData H = make_data(c, rng);
  const Reference R = reference(c, H);
  const DeviceRun got = run_device(c, H);
  const int B = static_cast<int>(c.q_lens.size()), D = c.head_dim;
  const bool fp16_out = c.q_dtype == DType::kFloat16;
  // Output rounding (2^-9 / 2^-12) plus P rounded to 16 bits in the PV product.
  const double atol = fp16_out ? 4e-3 : 1.6e-2, rtol = fp16_out ? 4e-3 : 1.6e-2;
  int64_t bad = 0, checked = 0;
  double max_err = 0.0, max_lse_err = 0.0;
  auto report = [&](const char* what, int64_t t, int h, int d, double g, double w) {
    if (bad < 5)
      std::printf("    %s mismatch at token %lld head %d dim %d: got %.6g want %.6g\n", what, (long long)t, h, d, g, w);
    ++bad;
  };
  std::vector<int> seq_of(H.q_rows, -1);
  for (int b = 0; b < B; ++b)
    for (int t = H.cu_q[b]; t < H.cu_q[b + 1]; ++t) seq_of[t] = b;
  for (int64_t t = 0; t < H.q_rows; ++t) {
    const int b = seq_of[t];
    const bool untouched = b < 0 || (c.skip_short && cuda::is_short_query(c.q_lens[b]));
    for (int h = 0; h < c.hq; ++h) {
      for (int d = 0; d < D; ++d) {
        const uint16_t bits = got.out[t * H.out_stride_t + int64_t{h} * D + d];
        if (untouched) {
          if (bits != kPoison16) report("untouched-out", t, h, d, from_bits16(bits, c.q_dtype), NAN);
          continue;
        }
        const double g = from_bits16(bits, c.q_dtype), w = R.out[(t * c.hq + h) * D + d];
        const double err = std::fabs(g - w);
        ++checked;
        if (!(err <= atol + rtol * std::fabs(w))) report("out", t, h, d, g, w);
        if (err > max_err) max_err = err;
      }
      const float gl = got.lse[int64_t{h} * H.q_rows + t];
      if (!c.lse || untouched) {
        if (gl != kPoisonLse) report("untouched-lse", t, h, -1, gl, kPoisonLse);
        continue;
      }
      const double wl = R.lse[int64_t{h} * H.total_q + t];
      if (std::isinf(wl)) {
        if (!(std::isinf(gl) && gl < 0)) report("lse(-inf)", t, h, -1, gl, wl);
      } else {
        const double e = std::fabs(gl - wl);
        if (!(e <= 2e-3 + 1e-5 * std::fabs(wl))) report("lse", t, h, -1, gl, wl);
        max_lse_err = std::max(max_lse_err, e);
      }
    }
  }
  std::printf("[%s] %-40s checked %lld, bad %lld, max |err| %.3g, max lse err %.3g\n", bad ? "FAIL" : " ok ",
              c.name.c_str(), (long long)checked, (long long)bad, max_err, max_lse_err);
  return bad;
}

std::vector<Case> correctness_cases(bool quick) {
  std::vector<Case> v;
  auto add = [&](Case c) { v.push_back(std::move(c)); };
  Case c;
  c = Case{};
  c.name = "contig bf16 causal D128";
  c.paged = false, c.causal = true, c.q_lens = {70, 200, 129}, c.kv_lens = {70, 200, 129};
  add(c);
  c = Case{};
  c.name = "page16 e4m3 causal D128 gqa4 chunked";
  c.kv_dtype = DType::kFloat8E4M3, c.hq = 8, c.hkv = 2, c.causal = true, c.descales = 1;
  c.q_lens = {300, 17}, c.kv_lens = {300, 500};
  add(c);
  c = Case{};
  c.name = "page1 e5m2 D64 fp16 non-causal";
  c.head_dim = 64, c.q_dtype = DType::kFloat16, c.kv_dtype = DType::kFloat8E5M2, c.page_size = 1;
  c.hq = 2, c.hkv = 1, c.q_lens = {50, 33}, c.kv_lens = {77, 200};
  add(c);
  c = Case{};
  c.name = "page32 e4m3 D256 chunked causal";
  c.head_dim = 256, c.kv_dtype = DType::kFloat8E4M3, c.page_size = 32, c.hq = 2, c.hkv = 1, c.causal = true;
  c.q_lens = {100, 40}, c.kv_lens = {300, 1000}, c.descales = 2;
  add(c);
  c = Case{};
  c.name = "contig bf16 D96 causal+left50";
  c.head_dim = 96, c.paged = false, c.hq = 3, c.hkv = 1, c.causal = true, c.window_left = 50;
  c.q_lens = {257}, c.kv_lens = {257};
  add(c);
  c = Case{};
  c.name = "page16 bf16 D64 window(30,10)";
  c.head_dim = 64, c.window_left = 30, c.window_right = 10, c.q_lens = {200}, c.kv_lens = {260};
  add(c);
  c = Case{};
  c.name = "page16 e4m3 D192 fp16 softcap+sinks";
  c.head_dim = 192, c.q_dtype = DType::kFloat16, c.kv_dtype = DType::kFloat8E4M3, c.hq = 4, c.hkv = 4;
  c.causal = true, c.softcap = 30.0f, c.sinks = true, c.softmax_scale = 0.3f, c.q_lens = {150}, c.kv_lens = {150};
  add(c);
  c = Case{};
  c.name = "page16 e4m3 D128 gqa71";
  c.kv_dtype = DType::kFloat8E4M3, c.hq = 71, c.hkv = 1, c.causal = true, c.q_lens = {40}, c.kv_lens = {90};
  add(c);
  c = Case{};
  c.name = "page16 e4m3 D128 empty rows + bf16 sinks";
  c.kv_dtype = DType::kFloat8E4M3, c.causal = true, c.sinks = true, c.sinks_dtype = DType::kBFloat16;
  c.q_lens = {0, 50, 30, 20}, c.kv_lens = {40, 0, 10, 30};
  add(c);
  c = Case{};
  c.name = "page16 bf16 D128 skip short queries";
  c.skip_short = true, c.q_lens = {5, 40, 16, 17}, c.kv_lens = {100, 80, 16, 200}, c.causal = true;
  add(c);
  c = Case{};
  c.name = "unaligned strides e4m3 D64";
  c.head_dim = 64, c.kv_dtype = DType::kFloat8E4M3, c.unaligned = true, c.causal = true;
  c.q_lens = {90, 33}, c.kv_lens = {120, 33};
  add(c);
  c = Case{};
  c.name = "unaligned strides bf16 D128 contig";
  c.paged = false, c.unaligned = true, c.q_lens = {80}, c.kv_lens = {150};
  add(c);
  c = Case{};
  c.name = "negative scale D64 e5m2 bf16";
  c.head_dim = 64, c.kv_dtype = DType::kFloat8E5M2, c.softmax_scale = -0.07f, c.q_lens = {60}, c.kv_lens = {100};
  add(c);
  c = Case{};
  c.name = "contig fp16 D256 non-causal q>kv";
  c.head_dim = 256, c.q_dtype = DType::kFloat16, c.kv_dtype = DType::kFloat16, c.paged = false;
  c.q_lens = {130}, c.kv_lens = {70};
  add(c);
  c = Case{};
  c.name = "page64 e5m2 bf16 D128 hint 4096";
  c.kv_dtype = DType::kFloat8E5M2, c.page_size = 64, c.causal = true, c.seqlen_hint = 4096;
  c.q_lens = {100, 260}, c.kv_lens = {164, 260};
  add(c);
  c = Case{};
  c.name = "page256 bf16 D192 causal";
  c.head_dim = 192, c.page_size = 256, c.causal = true, c.hq = 2, c.hkv = 1, c.q_lens = {300}, c.kv_lens = {300};
  add(c);
  c = Case{};
  c.name = "page7 fp16 D96 e4m3 causal";
  c.head_dim = 96, c.q_dtype = DType::kFloat16, c.kv_dtype = DType::kFloat8E4M3, c.page_size = 7;
  c.causal = true, c.q_lens = {77, 150}, c.kv_lens = {200, 150};
  add(c);
  // bf16 q with FP8 KV multiplies in fp16: q rows rescaled by powers of two.
  c = Case{};
  c.name = "page16 e4m3 bf16 D128 q rows 2^-30..2^3";
  c.kv_dtype = DType::kFloat8E4M3, c.causal = true, c.q_exp_lo = -30, c.q_exp_hi = 3, c.descales = 1;
  c.q_lens = {150, 70}, c.kv_lens = {150, 300};
  add(c);
  c = Case{};
  c.name = "page16 e5m2 bf16 D192 q rows 2^14..2^24 softcap";  // past fp16's range
  c.head_dim = 192, c.kv_dtype = DType::kFloat8E5M2, c.causal = true, c.q_exp_lo = 14, c.q_exp_hi = 24;
  c.softmax_scale = 1.0f / (16777216.0f * 14.0f);
  c.softcap = 20.0f, c.sinks = true, c.q_lens = {90}, c.kv_lens = {130};
  add(c);
  c = Case{};
  c.name = "page16 e4m3 bf16 D64 q rows 2^-20..2^2 neg scale";
  c.head_dim = 64, c.kv_dtype = DType::kFloat8E4M3, c.q_exp_lo = -20, c.q_exp_hi = 2, c.softmax_scale = -0.1f;
  c.q_lens = {64}, c.kv_lens = {100};
  add(c);
  c = Case{};
  c.name = "page1 e4m3 bf16 D96 window subnormal KV";  // K/V codes mostly e4m3 subnormals
  c.head_dim = 96, c.kv_dtype = DType::kFloat8E4M3, c.page_size = 1, c.window_left = 40, c.causal = true;
  c.kv_scale = 1.0f / 256, c.descales = 2, c.q_lens = {120}, c.kv_lens = {180};
  add(c);
  c = Case{};
  c.name = "page16 e5m2 bf16 D128 tiny KV";
  c.kv_dtype = DType::kFloat8E5M2, c.causal = true, c.kv_scale = 1.0f / 32768, c.descales = 1;  // fp16 subnormals
  c.q_lens = {70}, c.kv_lens = {200};
  add(c);
#ifdef KVATTN_PREFILL_SHAPE_BENCH
  {  // the other D=128 tile shapes the benchmark times (the default is 8w x1 BN64)
    using cuda::PrefillShape;
    for (const auto& sh : bench_shapes()) {
      c = Case{};
      c.name = "shape " + sh.name + " e4m3 window+sinks";
      c.kv_dtype = DType::kFloat8E4M3, c.hq = 4, c.hkv = 1, c.causal = true, c.window_left = 300, c.sinks = true;
      c.q_lens = {333, 20}, c.kv_lens = {600, 20}, c.launch = sh.fp8;
      add(c);
      c.name = "shape " + sh.name + " e5m2 q rows 2^-30..2^3";
      c.kv_dtype = DType::kFloat8E5M2, c.window_left = -1, c.sinks = false, c.q_exp_lo = -30, c.q_exp_hi = 3;
      c.q_lens = {300}, c.kv_lens = {400};
      add(c);
      if (!sh.bf16) continue;
      c = Case{};
      c.name = "shape " + sh.name + " bf16 KV";
      c.q_lens = {200, 300}, c.kv_lens = {260, 300}, c.causal = true, c.launch = sh.bf16;
      add(c);
    }
  }
#endif
  if (!quick) {
    c = Case{};
    c.name = "long page16 e4m3 D128 causal";
    c.kv_dtype = DType::kFloat8E4M3, c.causal = true, c.hq = 2, c.hkv = 1, c.q_lens = {1000}, c.kv_lens = {1500};
    add(c);
    c = Case{};
    c.name = "long contig bf16 D256 window(100,-1)";
    c.head_dim = 256, c.paged = false, c.window_left = 100, c.hq = 2, c.hkv = 1, c.q_lens = {700}, c.kv_lens = {900};
    add(c);
  }
  return v;
}

// only: run the cases whose name contains it (all when empty).
int64_t run_correctness(bool quick, const std::string& only = "") {
  int64_t bad = only.empty() ? check_all_widen() : 0;
  uint32_t seed = 1234;
  for (const Case& c : correctness_cases(quick)) {
    if (only.empty() || c.name.find(only) != std::string::npos) bad += check_case(c, seed);
    ++seed;
  }
  return bad;
}

// ---------------- timing ----------------
// Hq 32, Hkv 8, D 128 (one D 256 workload), page 16 (scattered pages), causal, random data. Each variant
// is timed in several interleaved rounds after a warm-up, so that clock ramps and
// drift hit every variant alike; the table reports the median and best round.
struct BenchWorkload {
  std::string name;
  int batch, q_len, cached;  // kv_len = cached + q_len
  int head_dim = 128;
};

struct BenchVariant {
  std::string name;
  const BenchWorkload* workload;
  DType q_dtype, kv_dtype;
  Launcher launch;  // empty: launch_prefill_portable
  std::vector<double> ms;
};

double flops_of(int batch, int q_len, int kv_len, int hq, int d) {
  double pairs = 0;
  for (int i = 0; i < q_len; ++i) pairs += std::min<double>(kv_len, i + (kv_len - q_len) + 1);  // causal
  return 4.0 * d * hq * pairs * batch;
}

// Fills n elements of type t with hash-random values in [-2, 2] (FP8: quantized).
__global__ void fill_random(void* dst, int64_t n, DType t, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    const float x = (h & 0xffffff) * (4.0f / 16777216.0f) - 2.0f;
    if (t == DType::kBFloat16)
      static_cast<__nv_bfloat16*>(dst)[i] = __float2bfloat16_rn(x);
    else if (t == DType::kFloat16)
      static_cast<__half*>(dst)[i] = __float2half_rn(x);
    else
      static_cast<uint8_t*>(dst)[i] =
          __nv_cvt_float_to_fp8(x, __NV_SATFINITE, t == DType::kFloat8E4M3 ? __NV_E4M3 : __NV_E5M2);
  }
}

// Device buffers and the problem of one (workload, q dtype, KV dtype).
struct BenchProblem {
  AttentionProblem p;
  std::vector<void*> buffers;
  double flops = 0;
};

BenchProblem make_bench_problem(const BenchWorkload& w, DType q_dtype, DType kv_dtype) {
  const int hq = 32, hkv = 8, D = w.head_dim, page = 16;
  const int B = w.batch, kv_len = w.cached + w.q_len;
  const int64_t total_q = int64_t{B} * w.q_len;
  const int kvb = is_fp8(kv_dtype) ? 1 : 2;
  const int64_t blocks_per_seq = (kv_len + page - 1) / page, num_blocks = B * blocks_per_seq;
  BenchProblem bp;
  auto alloc = [&](int64_t bytes) {
    void* d = nullptr;
    CUDA_OK(cudaMalloc(&d, bytes));
    bp.buffers.push_back(d);
    return d;
  };
  void* q = alloc(total_q * hq * D * 2);
  void* out = alloc(total_q * hq * D * 2);
  float* lse = static_cast<float*>(alloc(total_q * hq * 4));
  void* k = alloc(num_blocks * page * hkv * D * kvb);
  void* v = alloc(num_blocks * page * hkv * D * kvb);
  fill_random<<<1024, 256>>>(q, total_q * hq * D, q_dtype, 1u);
  fill_random<<<1024, 256>>>(k, num_blocks * page * hkv * D, kv_dtype, 2u);
  fill_random<<<1024, 256>>>(v, num_blocks * page * hkv * D, kv_dtype, 3u);
  CUDA_OK(cudaGetLastError());
  std::vector<int32_t> cu_q(B + 1), used(B, kv_len), table(B * blocks_per_seq);
  for (int b = 0; b <= B; ++b) cu_q[b] = b * w.q_len;
  std::mt19937 rng(7);
  std::vector<int32_t> perm(num_blocks);
  for (int64_t i = 0; i < num_blocks; ++i) perm[i] = static_cast<int32_t>(i);
  std::shuffle(perm.begin(), perm.end(), rng);  // scattered pages, like a real cache
  for (int64_t i = 0; i < num_blocks; ++i) table[i] = perm[i];
  int32_t* d_cu_q = to_device(cu_q);
  int32_t* d_used = to_device(used);
  int32_t* d_table = to_device(table);
  for (void* d : {static_cast<void*>(d_cu_q), static_cast<void*>(d_used), static_cast<void*>(d_table)})
    bp.buffers.push_back(d);

  AttentionProblem& p = bp.p;
  p.batch = B;
  p.total_q = total_q;
  p.num_q_heads = hq;
  p.num_kv_heads = hkv;
  p.head_dim = D;
  p.max_seqlen_q = w.q_len;
  p.max_seqlen_k = kv_len;
  p.q_dtype = q_dtype;
  p.kv_dtype = kv_dtype;
  p.q = q;
  p.q_stride_token = int64_t{hq} * D;
  p.q_stride_head = D;
  p.paged = true;
  p.k = k;
  p.v = v;
  p.k_stride_block = int64_t{page} * hkv * D;
  p.k_stride_token = int64_t{hkv} * D;
  p.k_stride_head = D;
  p.v_stride_block = p.k_stride_block;
  p.v_stride_token = p.k_stride_token;
  p.v_stride_head = D;
  p.num_blocks = num_blocks;
  p.page_size = page;
  p.block_table = d_table;
  p.block_table_stride = blocks_per_seq;
  p.max_blocks_per_seq = blocks_per_seq;
  p.cu_seqlens_q = d_cu_q;
  p.seqused_k = d_used;
  p.softmax_scale = 1.0f / std::sqrt(float(D));
  p.window_right = 0;
  p.causal = true;
  p.out = out;
  p.out_stride_token = int64_t{hq} * D;
  p.out_stride_head = D;
  p.lse = lse;
  p.lse_stride_head = total_q;
  p.lse_stride_token = 1;
  p.device = Device{DeviceType::kCUDA, 0};
  bp.flops = flops_of(B, w.q_len, kv_len, hq, D);
  return bp;
}

void launch_variant(const BenchVariant& v, const AttentionProblem& p) {
  if (v.launch)
    v.launch(p);
  else
    cuda::launch_prefill_portable(p, nullptr, false);
}

// Mean time of `iters` back-to-back launches, in ms.
double time_launches(const BenchVariant& v, const AttentionProblem& p, int iters) {
  cudaEvent_t e0, e1;
  CUDA_OK(cudaEventCreate(&e0));
  CUDA_OK(cudaEventCreate(&e1));
  CUDA_OK(cudaEventRecord(e0));
  for (int i = 0; i < iters; ++i) launch_variant(v, p);
  CUDA_OK(cudaEventRecord(e1));
  CUDA_OK(cudaEventSynchronize(e1));
  float ms = 0;
  CUDA_OK(cudaEventElapsedTime(&ms, e0, e1));
  CUDA_OK(cudaEventDestroy(e0));
  CUDA_OK(cudaEventDestroy(e1));
  return ms / iters;
}

void run_all_bench(int rounds) {
  const DType bf = DType::kBFloat16, f16 = DType::kFloat16, e4 = DType::kFloat8E4M3, e5 = DType::kFloat8E5M2;
  static const BenchWorkload prefill{"4x8192", 4, 8192, 0}, chunked{"8x(2048 on 6144)", 8, 2048, 6144},
      d256{"2x8192 D256", 2, 8192, 0, 256};
  std::vector<BenchVariant> vs;
  for (const BenchWorkload* w : {&prefill, &chunked, &d256}) {
    std::vector<std::pair<DType, DType>> types = {{bf, bf}, {bf, e4}};
    if (w != &d256) types.push_back({bf, e5});
    if (w == &prefill) types.insert(types.end(), {{f16, f16}, {f16, e4}});
    for (const auto& t : types) {
      const std::string tn = std::string(t.first == bf ? "bf16" : "fp16") + " q, " + dtype_name(t.second) + " KV";
#ifdef KVATTN_PREFILL_BASELINE_BENCH
      vs.push_back({"baseline " + tn, w, t.first, t.second, launch_baseline_prefill, {}});
#endif
      vs.push_back({"default  " + tn, w, t.first, t.second, {}, {}});
    }
#ifdef KVATTN_PREFILL_SHAPE_BENCH
    for (const auto& sh : bench_shapes()) {
      if (w == &d256) break;
      if (sh.bf16) vs.push_back({sh.name + ": bf16 KV", w, bf, bf, sh.bf16, {}});
      vs.push_back({sh.name + ": e4m3 KV", w, bf, e4, sh.fp8, {}});
    }
#endif
  }
  // One problem per (workload, dtypes), built once.
  std::vector<std::pair<std::string, BenchProblem>> problems;
  auto problem_of = [&](const BenchVariant& v) -> BenchProblem& {
    const std::string key = v.workload->name + dtype_name(v.q_dtype) + dtype_name(v.kv_dtype);
    for (auto& pr : problems)
      if (pr.first == key) return pr.second;
    problems.emplace_back(key, make_bench_problem(*v.workload, v.q_dtype, v.kv_dtype));
    return problems.back().second;
  };
  for (auto& v : vs) {  // warm-up: ~1 s of launches, and every kernel loaded
    BenchProblem& bp = problem_of(v);
    for (int i = 0; i < 2; ++i) launch_variant(v, bp.p);
  }
  CUDA_OK(cudaDeviceSynchronize());
  for (int i = 0; i < 100; ++i) launch_variant(vs.front(), problem_of(vs.front()).p);
  CUDA_OK(cudaDeviceSynchronize());
  for (int r = 0; r < rounds; ++r)
    for (auto& v : vs) v.ms.push_back(time_launches(v, problem_of(v).p, 8));
  std::printf("[bench] %-18s %-44s %9s %9s %9s\n", "workload", "variant", "median ms", "TFLOP/s", "best");
  for (auto& v : vs) {
    std::vector<double> t = v.ms;
    std::sort(t.begin(), t.end());
    const double flops = problem_of(v).flops, med = t[t.size() / 2];
    std::printf("[bench] %-18s %-44s %9.3f %9.1f %9.1f\n", v.workload->name.c_str(), v.name.c_str(), med,
                flops / (med * 1e-3) / 1e12, flops / (t.front() * 1e-3) / 1e12);
  }
  for (auto& pr : problems)
    for (void* d : pr.second.buffers) CUDA_OK(cudaFree(d));
}

bool have_device() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace prefill_test
}  // namespace kvattn

#ifdef KVATTN_PREFILL_STANDALONE
int main(int argc, char** argv) {
  using namespace kvattn::prefill_test;
  bool bench = false, quick = false;
  int rounds = 5;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    bench = bench || std::strcmp(argv[i], "--bench") == 0;
    quick = quick || std::strcmp(argv[i], "--quick") == 0;
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
    if (std::strcmp(argv[i], "--list") == 0) {
      for (const auto& c : correctness_cases(false)) std::printf("%s\n", c.name.c_str());
      return 0;
    }
  }
  if (!have_device()) {
    std::printf("no CUDA device: skipped\n");
    return 0;
  }
  cudaDeviceProp prop;
  CUDA_OK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs, cc %d.%d\n", prop.name, prop.multiProcessorCount, prop.major, prop.minor);
  const int64_t bad = run_correctness(quick, only);
  std::printf("correctness: %s (%lld bad elements)\n", bad ? "FAIL" : "PASS", (long long)bad);
  if (bench) run_all_bench(rounds);
  return bad ? 1 : 0;
}
#else
#include <gtest/gtest.h>

TEST(PrefillKernel, MatchesFloat64Reference) {
  if (!kvattn::prefill_test::have_device()) GTEST_SKIP() << "no CUDA device on this machine";
  EXPECT_EQ(kvattn::prefill_test::run_correctness(/*quick=*/false), 0);
}
#endif
