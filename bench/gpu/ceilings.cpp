#include "ceilings.h"

#include <cstdint>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

#include <cublasLt.h>
#include <cublas_v2.h>

#include "cuda_util.h"
#include "fill.h"
#include "stats.h"
#include "timing.h"

namespace kvattn_bench {

namespace {

constexpr int kGemmN = 8192;
constexpr int kWarmup = 3;
constexpr int kReps = 20;
constexpr size_t kCopyBytes = size_t{1} << 30;  // 1 GiB each way: far beyond L2
constexpr size_t kLtWorkspaceBytes = size_t{64} << 20;

#define BENCH_CUBLAS_CHECK(expr)                                                              \
  do {                                                                                        \
    const cublasStatus_t bench_st_ = (expr);                                                  \
    if (bench_st_ != CUBLAS_STATUS_SUCCESS)                                                   \
      throw std::runtime_error(std::string(#expr) + ": " + cublasGetStatusString(bench_st_)); \
  } while (0)

// Median ms of `launch` after a warm-up (and --sustain's back-to-back seconds).
double median_ms(const std::function<void(int)>& launch, cudaStream_t stream) {
  for (int i = 0; i < kWarmup; ++i) launch(i);
  sustain(launch, stream);
  return summarize(time_launches(launch, kReps, stream)).median_ms;
}

double gemm_tflops(double ms) {
  return 2.0 * kGemmN * kGemmN * static_cast<double>(kGemmN) / (ms * 1e9);
}

struct CublasHandle {
  cublasHandle_t h = nullptr;
  CublasHandle() { BENCH_CUBLAS_CHECK(cublasCreate(&h)); }
  ~CublasHandle() { cublasDestroy(h); }
};

// cuBLASLt objects, destroyed in reverse order of creation.
struct LtFp8Gemm {
  cublasLtHandle_t handle = nullptr;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtFp8Gemm() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
    if (handle) cublasLtDestroy(handle);
  }
};

}  // namespace

double measure_copy_tbps(cudaStream_t stream) {
  DeviceBuffer src(kCopyBytes), dst(kCopyBytes);
  BENCH_CUDA_CHECK(cudaMemsetAsync(src.get(), 0x3c, kCopyBytes, stream));
  const double ms = median_ms(
      [&](int) {
        BENCH_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), kCopyBytes, cudaMemcpyDeviceToDevice, stream));
      },
      stream);
  return 2.0 * kCopyBytes / (ms * 1e9);
}

double measure_bf16_gemm_tflops(cudaStream_t stream) {
  const int64_t elems = int64_t{kGemmN} * kGemmN;
  DeviceBuffer a(elems * 2), b(elems * 2), c(elems * 2);
  fill_normal_device(a.get(), kvattn::DType::kBFloat16, elems, 11, 1.0f, stream);
  fill_normal_device(b.get(), kvattn::DType::kBFloat16, elems, 12, 1.0f, stream);
  CublasHandle blas;
  BENCH_CUBLAS_CHECK(cublasSetStream(blas.h, stream));
  const float alpha = 1.0f, beta = 0.0f;
  const double ms = median_ms(
      [&](int) {
        BENCH_CUBLAS_CHECK(cublasGemmEx(blas.h, CUBLAS_OP_N, CUBLAS_OP_N, kGemmN, kGemmN, kGemmN, &alpha, a.get(),
                                        CUDA_R_16BF, kGemmN, b.get(), CUDA_R_16BF, kGemmN, &beta, c.get(), CUDA_R_16BF,
                                        kGemmN, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      },
      stream);
  return gemm_tflops(ms);
}

double measure_fp8_gemm_tflops(cudaStream_t stream) {
  const int64_t elems = int64_t{kGemmN} * kGemmN;
  DeviceBuffer a(elems), b(elems), d(elems * 2), workspace(kLtWorkspaceBytes);
  fill_normal_device(a.get(), kvattn::DType::kFloat8E4M3, elems, 13, 1.0f, stream);
  fill_normal_device(b.get(), kvattn::DType::kFloat8E4M3, elems, 14, 1.0f, stream);

  LtFp8Gemm g;
  BENCH_CUBLAS_CHECK(cublasLtCreate(&g.handle));
  BENCH_CUBLAS_CHECK(cublasLtMatmulDescCreate(&g.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
  BENCH_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(g.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a));
  BENCH_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(g.op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b));
  // Column-major: A stored k x m (used transposed), B k x n, C/D m x n.
  BENCH_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&g.a, CUDA_R_8F_E4M3, kGemmN, kGemmN, kGemmN));
  BENCH_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&g.b, CUDA_R_8F_E4M3, kGemmN, kGemmN, kGemmN));
  BENCH_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&g.c, CUDA_R_16BF, kGemmN, kGemmN, kGemmN));
  BENCH_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&g.pref));
  const uint64_t ws_bytes = kLtWorkspaceBytes;
  BENCH_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(g.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
                                                          sizeof ws_bytes));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  BENCH_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(g.handle, g.op, g.a, g.b, g.c, g.c, g.pref, 1, &heuristic, &found));
  if (found == 0) throw std::runtime_error("cuBLASLt found no algorithm for an e4m3 x e4m3 -> bf16 GEMM");

  const float alpha = 1.0f, beta = 0.0f;
  const double ms = median_ms(
      [&](int) {
        BENCH_CUBLAS_CHECK(cublasLtMatmul(g.handle, g.op, &alpha, a.get(), g.a, b.get(), g.b, &beta, d.get(), g.c,
                                          d.get(), g.c, &heuristic.algo, workspace.get(), kLtWorkspaceBytes, stream));
      },
      stream);
  return gemm_tflops(ms);
}

Ceilings measure_ceilings(cudaStream_t stream) {
  Ceilings c;
  auto attempt = [&](const char* what, double (*measure)(cudaStream_t), double& into) {
    std::cerr << "ceiling: " << what << " ... " << std::flush;
    try {
      into = measure(stream);
      std::cerr << into << "\n";
    } catch (const std::exception& e) {
      std::cerr << "failed: " << e.what() << "\n";
      cudaGetLastError();  // clear a non-sticky error so the attention runs still go on
    }
  };
  attempt("device copy (TB/s)", measure_copy_tbps, c.copy_tbps);
  attempt("cuBLAS bf16 GEMM 8192^3 (TFLOP/s)", measure_bf16_gemm_tflops, c.bf16_gemm_tflops);
  attempt("cuBLASLt e4m3 GEMM 8192^3 (TFLOP/s)", measure_fp8_gemm_tflops, c.fp8_gemm_tflops);
  return c;
}

}  // namespace kvattn_bench
