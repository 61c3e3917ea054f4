// Focused test of the split-KV decode kernel (src/cuda/decode/) against a
// float64 reference written here from docs/semantics.md: fp8 and 16-bit KV,
// GQA 4:1 .. 71:1, q_len 0..16 (spec-verify with causal/window), page sizes
// 1/16/32 and contiguous KV, splits 1..5, sinks, softcap, LSE, descales with
// stride 0, unaligned strides, shared and out-of-order blocks, CUDA-graph
// replay with changed lengths, and bitwise determinism.
//
// Built into kvattn_gpu_tests (GoogleTest; skips without a GPU). Compiled with
// -DKVATTN_DECODE_TEST_MAIN it is a standalone program that also times the
// standard decode workloads (for the device machine).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/problem.h"
#include "cuda/decode/decode.h"

#ifndef KVATTN_DECODE_TEST_MAIN
#include <gtest/gtest.h>
#endif

namespace {

using kvattn::AttentionProblem;
using kvattn::DType;

void cuda_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}
#define CUDA_OK(x) cuda_check((x), #x)

// ---- Host number formats -----------------------------------------------------
float bf16_to_float(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
float fp16_to_float(uint16_t h) {
  __half_raw r;
  r.x = h;
  return __half2float(__half(r));
}
uint16_t float_to_fp16(float f) { return __half_raw(__float2half_rn(f)).x; }
double e4m3_value(uint8_t c) {
  const int e = (c >> 3) & 15, m = c & 7;
  const double v = e == 0 ? m * std::ldexp(1.0, -9) : (1.0 + m / 8.0) * std::ldexp(1.0, e - 7);
  return (c & 0x80) ? -v : v;
}
double e5m2_value(uint8_t c) {
  const int e = (c >> 2) & 31, m = c & 3;
  const double v = e == 0 ? m * std::ldexp(1.0, -16) : (1.0 + m / 4.0) * std::ldexp(1.0, e - 15);
  return (c & 0x80) ? -v : v;
}
int elem_size(DType t) { return (t == DType::kFloat8E4M3 || t == DType::kFloat8E5M2) ? 1 : 2; }

// Stored element -> exact value.
double decode_elem(DType t, const uint8_t* p) {
  uint16_t h;
  switch (t) {
    case DType::kFloat8E4M3: return e4m3_value(*p);
    case DType::kFloat8E5M2: return e5m2_value(*p);
    case DType::kBFloat16: std::memcpy(&h, p, 2); return bf16_to_float(h);
    default: std::memcpy(&h, p, 2); return fp16_to_float(h);
  }
}
// Random stored element: N(0,1)-ish for 16-bit; fp8 codes over a band of
// exponents with some zeros/subnormals (never NaN/inf).
void random_elem(DType t, std::mt19937& rng, uint8_t* p) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  if (t == DType::kBFloat16 || t == DType::kFloat16) {
    const uint16_t h = t == DType::kBFloat16 ? float_to_bf16(normal(rng)) : float_to_fp16(normal(rng));
    std::memcpy(p, &h, 2);
    return;
  }
  const uint32_t r = rng();
  const bool tiny = (r >> 24) % 16 == 0;
  if (t == DType::kFloat8E4M3) {
    const int e = tiny ? 0 : 3 + int((r >> 8) % 7);  // 2^-4 .. 2^2
    *p = uint8_t((r & 0x80) | (e << 3) | (r & 7));
  } else {
    const int e = tiny ? 0 : 12 + int((r >> 8) % 6);  // 2^-3 .. 2^2
    *p = uint8_t((r & 0x80) | (e << 2) | (r & 3));
  }
}

// ---- Device buffers ------------------------------------------------------------
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : bytes(n) { CUDA_OK(cudaMalloc(&ptr, std::max<size_t>(n, 16))); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr); }
  template <typename T>
  void upload(const std::vector<T>& v) { CUDA_OK(cudaMemcpy(ptr, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice)); }
};

// ---- One test case -------------------------------------------------------------
struct Case {
  std::string name;
  DType q_dtype = DType::kBFloat16;
  DType kv_dtype = DType::kFloat8E4M3;
  int hq = 8, hkv = 2, d = 128;
  int page = 16;  // 0 = contiguous KV (cu_seqlens_k)
  std::vector<int> q_lens, kv_lens;
  bool causal = false;
  int window_left = -1;
  float softcap = 0.0f;
  bool sinks = false;
  bool lse = true;
  int splits = 1;
  int head_pad = 0;        // extra elements between KV heads (stride coverage)
  bool descales = false;   // per-(seq, kv head) descales
  bool k_stride0 = false;  // k_descale broadcast (stride 0)
  bool share_block = false;  // sequence 1 reuses sequence 0's first block
  int64_t max_q_hint = -1, max_k_hint = -1;  // host bounds; default the true maxima
};

