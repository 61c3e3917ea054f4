// GPU timing with CUDA events: each repetition is bracketed by its own event
// pair on the stream, so host launch gaps between repetitions are not counted.
#pragma once
#include <functional>
#include <vector>

#include <cuda_runtime.h>

namespace kvattn_bench {

// Calls launch(rep) for rep in [0, reps) on `stream`; returns each one's GPU time in ms.
std::vector<double> time_launches(const std::function<void(int rep)>& launch, int reps, cudaStream_t stream);

// --sustain: seconds of back-to-back launches before each timing (ceilings and rows),
// so that what follows runs in the power-capped steady state of sustained load rather
// than in the burst after an idle gap (docs/benchmarks.md, "Power regime"). 0 = off.
void set_sustain_seconds(double seconds);
// Calls launch(0), launch(1), ... back to back on `stream` for those seconds of
// wall time (in batches of 8, syncing after each); nothing when it is 0.
void sustain(const std::function<void(int rep)>& launch, cudaStream_t stream);

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
