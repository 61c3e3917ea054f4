// GPU timing with CUDA events: each repetition is bracketed by its own event
// pair on the stream, so host launch gaps between repetitions are not counted.
#pragma once
#include <functional>
#include <vector>

#include <cuda_runtime.h>

namespace kvattn_bench {

// Calls launch(rep) for rep in [0, reps) on `stream`; returns each one's GPU time in ms.
std::vector<double> time_launches(const std::function<void(int rep)>& launch, int reps, cudaStream_t stream);

// Reps that fill about `budget_ms` given one call's time, within [min_reps, max_reps].
int reps_for_budget(double one_call_ms, double budget_ms, int min_reps, int max_reps);

// A CUDA graph of whatever `record` enqueues on `stream` (captured in global
// mode, so an illegal call during capture, e.g. a sync or a cudaMalloc, fails).
class CapturedGraph {
 public:
  CapturedGraph(const std::function<void()>& record, cudaStream_t stream);
  ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;
  void launch(cudaStream_t stream) const;

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace kvattn_bench