struct Outcome {
  bool ok = true;
  double max_err = 0.0, max_lse_err = 0.0;
  std::string message;
};

// Everything a case needs on host and device; run() launches and checks.
class DecodeRun {
 public:
  explicit DecodeRun(const Case& c, uint32_t seed = 1234) : c_(c), rng_(seed) { build(); }

  // Launches on `stream` (also under graph capture). Returns launch errors.
  void launch(cudaStream_t stream) { kvattn::cuda::launch_decode_splitkv(p_, stream); }

  void poison() {
    CUDA_OK(cudaMemset(out_->ptr, 0xff, out_->bytes));
    CUDA_OK(cudaMemset(lse_->ptr, 0xff, lse_->bytes));
  }
  std::vector<uint8_t> fetch_out() const {
    std::vector<uint8_t> h(out_->bytes);
    CUDA_OK(cudaMemcpy(h.data(), out_->ptr, out_->bytes, cudaMemcpyDeviceToHost));
    return h;
  }
  std::vector<float> fetch_lse() const {
    std::vector<float> h(lse_->bytes / 4);
    CUDA_OK(cudaMemcpy(h.data(), lse_->ptr, lse_->bytes, cudaMemcpyDeviceToHost));
    return h;
  }
  // Changes the KV lengths (<= the allocated ones) on the device only.
  void set_kv_lens(const std::vector<int>& lens) {
    for (size_t b = 0; b < lens.size(); ++b) c_.kv_lens[b] = lens[b];
    if (c_.page > 0) {
      seqused_->upload(c_.kv_lens);
    } else {
      throw std::runtime_error("set_kv_lens: paged cases only");
    }
  }
  int num_splits() const { return p_.num_splits; }

  Outcome check() const {
    Outcome res;
    const std::vector<uint8_t> out = fetch_out();
    const std::vector<float> lse = fetch_lse();
    const int g = c_.hq / c_.hkv;
    const int qs = elem_size(c_.q_dtype);
    const double atol = c_.q_dtype == DType::kBFloat16 ? 1.5e-2 : 3e-3;
    for (int b = 0; b < batch_; ++b) {
      const int q_len = c_.q_lens[b], kv_len = c_.kv_lens[b];
      for (int i = 0; i < q_len; ++i) {
        const int t = cu_q_[b] + i;
        for (int h = 0; h < c_.hq; ++h) {
          const uint8_t* o = out.data() + (size_t(t) * c_.hq + h) * c_.d * qs;
          const float l = lse[size_t(h) * total_q_ + t];
          if (q_len > 16) {  // the prefill family's row: must stay untouched
            for (int k = 0; k < c_.d * qs; ++k) {
              if (o[k] != 0xff) return fail(res, "long-query row written: seq " + std::to_string(b));
            }
            continue;
          }
          std::vector<double> ref(c_.d);
          double ref_lse;
          reference_row(b, i, h, h / g, q_len, kv_len, ref, ref_lse);
          for (int k = 0; k < c_.d; ++k) {
            uint16_t hv;
            std::memcpy(&hv, o + k * qs, 2);
            const double got = c_.q_dtype == DType::kBFloat16 ? bf16_to_float(hv) : fp16_to_float(hv);
            const double err = std::fabs(got - ref[k]);
            if (!(err <= atol + atol * std::fabs(ref[k]))) {
              return fail(res, "out seq " + std::to_string(b) + " tok " + std::to_string(i) + " head " +
                                   std::to_string(h) + " d " + std::to_string(k) + ": got " + std::to_string(got) +
                                   " want " + std::to_string(ref[k]));
            }
            res.max_err = std::max(res.max_err, err);
          }
          if (c_.lse) {
            const bool both_inf = std::isinf(ref_lse) && std::isinf(l) && ref_lse < 0 && l < 0;
            const double err = both_inf ? 0.0 : std::fabs(double(l) - ref_lse);
            if (!(err <= 2e-3 + 1e-4 * std::fabs(ref_lse))) {
              return fail(res, "lse seq " + std::to_string(b) + " tok " + std::to_string(i) + " head " +
                                   std::to_string(h) + ": got " + std::to_string(l) + " want " + std::to_string(ref_lse));
            }
            res.max_lse_err = std::max(res.max_lse_err, err);
          }
        }
      }
    }
    return res;
  }

