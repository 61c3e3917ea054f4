// Seeded random source for test cases. Every case gets its own seed (printed
// on failure) so one case can be replayed alone.
#pragma once
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace kvtest {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  int uniform_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(engine_); }  // [lo, hi]
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(engine_); }
  double normal() { return normal_(engine_); }
  bool chance(double p) { return uniform(0.0, 1.0) < p; }
  template <class T>
  T pick(const std::vector<T>& options) {
    return options[static_cast<size_t>(uniform_int(0, static_cast<int>(options.size()) - 1))];
  }
  template <class T>
  void shuffle(std::vector<T>& v) { std::shuffle(v.begin(), v.end(), engine_); }
  uint64_t next_u64() { return engine_(); }

 private:
  std::mt19937_64 engine_;
  std::normal_distribution<double> normal_{0.0, 1.0};
};

}  // namespace kvtest
