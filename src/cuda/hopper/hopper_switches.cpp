// Reads the Hopper prefill switches (hopper_switches.h) once per process.
#include "cuda/hopper/hopper_switches.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda/hopper/hopper_params.h"

namespace kvattn {
namespace cuda {
namespace hopper {
namespace {

// 0 or 1 from the variable `name`; -1 when unset or not understood (reported).
int read_01(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return -1;
  if (std::strcmp(v, "0") == 0 || std::strcmp(v, "1") == 0) return v[0] - '0';
  std::fprintf(stderr, "kvattn: %s: expected 0 or 1, got '%s' (ignored)\n", name, v);
  return -1;
}

unsigned read_experiment() {
  const char* v = std::getenv("KVATTN_HOPPER_EXPERIMENT");
  if (v == nullptr) return 0;
  unsigned f = 0;
  const std::string list(v);
  for (size_t start = 0; start <= list.size();) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string name = list.substr(start, end - start);
    if (name == "noload")
      f |= kHopperNoLoad;
    else if (name == "nosoftmax")
      f |= kHopperNoSoftmax;
    else if (name == "nowiden")
      f |= kHopperNoWiden;
    else if (name == "nowidenk")
      f |= kHopperNoWidenK;
    else if (name == "nowidenv")
      f |= kHopperNoWidenV;
    else if (!name.empty())
      std::fprintf(stderr,
                   "kvattn: KVATTN_HOPPER_EXPERIMENT: unknown '%s' "
                   "(expected noload, nosoftmax, nowiden, nowidenk, nowidenv)\n",
                   name.c_str());
    start = end + 1;
  }
  if (f != 0) std::fprintf(stderr, "kvattn: KVATTN_HOPPER_EXPERIMENT=%s (0x%x): results are wrong\n", v, f);
  return f;
}

}  // namespace

const HopperSwitches& hopper_switches() {
  static const HopperSwitches s = [] {
    HopperSwitches r;
    r.tma = read_01("KVATTN_HOPPER_TMA");
    r.tma_store = read_01("KVATTN_HOPPER_TMA_STORE");
    r.tma_q = read_01("KVATTN_HOPPER_TMA_Q");
    r.ping_pong = read_01("KVATTN_HOPPER_PINGPONG");
    r.pack_gqa = read_01("KVATTN_HOPPER_PACK_GQA");
    r.l2_sections = read_01("KVATTN_HOPPER_L2_SECTIONS");
    r.prewiden = read_01("KVATTN_HOPPER_PREWIDEN");
    r.experiment = read_experiment();
    return r;
  }();
  return s;
}

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