 private:
  static Outcome fail(Outcome& r, const std::string& msg) {
    r.ok = false;
    r.message = msg;
    return r;
  }

  void build() {
    batch_ = int(c_.q_lens.size());
    cu_q_.assign(batch_ + 1, 0);
    cu_k_.assign(batch_ + 1, 0);
    for (int b = 0; b < batch_; ++b) {
      cu_q_[b + 1] = cu_q_[b] + c_.q_lens[b];
      cu_k_[b + 1] = cu_k_[b] + c_.kv_lens[b];
    }
    total_q_ = cu_q_[batch_];
    const int qs = elem_size(c_.q_dtype), ks = elem_size(c_.kv_dtype);
    const int64_t head_stride = c_.d + c_.head_pad;

    // Q: [total_q, hq, d].
    hq_.resize(size_t(std::max(total_q_, 1)) * c_.hq * c_.d * qs);
    for (size_t i = 0; i < hq_.size(); i += qs) random_elem(c_.q_dtype, rng_, &hq_[i]);

    // KV pool (paged: [blocks, page, hkv, d+pad]; contiguous: [total_k, hkv, d+pad]).
    const int max_kv = *std::max_element(c_.kv_lens.begin(), c_.kv_lens.end());
    if (c_.page > 0) {
      max_blocks_ = std::max(1, (max_kv + c_.page - 1) / c_.page);
      int needed = 0;
      for (int b = 0; b < batch_; ++b) needed += (c_.kv_lens[b] + c_.page - 1) / c_.page;
      num_blocks_ = needed + 3;
      std::vector<int> perm(num_blocks_);
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng_);  // out-of-order physical blocks
      table_.assign(size_t(batch_) * max_blocks_, -1);
      int next = 0;
      for (int b = 0; b < batch_; ++b) {
        for (int k = 0; k < (c_.kv_lens[b] + c_.page - 1) / c_.page; ++k) table_[size_t(b) * max_blocks_ + k] = perm[next++];
      }
      if (c_.share_block && batch_ > 1 && c_.kv_lens[0] > 0 && c_.kv_lens[1] > 0) table_[max_blocks_] = table_[0];
      kv_tokens_ = int64_t(num_blocks_) * c_.page;
    } else {
      kv_tokens_ = cu_k_[batch_];
    }
    kv_elems_ = std::max<int64_t>(kv_tokens_, 1) * c_.hkv * head_stride;
    hk_.resize(size_t(kv_elems_) * ks);
    hv_.resize(size_t(kv_elems_) * ks);
    for (size_t i = 0; i < hk_.size(); i += ks) random_elem(c_.kv_dtype, rng_, &hk_[i]);
    for (size_t i = 0; i < hv_.size(); i += ks) random_elem(c_.kv_dtype, rng_, &hv_[i]);

    std::uniform_real_distribution<float> uni(0.5f, 2.0f);
    qd_.assign(size_t(batch_) * c_.hkv, 1.0f);
    kd_ = qd_;
    vd_ = qd_;
    if (c_.descales) {
      for (auto* v : {&qd_, &kd_, &vd_}) {
        for (float& x : *v) x = uni(rng_);
      }
      if (c_.k_stride0) std::fill(kd_.begin(), kd_.end(), kd_[0]);
    }
    std::uniform_real_distribution<float> sink_dist(-2.0f, 4.0f);
    sinks_.assign(c_.hq, 0.0f);
    for (float& s : sinks_) s = sink_dist(rng_);

    // Device side.
    d_q_ = std::make_unique<DeviceBuffer>(hq_.size());
    d_q_->upload(hq_);
    d_k_ = std::make_unique<DeviceBuffer>(hk_.size());
    d_k_->upload(hk_);
    d_v_ = std::make_unique<DeviceBuffer>(hv_.size());
    d_v_->upload(hv_);
    d_cu_q_ = std::make_unique<DeviceBuffer>(cu_q_.size() * 4);
    d_cu_q_->upload(cu_q_);
    d_cu_k_ = std::make_unique<DeviceBuffer>(cu_k_.size() * 4);
    d_cu_k_->upload(cu_k_);
    seqused_ = std::make_unique<DeviceBuffer>(size_t(batch_) * 4);
    seqused_->upload(c_.kv_lens);
    d_table_ = std::make_unique<DeviceBuffer>(std::max<size_t>(table_.size(), 1) * 4);
    if (!table_.empty()) d_table_->upload(table_);
    d_desc_ = std::make_unique<DeviceBuffer>(qd_.size() * 3 * 4);
    std::vector<float> desc(qd_);
    desc.insert(desc.end(), kd_.begin(), kd_.end());
    desc.insert(desc.end(), vd_.begin(), vd_.end());
    d_desc_->upload(desc);
    d_sinks_ = std::make_unique<DeviceBuffer>(sinks_.size() * 4);
    d_sinks_->upload(sinks_);
    out_ = std::make_unique<DeviceBuffer>(size_t(std::max(total_q_, 1)) * c_.hq * c_.d * qs);
    lse_ = std::make_unique<DeviceBuffer>(size_t(std::max(total_q_, 1)) * c_.hq * 4);

