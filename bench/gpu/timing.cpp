#include "timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "cuda_util.h"

namespace kvattn_bench {

namespace {
// Owns the event pairs so an exception in launch() does not leak them.
struct EventPairs {
  std::vector<cudaEvent_t> events;
  explicit EventPairs(int reps) : events(2 * static_cast<size_t>(reps), nullptr) {
    for (cudaEvent_t& e : events) BENCH_CUDA_CHECK(cudaEventCreate(&e));
  }
  ~EventPairs() {
    for (cudaEvent_t e : events)
      if (e) cudaEventDestroy(e);
  }
};
}  // namespace

namespace {
double g_sustain_seconds = 0.0;
}  // namespace

void set_sustain_seconds(double seconds) { g_sustain_seconds = seconds; }

void sustain(const std::function<void(int rep)>& launch, cudaStream_t stream) {
  if (g_sustain_seconds <= 0) return;
  const auto start = std::chrono::steady_clock::now();
  int rep = 0;
  do {
    for (int i = 0; i < 8; ++i) launch(rep++);
    BENCH_CUDA_CHECK(cudaStreamSynchronize(stream));
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < g_sustain_seconds);
  BENCH_CUDA_CHECK(cudaGetLastError());
}

std::vector<double> time_launches(const std::function<void(int rep)>& launch, int reps, cudaStream_t stream) {
  EventPairs ev(reps);
  for (int r = 0; r < reps; ++r) {
    BENCH_CUDA_CHECK(cudaEventRecord(ev.events[2 * r], stream));
    launch(r);
    BENCH_CUDA_CHECK(cudaEventRecord(ev.events[2 * r + 1], stream));
  }
  BENCH_CUDA_CHECK(cudaStreamSynchronize(stream));
  BENCH_CUDA_CHECK(cudaGetLastError());
  std::vector<double> ms(reps);
  for (int r = 0; r < reps; ++r) {
    float elapsed = 0;
    BENCH_CUDA_CHECK(cudaEventElapsedTime(&elapsed, ev.events[2 * r], ev.events[2 * r + 1]));
    ms[r] = elapsed;
  }
  return ms;
}

int reps_for_budget(double one_call_ms, double budget_ms, int min_reps, int max_reps) {
  const double want = std::ceil(budget_ms / std::max(one_call_ms, 1e-3));
  return static_cast<int>(std::clamp<double>(want, min_reps, max_reps));
}

CapturedGraph::CapturedGraph(const std::function<void()>& record, cudaStream_t stream) {
  BENCH_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  try {
    record();
  } catch (...) {
    cudaGraph_t partial = nullptr;
    cudaStreamEndCapture(stream, &partial);  // leave the stream usable
    if (partial) cudaGraphDestroy(partial);
    throw;
  }
  BENCH_CUDA_CHECK(cudaStreamEndCapture(stream, &graph_));
  const cudaError_t err = cudaGraphInstantiate(&exec_, graph_, 0);
  if (err != cudaSuccess) {
    cudaGraphDestroy(graph_);
    throw_cuda(err, "cudaGraphInstantiate(&exec_, graph_, 0)", __FILE__, __LINE__);
  }
}

CapturedGraph::~CapturedGraph() {
  if (exec_) cudaGraphExecDestroy(exec_);
  if (graph_) cudaGraphDestroy(graph_);
}

void CapturedGraph::launch(cudaStream_t stream) const {
  BENCH_CUDA_CHECK(cudaGraphLaunch(exec_, stream));
}

}  // namespace kvattn_bench
