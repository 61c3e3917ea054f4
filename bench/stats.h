// Median / min / max of a set of timings.
#pragma once
#include <algorithm>
#include <vector>

namespace kvattn_bench {

struct TimeSummary {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int reps = 0;
};

inline TimeSummary summarize(std::vector<double> ms) {
  TimeSummary s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  s.median_ms = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  s.min_ms = ms.front();
  s.max_ms = ms.back();
  s.reps = static_cast<int>(n);
  return s;
}

}  // namespace kvattn_bench