    // Problem.
    AttentionProblem& p = p_;
    p.batch = batch_;
    p.total_q = total_q_;
    p.num_q_heads = c_.hq;
    p.num_kv_heads = c_.hkv;
    p.head_dim = c_.d;
    const int max_q = *std::max_element(c_.q_lens.begin(), c_.q_lens.end());
    p.max_seqlen_q = c_.max_q_hint >= 0 ? c_.max_q_hint : max_q;
    p.max_seqlen_k = c_.max_k_hint >= 0 ? c_.max_k_hint : max_kv;
    p.q_dtype = c_.q_dtype;
    p.kv_dtype = c_.kv_dtype;
    p.q = d_q_->ptr;
    p.q_stride_token = int64_t(c_.hq) * c_.d;
    p.q_stride_head = c_.d;
    p.paged = c_.page > 0;
    p.k = d_k_->ptr;
    p.v = d_v_->ptr;
    p.k_stride_head = p.v_stride_head = head_stride;
    p.k_stride_token = p.v_stride_token = int64_t(c_.hkv) * head_stride;
    if (p.paged) {
      p.k_stride_block = p.v_stride_block = int64_t(c_.page) * c_.hkv * head_stride;
      p.num_blocks = num_blocks_;
      p.page_size = c_.page;
      p.block_table = d_table_->as<int32_t>();
      p.block_table_stride = max_blocks_;
      p.max_blocks_per_seq = max_blocks_;
      p.seqused_k = seqused_->as<int32_t>();
    } else {
      p.cu_seqlens_k = d_cu_k_->as<int32_t>();
    }
    p.cu_seqlens_q = d_cu_q_->as<int32_t>();
    if (c_.descales) {
      const float* base = d_desc_->as<float>();
      const int64_t nd = int64_t(qd_.size());
      p.q_descale = {base, c_.hkv, 1};
      p.k_descale = c_.k_stride0 ? kvattn::DescaleView{base + nd, 0, 0} : kvattn::DescaleView{base + nd, c_.hkv, 1};
      p.v_descale = {base + 2 * nd, c_.hkv, 1};
    }
    p.softmax_scale = 1.0f / std::sqrt(float(c_.d));
    p.softcap = c_.softcap;
    p.window_left = c_.window_left;
    p.window_right = c_.causal ? 0 : -1;
    p.causal = c_.causal;
    if (c_.sinks) {
      p.sinks = d_sinks_->ptr;
      p.sinks_dtype = DType::kFloat32;
      p.sinks_stride = 1;
    }
    p.out = out_->ptr;
    p.out_stride_token = int64_t(c_.hq) * c_.d;
    p.out_stride_head = c_.d;
    if (c_.lse) {
      p.lse = lse_->as<float>();
      p.lse_stride_head = total_q_;
      p.lse_stride_token = 1;
    }
    p.num_splits = kvattn::cuda::decode_num_splits(batch_, c_.hq, c_.hkv, c_.d, p.max_seqlen_q, p.max_seqlen_k,
                                                   c_.splits, 132);
    const size_t ws = kvattn::cuda::decode_workspace_bytes(batch_, c_.hq, c_.hkv, c_.d, p.max_seqlen_q, p.num_splits);
    if (ws > 0) {
      ws_ = std::make_unique<DeviceBuffer>(ws);
      p.workspace = ws_->ptr;
      p.workspace_bytes = ws;
    }
    p.backend = kvattn::Backend::kCudaPortable;
    p.device = {kvattn::DeviceType::kCUDA, 0};
  }

  // S1-S4 in float64 for query token i of sequence b, head h.
  void reference_row(int b, int i, int h, int hk, int q_len, int kv_len, std::vector<double>& out,
                     double& lse) const {
    const int qs = elem_size(c_.q_dtype), ks = elem_size(c_.kv_dtype);
    const int64_t head_stride = c_.d + c_.head_pad;
    const int64_t off = int64_t(kv_len) - q_len;
    const int t = cu_q_[b] + i;
    const double scale = double(1.0f / std::sqrt(float(c_.d))) * qd_[b * c_.hkv + hk] *
                         (c_.k_stride0 ? kd_[0] : kd_[b * c_.hkv + hk]);
    auto kv_at = [&](const std::vector<uint8_t>& pool, int j, int k) {
      int64_t token;
      if (c_.page > 0) {
        token = int64_t(table_[size_t(b) * max_blocks_ + j / c_.page]) * c_.page + j % c_.page;
      } else {
        token = cu_k_[b] + j;
      }
      return decode_elem(c_.kv_dtype, &pool[size_t((token * c_.hkv + hk) * head_stride + k) * ks]);
    };
    std::vector<double> q(c_.d);
    for (int k = 0; k < c_.d; ++k) q[k] = decode_elem(c_.q_dtype, &hq_[(size_t(t) * c_.hq + h) * c_.d * qs + k * qs]);
    std::vector<double> s;
    std::vector<int> keys;
    for (int j = 0; j < kv_len; ++j) {
      if (c_.window_left >= 0 && j < i + off - c_.window_left) continue;
      if (c_.causal && j > i + off) continue;
      double dot = 0.0;
      for (int k = 0; k < c_.d; ++k) dot += q[k] * kv_at(hk_, j, k);
      double sc = dot * scale;
      if (c_.softcap > 0) sc = c_.softcap * std::tanh(sc / c_.softcap);
      s.push_back(sc);
      keys.push_back(j);
    }
    std::fill(out.begin(), out.end(), 0.0);
    if (s.empty()) {
      lse = -INFINITY;
      return;
    }
    double m = *std::max_element(s.begin(), s.end());
    if (c_.sinks) m = std::max(m, double(sinks_[h]));
    double denom = c_.sinks ? std::exp(double(sinks_[h]) - m) : 0.0;
    for (double x : s) denom += std::exp(x - m);
    const double vdesc = vd_[b * c_.hkv + hk];
    for (size_t n = 0; n < s.size(); ++n) {
      const double pw = std::exp(s[n] - m) / denom;
      for (int k = 0; k < c_.d; ++k) out[k] += pw * kv_at(hv_, keys[n], k);
    }
    for (int k = 0; k < c_.d; ++k) out[k] *= vdesc;
    lse = m + std::log(denom);
  }

  Case c_;
  std::mt19937 rng_;
  int batch_ = 0, total_q_ = 0, max_blocks_ = 0, num_blocks_ = 0;
  int64_t kv_tokens_ = 0, kv_elems_ = 0;
  std::vector<int> cu_q_, cu_k_, table_;
  std::vector<uint8_t> hq_, hk_, hv_;
  std::vector<float> qd_, kd_, vd_, sinks_;
  std::unique_ptr<DeviceBuffer> d_q_, d_k_, d_v_, d_cu_q_, d_cu_k_, d_table_, d_desc_, d_sinks_;
  std::unique_ptr<DeviceBuffer> seqused_, out_, lse_, ws_;
  AttentionProblem p_;
};

