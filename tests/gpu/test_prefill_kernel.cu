// Focused device test of the portable prefill kernel (launch_prefill_portable)
// against a float64 reference written here from docs/semantics.md, plus the
// FP8 widening functor over all 256 codes. Outputs are poisoned before each
// run and every element is checked, including rows that must stay untouched.
//
// In the project build this is a GoogleTest suite (skipped without a GPU).
// Built with -DKVATTN_PREFILL_STANDALONE it has its own main():
//   prefill_test [--bench] [--quick] [--only NAME_SUBSTRING] [--list]
// and with -DKVATTN_PREFILL_SHAPE_BENCH it also times other D=128 tile shapes.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
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
  Launcher launch;           // empty: launch_prefill_portable (with skip_short)
};

bool is_fp8(DType t) { return t == DType::kFloat8E4M3 || t == DType::kFloat8E5M2; }

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
  for (auto& x : H.q16) x = to_bits16(nd(rng), c.q_dtype);

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
      const float x = nd(rng);
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
      for (auto& x : *v) x = ud(rng);
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
#ifdef KVATTN_PREFILL_SHAPE_BENCH
  {  // the other D=128 tile shapes the benchmark times (the default is 8w x1 BN64)
    using cuda::PrefillShape;
    const std::vector<std::pair<std::string, Launcher>> shapes = {
        {"4w x2 BN64", shape_launcher<PrefillShape<128, 4, 2, 64, 2>, __nv_bfloat16, true>()},
        {"4w x2 BN32", shape_launcher<PrefillShape<128, 4, 2, 32, 2>, __nv_bfloat16, true>()},
        {"8w x1 BN128", shape_launcher<PrefillShape<128, 8, 1, 128, 1>, __nv_bfloat16, true>()}};
    for (const auto& sh : shapes) {
      c = Case{};
      c.name = "shape " + sh.first + " e4m3 window+sinks";
      c.kv_dtype = DType::kFloat8E4M3, c.hq = 4, c.hkv = 1, c.causal = true, c.window_left = 300, c.sinks = true;
      c.q_lens = {333, 20}, c.kv_lens = {600, 20}, c.launch = sh.second;
      add(c);
    }
    c = Case{};
    c.name = "shape 4w x2 BN32 bf16 KV";
    c.q_lens = {200}, c.kv_lens = {260}, c.causal = true;
    c.launch = shape_launcher<PrefillShape<128, 4, 2, 32, 2>, __nv_bfloat16, false>();
    add(c);
    c.name = "shape 4w x2 BN64 bf16 KV";
    c.launch = shape_launcher<PrefillShape<128, 4, 2, 64, 2>, __nv_bfloat16, false>();
    add(c);
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
struct BenchConfig {
  std::string name;
  DType q_dtype, kv_dtype;
  int batch, q_len, cached;  // kv_len = cached + q_len
  // Launches one run; default: launch_prefill_portable.
  Launcher launch;
};

double flops_of(int batch, int q_len, int kv_len, int hq, int d) {
  double pairs = 0;
  for (int i = 0; i < q_len; ++i) pairs += std::min<double>(kv_len, i + (kv_len - q_len) + 1);  // causal
  return 4.0 * d * hq * pairs * batch;
}

void run_bench(const BenchConfig& bc) {
  const int hq = 32, hkv = 8, D = 128, page = 16;
  const int B = bc.batch, kv_len = bc.cached + bc.q_len;
  const int64_t total_q = int64_t{B} * bc.q_len;
  const int kvb = is_fp8(bc.kv_dtype) ? 1 : 2;
  const int64_t blocks_per_seq = (kv_len + page - 1) / page, num_blocks = B * blocks_per_seq;
  void *q, *out, *k, *v;
  float* lse;
  CUDA_OK(cudaMalloc(&q, total_q * hq * D * 2));
  CUDA_OK(cudaMalloc(&out, total_q * hq * D * 2));
  CUDA_OK(cudaMalloc(&lse, total_q * hq * 4));
  CUDA_OK(cudaMalloc(&k, num_blocks * page * hkv * D * kvb));
  CUDA_OK(cudaMalloc(&v, num_blocks * page * hkv * D * kvb));
  // Small finite values everywhere (0x30 bytes: 0.125-ish fp8, tiny 16-bit).
  CUDA_OK(cudaMemset(q, 0x30, total_q * hq * D * 2));
  CUDA_OK(cudaMemset(k, 0x30, num_blocks * page * hkv * D * kvb));
  CUDA_OK(cudaMemset(v, 0x30, num_blocks * page * hkv * D * kvb));
  std::vector<int32_t> cu_q(B + 1), used(B, kv_len), table(B * blocks_per_seq);
  for (int b = 0; b <= B; ++b) cu_q[b] = b * bc.q_len;
  std::mt19937 rng(7);
  std::vector<int32_t> perm(num_blocks);
  for (int64_t i = 0; i < num_blocks; ++i) perm[i] = static_cast<int32_t>(i);
  std::shuffle(perm.begin(), perm.end(), rng);  // scattered pages, like a real cache
  for (int64_t i = 0; i < num_blocks; ++i) table[i] = perm[i];
  int32_t* d_cu_q = to_device(cu_q);
  int32_t* d_used = to_device(used);
  int32_t* d_table = to_device(table);

  AttentionProblem p;
  p.batch = B;
  p.total_q = total_q;
  p.num_q_heads = hq;
  p.num_kv_heads = hkv;
  p.head_dim = D;
  p.max_seqlen_q = bc.q_len;
  p.max_seqlen_k = kv_len;
  p.q_dtype = bc.q_dtype;
  p.kv_dtype = bc.kv_dtype;
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

  auto launch = [&] {
    if (bc.launch)
      bc.launch(p);
    else
      cuda::launch_prefill_portable(p, nullptr, false);
  };
  for (int i = 0; i < 3; ++i) launch();
  CUDA_OK(cudaDeviceSynchronize());
  cudaEvent_t e0, e1;
  CUDA_OK(cudaEventCreate(&e0));
  CUDA_OK(cudaEventCreate(&e1));
  const int iters = 10;
  CUDA_OK(cudaEventRecord(e0));
  for (int i = 0; i < iters; ++i) launch();
  CUDA_OK(cudaEventRecord(e1));
  CUDA_OK(cudaEventSynchronize(e1));
  float ms = 0;
  CUDA_OK(cudaEventElapsedTime(&ms, e0, e1));
  ms /= iters;
  const double tflops = flops_of(B, bc.q_len, kv_len, hq, D) / (ms * 1e-3) / 1e12;
  std::printf("[bench] %-48s %8.3f ms  %6.1f TFLOP/s\n", bc.name.c_str(), ms, tflops);
  for (void* ptr : {q, out, static_cast<void*>(lse), k, v, static_cast<void*>(d_cu_q), static_cast<void*>(d_used),
                    static_cast<void*>(d_table)})
    CUDA_OK(cudaFree(ptr));
  CUDA_OK(cudaEventDestroy(e0));
  CUDA_OK(cudaEventDestroy(e1));
}


void run_all_bench() {
  const DType bf = DType::kBFloat16, f16 = DType::kFloat16, e4 = DType::kFloat8E4M3, e5 = DType::kFloat8E5M2;
  std::vector<BenchConfig> v = {
      {"prefill 4x8192 causal bf16 q, bf16 KV", bf, bf, 4, 8192, 0, {}},
      {"prefill 4x8192 causal bf16 q, e4m3 KV", bf, e4, 4, 8192, 0, {}},
      {"prefill 4x8192 causal bf16 q, e5m2 KV", bf, e5, 4, 8192, 0, {}},
      {"prefill 4x8192 causal fp16 q, fp16 KV", f16, f16, 4, 8192, 0, {}},
      {"prefill 4x8192 causal fp16 q, e4m3 KV", f16, e4, 4, 8192, 0, {}},
      {"chunked 8x(2048 on 6144) bf16 q, bf16 KV", bf, bf, 8, 2048, 6144, {}},
      {"chunked 8x(2048 on 6144) bf16 q, e4m3 KV", bf, e4, 8, 2048, 6144, {}},
  };
#ifdef KVATTN_PREFILL_SHAPE_BENCH
  using cuda::PrefillShape;
  using BF = __nv_bfloat16;
  v.push_back({"  shape 4w x2 BN64: bf16 KV", bf, bf, 4, 8192, 0, shape_launcher<PrefillShape<128, 4, 2, 64, 2>, BF, false>()});
  v.push_back({"  shape 4w x2 BN64: e4m3 KV", bf, e4, 4, 8192, 0, shape_launcher<PrefillShape<128, 4, 2, 64, 2>, BF, true>()});
  v.push_back({"  shape 4w x2 BN32: bf16 KV", bf, bf, 4, 8192, 0, shape_launcher<PrefillShape<128, 4, 2, 32, 2>, BF, false>()});
  v.push_back({"  shape 4w x2 BN32: e4m3 KV", bf, e4, 4, 8192, 0, shape_launcher<PrefillShape<128, 4, 2, 32, 2>, BF, true>()});
  v.push_back({"  shape 8w x1 BN64: bf16 KV", bf, bf, 4, 8192, 0, shape_launcher<PrefillShape<128, 8, 1, 64, 2>, BF, false>()});
  v.push_back({"  shape 8w x1 BN64: e4m3 KV", bf, e4, 4, 8192, 0, shape_launcher<PrefillShape<128, 8, 1, 64, 2>, BF, true>()});
  v.push_back({"  shape 8w x1 BN128: e4m3 KV", bf, e4, 4, 8192, 0, shape_launcher<PrefillShape<128, 8, 1, 128, 1>, BF, true>()});
#endif
  for (const auto& bc : v) run_bench(bc);
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
  std::string only;
  for (int i = 1; i < argc; ++i) {
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
  if (bench) run_all_bench();
  return bad ? 1 : 0;
}
#else
#include <gtest/gtest.h>

TEST(PrefillKernel, MatchesFloat64Reference) {
  if (!kvattn::prefill_test::have_device()) GTEST_SKIP() << "no CUDA device on this machine";
  EXPECT_EQ(kvattn::prefill_test::run_correctness(/*quick=*/false), 0);
}
#endif
