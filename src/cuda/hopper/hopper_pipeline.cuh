// The K and V stage rings of the Hopper prefill kernel: per stage a "full" mbarrier
// (the producer filled it) and an "empty" one (both consumer warpgroups are done
// with it), plus one staging barrier per FP8 raw tile. CUTLASS's PipelineAsync
// cannot be used as is: a stage is filled either by TMA (transaction bytes) or by
// cp.async (asynchronous arrivals), decided per tile, so the full barrier counts
// one arrival per producer thread and the TMA bytes ride on one of them.
#pragma once
#include <cutlass/arch/barrier.h>

#include <cstdint>
#include <cutlass/pipeline/sm90_pipeline.hpp>

namespace kvattn {
namespace cuda {
namespace hopper {

template <int kStages>
struct KvRing {
  uint64_t full[kStages];
  uint64_t empty[kStages];
};

// Work tiles in flight from the producer to the consumers (hopper_tile.cuh, TileSlot):
// the producer publishes work tile i + 1 while the consumers are on tile i (two
// slots: the D 128 stages leave ~400 bytes of shared memory).
constexpr int kTileSlots = 2;

// Consumer warpgroups a CTA may have (named barriers 2-7: their own and their ping-pong turns).
constexpr int kMaxConsumerWarpgroups = 3;

template <int kKStages, int kVStages>
struct HopperBarriers {
  KvRing<kKStages> k;
  KvRing<kVStages> v;
  KvRing<kTileSlots> tiles;     // full: the producer wrote the slot; empty: every consumer thread is done with it
  uint64_t raw_k[2], raw_v[2];  // FP8 staging tiles filled by TMA (transaction barriers, one arrival)
  uint64_t q_full[kMaxConsumerWarpgroups];  // per consumer warpgroup: its Q rows loaded by TMA (one arrival)

  // One thread initializes; a __syncthreads must follow before any use.
  __device__ void init(int producer_threads, int consumer_threads) {
    using cutlass::arch::ClusterBarrier;
    for (int s = 0; s < kKStages; ++s) {
      ClusterBarrier::init(&k.full[s], producer_threads);
      ClusterBarrier::init(&k.empty[s], consumer_threads);
    }
    for (int s = 0; s < kVStages; ++s) {
      ClusterBarrier::init(&v.full[s], producer_threads);
      ClusterBarrier::init(&v.empty[s], consumer_threads);
    }
    for (int s = 0; s < kTileSlots; ++s) {
      ClusterBarrier::init(&tiles.full[s], 1);
      ClusterBarrier::init(&tiles.empty[s], consumer_threads);
    }
    for (int i = 0; i < 2; ++i) {
      ClusterBarrier::init(&raw_k[i], 1);
      ClusterBarrier::init(&raw_v[i], 1);
    }
    for (int i = 0; i < kMaxConsumerWarpgroups; ++i) ClusterBarrier::init(&q_full[i], 1);
    cutlass::arch::fence_barrier_init();
  }
};

template <int kStages>
using RingState = cutlass::PipelineState<kStages>;

// Producer side: the first pass over the ring finds every stage empty.
template <int kStages>
__device__ __forceinline__ RingState<kStages> producer_start_state() {
  return RingState<kStages>(0, 1, 0);
}

template <class Ring, class State>
__device__ __forceinline__ void producer_acquire(Ring& r, const State& s) {
  cutlass::arch::ClusterBarrier::wait(&r.empty[s.index()], s.phase());
}
template <class Ring, class State>
__device__ __forceinline__ void consumer_wait(Ring& r, const State& s) {
  cutlass::arch::ClusterBarrier::wait(&r.full[s.index()], s.phase());
}
template <class Ring, class State>
__device__ __forceinline__ void consumer_release(Ring& r, const State& s) {
  cutlass::arch::ClusterBarrier::arrive(&r.empty[s.index()]);
}

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