// Runs a case once (plus a bitwise repeat when splits > 1).
Outcome run_case(const Case& c) {
  DecodeRun run(c);
  run.poison();
  run.launch(nullptr);
  CUDA_OK(cudaDeviceSynchronize());
  Outcome res = run.check();
  if (res.ok && run.num_splits() > 1) {
    const std::vector<uint8_t> first = run.fetch_out();
    run.poison();
    run.launch(nullptr);
    CUDA_OK(cudaDeviceSynchronize());
    if (run.fetch_out() != first) {
      res.ok = false;
      res.message = "split-KV output not bitwise reproducible";
    }
  }
  return res;
}

std::vector<Case> correctness_cases() {
  std::vector<Case> cs;
  const std::vector<int> ones6(6, 1);
  {
    Case c{"e4m3 bf16-q GQA 4:1 page 16 q_len 1 causal, 1 split"};
    c.hq = 32, c.hkv = 8, c.d = 128, c.q_lens = ones6, c.kv_lens = {1, 17, 300, 1000, 0, 64}, c.causal = true;
    c.descales = true;
    cs.push_back(c);
    c.name = "e4m3 bf16-q GQA 4:1 page 16 q_len 1 causal, 4 splits";
    c.splits = 4;
    cs.push_back(c);
  }
  {
    Case c{"e5m2 fp16-q GQA 71:1 page 1 q_len 1, 3 splits"};
    c.q_dtype = DType::kFloat16, c.kv_dtype = DType::kFloat8E5M2;
    c.hq = 71, c.hkv = 1, c.d = 64, c.page = 1, c.q_lens = {1, 1, 1}, c.kv_lens = {5, 130, 257}, c.splits = 3;
    cs.push_back(c);
  }
  {
    Case c{"bf16 KV D256 spec-verify q_len 4 causal+window 37, softcap, sinks, 2 splits"};
    c.kv_dtype = DType::kBFloat16;
    c.hq = 8, c.hkv = 2, c.d = 256, c.q_lens = {4, 4, 1, 3}, c.kv_lens = {100, 3, 513, 64};
    c.causal = true, c.window_left = 37, c.softcap = 20.0f, c.sinks = true, c.splits = 2;
    cs.push_back(c);
  }
  {
    Case c{"mixed q_len 0/1/16/20(long)/2, e4m3 fp16-q D96 GQA 3:1 page 32, k_descale stride 0"};
    c.q_dtype = DType::kFloat16;
    c.hq = 12, c.hkv = 4, c.d = 96, c.page = 32, c.q_lens = {0, 1, 16, 20, 2}, c.kv_lens = {10, 200, 300, 400, 0};
    c.causal = true, c.descales = true, c.k_stride0 = true, c.sinks = true;
    cs.push_back(c);
  }
  {
    Case c{"contiguous bf16 KV D192 GQA 8:1 q_len 1/8/16 causal, 5 splits"};
    c.kv_dtype = DType::kBFloat16;
    c.hq = 16, c.hkv = 2, c.d = 192, c.page = 0, c.q_lens = {1, 8, 16}, c.kv_lens = {50, 700, 1200};
    c.causal = true, c.splits = 5;
    cs.push_back(c);
  }
  {
    Case c{"e4m3 unaligned head stride (D+4 bytes), shared block, page 16, 2 splits"};
    c.hq = 8, c.hkv = 2, c.d = 128, c.head_pad = 4, c.q_lens = {1, 1, 3}, c.kv_lens = {70, 90, 33};
    c.splits = 2, c.share_block = true, c.causal = true;
    cs.push_back(c);
  }
  {
    Case c{"e4m3 bf16-q 128 packed rows (GQA 8:1 x q_len 16) causal, 3 splits"};
    c.hq = 64, c.hkv = 8, c.d = 128, c.q_lens = {16, 5}, c.kv_lens = {2000, 16}, c.causal = true, c.splits = 3;
    c.sinks = true;
    cs.push_back(c);
    c.name = "e4m3 bf16-q 128 packed rows (GQA 8:1 x q_len 16) causal, 1 split";
    c.splits = 1;
    cs.push_back(c);
  }
  {
    Case c{"e5m2 bf16-q D64 loose host bounds (max_q 16, max_k 100000), heuristic splits"};
    c.kv_dtype = DType::kFloat8E5M2;
    c.hq = 4, c.hkv = 4, c.d = 64, c.q_lens = {1, 1}, c.kv_lens = {3000, 1};
    c.max_q_hint = 16, c.max_k_hint = 100000, c.splits = 0;
    cs.push_back(c);
  }
  {
    Case c{"fp16 KV D128 window only (left 100, no causal) q_len 2, 4 splits"};
    c.q_dtype = DType::kFloat16, c.kv_dtype = DType::kFloat16;
    c.hq = 8, c.hkv = 8, c.d = 128, c.q_lens = {2, 2}, c.kv_lens = {1000, 150}, c.window_left = 100, c.splits = 4;
    cs.push_back(c);
  }
  return cs;
}

