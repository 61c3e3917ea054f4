// Run-time switches of the Hopper prefill path, read once per process from the
// environment (for experiments; defaults are the measured best):
//   KVATTN_HOPPER_TMA=0|1         K/V by the cp.async gather always / TMA wherever the layout allows
//                                 (unset: the default policy of hopper_tma.h)
//   KVATTN_HOPPER_TMA_STORE=0|1   output rows by the threads always / by TMA stores where allowed (unset: 1)
//   KVATTN_HOPPER_TMA_Q=0|1       Q rows by the threads always / by TMA loads where allowed (unset: 1)
//   KVATTN_HOPPER_PINGPONG=0|1    consumer ping-pong never / always (unset: hopper_ping_pong.h's rule)
//   KVATTN_HOPPER_PACK_GQA=0|1    GQA packing never / whenever Hq > Hkv (unset: hopper_pack.h's rule)
//   KVATTN_HOPPER_L2_SECTIONS=0|1 persistent walk over all heads at once / one KV head at a time
//                                 (unset: hopper_l2.h's rule)
//   KVATTN_HOPPER_PREWIDEN=0|1    FP8 KV widened per tile always / into the workspace's 16-bit scratch
//                                 at any max_seqlen_q > 16 when it fits (unset: prewiden.h's rule)
//   KVATTN_HOPPER_EXPERIMENT=...  comma-separated diagnostics (hopper_params.h; results are wrong)
// Values they do not understand are reported on stderr and ignored.
#pragma once

namespace kvattn {
namespace cuda {
namespace hopper {

struct HopperSwitches {
  int tma = -1;  // -1 unset, 0 never, 1 wherever possible
  int tma_store = -1;  // -1 unset, 0 never, 1 wherever possible
  int tma_q = -1;      // the same for Q rows
  int ping_pong = -1;  // -1 unset, 0 never, 1 always
  int pack_gqa = -1;  // -1 unset, 0 never, 1 always
  int l2_sections = -1;  // -1 unset, 0 one section, 1 one KV head per section
  int prewiden = -1;     // -1 unset, 0 never, 1 whenever the scratch fits (prewiden.h)
  unsigned experiment = 0;  // kHopperNoLoad | kHopperNoSoftmax | kHopperNoWiden[K|V]
};

const HopperSwitches& hopper_switches();

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