// Graph capture of a split launch, replayed with changed lengths.
Outcome run_graph_case() {
  Case c{"graph"};
  c.q_dtype = DType::kFloat16, c.kv_dtype = DType::kFloat8E5M2;  // first launch of this instantiation
  c.hq = 16, c.hkv = 4, c.d = 256, c.q_lens = {1, 1, 1, 1}, c.kv_lens = {900, 1000, 1100, 1200}, c.causal = true;
  c.splits = 4, c.max_k_hint = 1200;
  DecodeRun run(c);
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph;
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  run.launch(stream);
  CUDA_OK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec;
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  Outcome res;
  for (const std::vector<int>& lens : {std::vector<int>{900, 1000, 1100, 1200}, std::vector<int>{1, 0, 700, 64}}) {
    run.set_kv_lens(lens);
    run.poison();
    CUDA_OK(cudaGraphLaunch(exec, stream));
    CUDA_OK(cudaStreamSynchronize(stream));
    res = run.check();
    if (!res.ok) break;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  return res;
}

bool have_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace

#ifndef KVATTN_DECODE_TEST_MAIN

TEST(DecodeKernel, MatchesReference) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  for (const Case& c : correctness_cases()) {
    const Outcome r = run_case(c);
    EXPECT_TRUE(r.ok) << c.name << ": " << r.message;
  }
}

TEST(DecodeKernel, GraphReplayWithChangedLengths) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const Outcome r = run_graph_case();
  EXPECT_TRUE(r.ok) << r.message;
}

#else  // standalone: correctness + timing of the standard decode workloads

namespace {

__global__ void fill_random(uint8_t* p, size_t n, int kind, uint32_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    uint32_t x = uint32_t(i) * 2654435761u ^ seed;
    x ^= x >> 15, x *= 2246822519u, x ^= x >> 13;
    if (kind == 0) {  // e4m3 code, |v| < 2
      p[i] = uint8_t((x & 0x80) | (x & 0x3f));
    } else {  // bf16 pair index i covers bytes 2i, 2i+1 (n counts 16-bit elements)
      const float f = (float(x & 0xffff) / 65535.0f - 0.5f) * 2.0f;
      reinterpret_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(f);
    }
  }
}

struct Timing {
  double ms = 0.0, tbps = 0.0;
};

Timing time_decode(int batch, int ctx, bool fp8, int splits, int* used_splits) {
  const int hq = 32, hkv = 8, d = 128, page = 16;
  const int blocks_per_seq = ctx / page, num_blocks = batch * blocks_per_seq;
  const size_t kv_elems = size_t(num_blocks) * page * hkv * d;
  const int kvb = fp8 ? 1 : 2;
  static DeviceBuffer* k = nullptr;
  static DeviceBuffer* v = nullptr;
  static size_t have = 0;
  if (have < kv_elems * kvb) {
    delete k;
    delete v;
    k = new DeviceBuffer(kv_elems * 2);
    v = new DeviceBuffer(kv_elems * 2);
    have = kv_elems * 2;
  }
  fill_random<<<1024, 256>>>(k->as<uint8_t>(), fp8 ? kv_elems : kv_elems, fp8 ? 0 : 1, 1);
  fill_random<<<1024, 256>>>(v->as<uint8_t>(), fp8 ? kv_elems : kv_elems, fp8 ? 0 : 1, 2);
  DeviceBuffer q(size_t(batch) * hq * d * 2), out(size_t(batch) * hq * d * 2);
  fill_random<<<256, 256>>>(q.as<uint8_t>(), size_t(batch) * hq * d, 1, 3);
  std::vector<int> cu(batch + 1), used(batch, ctx), table(size_t(batch) * blocks_per_seq);
  std::iota(cu.begin(), cu.end(), 0);
  std::iota(table.begin(), table.end(), 0);
  std::mt19937 rng(7);
  std::shuffle(table.begin(), table.end(), rng);
  DeviceBuffer d_cu(cu.size() * 4), d_used(used.size() * 4), d_table(table.size() * 4);
  d_cu.upload(cu);
  d_used.upload(used);
  d_table.upload(table);

  AttentionProblem p;
  p.batch = batch, p.total_q = batch, p.num_q_heads = hq, p.num_kv_heads = hkv, p.head_dim = d;
  p.max_seqlen_q = 1, p.max_seqlen_k = ctx;
  p.q_dtype = DType::kBFloat16, p.kv_dtype = fp8 ? DType::kFloat8E4M3 : DType::kBFloat16;
  p.q = q.ptr, p.q_stride_token = hq * d, p.q_stride_head = d;
  p.paged = true, p.k = k->ptr, p.v = v->ptr;
  p.k_stride_block = p.v_stride_block = int64_t(page) * hkv * d;
  p.k_stride_token = p.v_stride_token = hkv * d;
  p.k_stride_head = p.v_stride_head = d;
  p.num_blocks = num_blocks, p.page_size = page, p.block_table = d_table.as<int32_t>();
  p.block_table_stride = blocks_per_seq, p.max_blocks_per_seq = blocks_per_seq;
  p.cu_seqlens_q = d_cu.as<int32_t>(), p.seqused_k = d_used.as<int32_t>();
  p.softmax_scale = 1.0f / std::sqrt(float(d));
  p.window_right = 0, p.causal = true;
  p.out = out.ptr, p.out_stride_token = hq * d, p.out_stride_head = d;
  int sms = 0;
  CUDA_OK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  p.num_splits = kvattn::cuda::decode_num_splits(batch, hq, hkv, d, 1, ctx, splits, sms);
  *used_splits = p.num_splits;
  const size_t ws = kvattn::cuda::decode_workspace_bytes(batch, hq, hkv, d, 1, p.num_splits);
  DeviceBuffer workspace(ws);
  p.workspace = workspace.ptr, p.workspace_bytes = ws;
  p.device = {kvattn::DeviceType::kCUDA, 0};

  for (int i = 0; i < 3; ++i) kvattn::cuda::launch_decode_splitkv(p, nullptr);
  cudaEvent_t a, b;
  CUDA_OK(cudaEventCreate(&a));
  CUDA_OK(cudaEventCreate(&b));
  const int iters = 20;
  CUDA_OK(cudaEventRecord(a));
  for (int i = 0; i < iters; ++i) kvattn::cuda::launch_decode_splitkv(p, nullptr);
  CUDA_OK(cudaEventRecord(b));
  CUDA_OK(cudaEventSynchronize(b));
  float ms = 0;
  CUDA_OK(cudaEventElapsedTime(&ms, a, b));
  Timing t;
  t.ms = ms / iters;
  const double bytes = double(batch) * ctx * hkv * d * 2 * kvb + 2.0 * batch * hq * d * 2;
  t.tbps = bytes / (t.ms * 1e-3) / 1e12;
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return t;
}

double copy_bandwidth_tbps() {
  const size_t n = size_t(1) << 30;
  DeviceBuffer a(n), b(n);
  CUDA_OK(cudaMemset(a.ptr, 1, n));
  for (int i = 0; i < 3; ++i) CUDA_OK(cudaMemcpyAsync(b.ptr, a.ptr, n, cudaMemcpyDeviceToDevice));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  cudaEventRecord(e0);
  for (int i = 0; i < 10; ++i) CUDA_OK(cudaMemcpyAsync(b.ptr, a.ptr, n, cudaMemcpyDeviceToDevice));
  cudaEventRecord(e1);
  cudaEventSynchronize(e1);
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  return 2.0 * n * 10 / (ms * 1e-3) / 1e12;
}

}  // namespace

int main() {
  if (!have_gpu()) {
    std::printf("SKIP: no CUDA device\n");
    return 0;
  }
  int failures = 0;
  for (const Case& c : correctness_cases()) {
    Outcome r;
    try {
      r = run_case(c);
    } catch (const std::exception& e) {
      r.ok = false, r.message = e.what();
    }
    std::printf("%s  %-84s max|err| %.2e  lse %.2e  %s\n", r.ok ? "PASS" : "FAIL", c.name.c_str(), r.max_err,
                r.max_lse_err, r.message.c_str());
    failures += !r.ok;
  }
  {
    Outcome r;
    try {
      r = run_graph_case();
    } catch (const std::exception& e) {
      r.ok = false, r.message = e.what();
    }
    std::printf("%s  %-84s %s\n", r.ok ? "PASS" : "FAIL", "graph capture + replay with changed seqused_k (4 splits)",
                r.message.c_str());
    failures += !r.ok;
  }
  std::fflush(stdout);
  if (std::getenv("KVATTN_DECODE_TEST_NO_BENCH") != nullptr) {
    std::printf("\n%s: %d failure(s)\n", failures ? "FAILED" : "ALL PASSED", failures);
    return failures ? 1 : 0;
  }

  const double copy = copy_bandwidth_tbps();
  std::printf("\ndevice copy bandwidth (read+write): %.3f TB/s\n", copy);
  struct Work {
    int batch, ctx;
  };
  for (const Work w : {Work{128, 4096}, Work{32, 32768}}) {
    int heur16 = 0, heur8 = 0;
    const Timing b16 = time_decode(w.batch, w.ctx, false, 0, &heur16);
    const Timing f8 = time_decode(w.batch, w.ctx, true, 0, &heur8);
    std::printf("%3d x %5d  bf16 KV: %.4f ms %.3f TB/s (splits %d) | e4m3 KV: %.4f ms %.3f TB/s = %.0f%% of copy "
                "(splits %d) | fp8/bf16 time %.3f\n",
                w.batch, w.ctx, b16.ms, b16.tbps, heur16, f8.ms, f8.tbps, 100.0 * f8.tbps / copy, heur8,
                f8.ms / b16.ms);
    std::printf("   split sweep (e4m3 / bf16 ms):");
    for (int s : {1, 2, 3, 4, 6, 8, 12, 16}) {
      int used = 0;
      const Timing tf = time_decode(w.batch, w.ctx, true, s, &used);
      const Timing tb = time_decode(w.batch, w.ctx, false, s, &used);
      std::printf("  %d: %.4f/%.4f", s, tf.ms, tb.ms);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  std::printf("\n%s: %d failure(s)\n", failures ? "FAILED" : "ALL PASSED", failures);
  return failures ? 1 : 0;
}

#endif
