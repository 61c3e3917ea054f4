// Compile-time shape of the Hopper (sm_90a) prefill kernel for one (head dim,
// q dtype, KV storage): tile sizes, the CuTe shared-memory layouts and tiled
// WGMMAs, and the byte map of shared memory. See hopper_kernel.cuh for the
// roles of the three warpgroups.
#pragma once
#include "cuda/hopper/hopper_cute_config.h"  // first: configures CuTe
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cutlass/numeric_types.h>

#include <cstdint>
#include <cute/atom/mma_traits_sm90_gmma.hpp>
#include <cute/tensor.hpp>
#include <type_traits>

#include "cuda/hopper/hopper_pipeline.cuh"
#include "cuda/hopper/hopper_tile.cuh"

namespace kvattn {
namespace cuda {
namespace hopper {

// Tile per head dim: 128 query rows (two consumer warpgroups x 64, the WGMMA
// M) and KV tiles of kBlockN keys (D 256: 80 with 16-bit KV, FA3's shape, 3%
// faster than 64 on an H100; 64 with FP8, whose staging tiles leave no room).
// Stage counts of the K and V rings fill the 227 KB: with a third stage the
// producer's copies have two consumer slots to land instead of one (V is the
// tighter ring: a V stage frees a slot later than a K stage). FP8 KV also needs
// packed staging tiles for K and V: two of each (the producer widens one while
// TMA fills the next) where they fit.
//   16-bit: D <= 128 3 + 3 stages, D 256 2 + 2;
//   FP8: D 64 3 + 3 and two staging pairs, D 128 2 + 2 and two, D 256 2 + 2 and one.
// D 64 with 16-bit KV: 192 rows, three consumer warpgroups (FA3's D 64 shape): at D 64
// the exponentials cost as much as the GEMMs, and a third warpgroup has GEMMs to issue
// while two run their softmax (bf16 prefill_d64 372 -> 438 TFLOP/s on an H100). FP8
// keeps two: 512 threads leave the producer 32 registers, and its widening then spills
// (~1.1 KB of local loads per thread, measured by ptxas); at 48 + 152 registers it
// spilled 142-162 bytes and ran only 2-3% faster (docs/perf-notes.md, session 8).
template <int kHeadDim, bool kFp8Kv>
struct HopperShape {
  static constexpr int kConsumerWarpgroups = kHeadDim <= 64 && !kFp8Kv ? 3 : 2;
  static constexpr int kBlockM = 64 * kConsumerWarpgroups;
  static constexpr int kBlockN = kHeadDim <= 128 ? 128 : kFp8Kv ? 64 : 80;
  static constexpr int kKStages = kHeadDim <= 64 || (kHeadDim <= 128 && !kFp8Kv) ? 3 : 2;
  static constexpr int kVStages = kKStages;
  static constexpr int kRawBuffers = kFp8Kv ? (kHeadDim <= 128 ? 2 : 1) : 0;
  // Steady KV slots wait for V(j-1) between issuing S(j) and P(j-1) V(j-1) (hopper_kernel.cuh).
  static constexpr bool kLateVWait = kHeadDim == 128;
};

// How the KV cache stores elements: the q dtype, or FP8 (e4m3 / e5m2 picked at
// run time by the producer: the format only changes the widening instruction).
template <int kHeadDim_, class QT_, bool kFp8Kv_>
struct HopperTraits : HopperShape<kHeadDim_, kFp8Kv_> {
  using Shape_ = HopperShape<kHeadDim_, kFp8Kv_>;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kBlockM = Shape_::kBlockM, kBlockN = Shape_::kBlockN;
  static constexpr int kConsumerWarpgroups = Shape_::kConsumerWarpgroups;
  static constexpr bool kLateVWait = Shape_::kLateVWait;
  static constexpr int kKStages = Shape_::kKStages, kVStages = Shape_::kVStages, kRawBuffers = Shape_::kRawBuffers;
  static constexpr bool kFp8Kv = kFp8Kv_;
  using QT = QT_;  // q and out as stored (__nv_bfloat16 or __half)
  // The tensor cores multiply in fp16 when KV is FP8 (fp8 -> fp16 is one cvt
  // per two values; -> bf16 would take four), so a bf16 q is rewritten per row
  // as fp16 x 2^c (kQToHalf, exact to 2^-31 of the row max; the 2^-c joins that
  // row's logit scale).
  static constexpr bool kQToHalf = kFp8Kv && std::is_same<QT, __nv_bfloat16>::value;
  using MmaT = std::conditional_t<kFp8Kv || std::is_same<QT, __half>::value, cute::half_t, cute::bfloat16_t>;

  static constexpr int kWarpgroups = 1 + kConsumerWarpgroups;  // 0: producer, 1..: consumers
  static constexpr int kThreads = kWarpgroups * 128;
  static constexpr int kConsumerThreads = kConsumerWarpgroups * 128;
  // Registers per thread after setmaxnreg (multiples of 8). setmaxnreg only moves
  // registers the CTA got at launch (168 x 384 under __launch_bounds__(384, 1)), so
  // 128 x producer + consumer threads x consumer <= that (a larger request blocks
  // forever); the consumers take what the producer leaves.
  // D <= 128 runs persistent (a loop over work tiles, hopper_kernel.cuh); its FP8
  // producer keeps kWidenBatch 16-byte FP8 loads in flight per thread (4: 16
  // registers of codes), which needs 104 (at 88 it spilled 12-20 bytes); the
  // consumers get 200. The 16-bit D 128 producer does no widening (TMA boxes or cp.async
  // gathers): 56 registers (walk parked), the consumers 224 for their Q fragments
  // (kQInRegisters; at 64 + 216 they spilled).
  // D 256's consumers need more for their 64 x 256 accumulator, so D 256 keeps one
  // CTA per work tile, 56 + 224 (the FP8 producer widens 2 loads at a time; 40 + 232
  // with one load in flight ran D 256 e4m3 12% slower, and a 32-register 16-bit
  // producer with 232-register consumers 2-3% slower; persistent at 56 + 224, D 256
  // bf16 ran 8% slower, session 12); its consumers fit 224 only with kShortLiveRanges.
  // Three consumer warpgroups (D 64, 16-bit KV): 512 threads get 128 registers at
  // launch; the TMA-only producer keeps 32, the consumers 160 (at 40 + 152 the
  // consumers spill inside the KV-tile loop).
  static constexpr bool kPersistent = kHeadDim_ <= 128;
  // D 256 consumers rebuild Q's WGMMA descriptors at each use and their thread's
  // addresses for the epilogue, so neither is held across the KV-tile loop (held, they
  // spilled 28-68 bytes there). (Every kernel's epilogue reads its tile's fields again
  // from the tile slot, hopper_kernel.cuh.)
  static constexpr bool kShortLiveRanges = kHeadDim_ == 256;
  // 16-bit KV at D 128: each consumer thread holds its Q fragment in registers (32 per
  // thread, loaded once per work tile), so Q K^T reads only K from shared memory -- 2 KB
  // less per 64-clock WGMMA, a fifth of what the two products read from shared memory,
  // which share that bandwidth with the TMA writes (prefill_4x8k 2-3% faster; the
  // registers come from the producer, 56 instead of 104, which then parks its walk).
  // FP8 KV's consumers have no 32 registers to spare (its producer widens with 104), nor
  // D 64's three 160-register warpgroups (16 more spilled 96 bytes and serialized WGMMAs).
  static constexpr bool kQInRegisters = kHeadDim_ == 128 && !kFp8Kv_;
  // D 128 with a bf16 q and FP8 KV or with Q in registers, and the three-consumer D 64
  // kernels: the consumers recompute their Q / output addresses per work tile (kept across
  // the persistent loop, ptxas put them in local memory). Costs ~2% on D 64 bf16 (session
  // 10, perf-notes §1).
  static constexpr bool kRecomputeThreadAddresses =
      (kHeadDim_ == 128 && (kQToHalf || kQInRegisters)) || Shape_::kConsumerWarpgroups == 3;
  static constexpr int kProducerRegs = kConsumerWarpgroups == 3 ? 32 : kPersistent && kFp8Kv ? 104 : 56;
  static constexpr int kWidenBatch = kPersistent ? 4 : 2;
  // The 32- and 56-register persistent producers park their walk in shared memory while
  // they load a work tile (hopper_kernel.cuh, for_each_work): kept in registers, ptxas
  // spilled it to local memory.
  static constexpr bool kParkWalk = kPersistent && kProducerRegs <= 56;
  static constexpr int kLaunchRegs = (65536 / kThreads) / 8 * 8;  // per thread under __launch_bounds__(kThreads, 1)
  static constexpr int kConsumerRegs = (kLaunchRegs * kThreads - 128 * kProducerRegs) / kConsumerThreads / 8 * 8;
  static_assert(128 * kProducerRegs + kConsumerThreads * kConsumerRegs <= kLaunchRegs * kThreads,
                "setmaxnreg moves registers, never adds");

  // ---- CuTe layouts: 128-byte-swizzled K-major tiles (rows of kHeadDim
  // elements), built of 8-row x 64-column atoms (1 KB) ----
  // Q: the atoms of one 64-column slice for all rows, then the next slice.
  // K/V stages: the atoms of 8 rows for all columns, then the next 8 rows
  // (kv_stage_offset): a page's rows of a tile are then one contiguous block, so one
  // TMA box brings them in (hopper_tma.cu). With slices outermost, a 16-row page of a
  // D 128 tile took two boxes: 16-row pages loaded 12% slower than 32-row ones.
  using SmemAtom = decltype(cute::GMMA::Layout_K_SW128_Atom<MmaT>{});
  using SmemLayoutQ = decltype(cute::tile_to_shape(SmemAtom{}, cute::Shape<cute::Int<kBlockM>, cute::Int<kHeadDim>>{}));
  using SmemLayoutK = decltype(cute::tile_to_shape(
      SmemAtom{}, cute::Shape<cute::Int<kBlockN>, cute::Int<kHeadDim>, cute::Int<kKStages>>{},
      cute::Step<cute::_2, cute::_1, cute::_3>{}));
  using SmemLayoutV = decltype(cute::tile_to_shape(
      SmemAtom{}, cute::Shape<cute::Int<kBlockN>, cute::Int<kHeadDim>, cute::Int<kVStages>>{},
      cute::Step<cute::_2, cute::_1, cute::_3>{}));
  // V seen as (head dim, key, stage): the MN-major B operand of O += P V.
  using SmemLayoutVt = decltype(cute::composition(
      SmemLayoutV{},
      cute::make_ordered_layout(cute::Shape<cute::Int<kHeadDim>, cute::Int<kBlockN>, cute::Int<kVStages>>{},
                                cute::Step<cute::_2, cute::_1, cute::_3>{})));

  // S = Q K^T: B (K) from shared memory, A (Q) from shared memory, or from registers with
  // kQInRegisters; O += P V: P from registers. The warpgroups side by side along M, 64 rows each.
  using QkAtomShape = cute::Shape<cute::_64, cute::Int<kBlockN>, cute::Int<kHeadDim>>;
  using TiledMmaQK = decltype(cute::make_tiled_mma(
      std::conditional_t<kQInRegisters, decltype(cute::GMMA::rs_op_selector<MmaT, MmaT, float, QkAtomShape>()),
                         decltype(cute::GMMA::ss_op_selector<MmaT, MmaT, float, QkAtomShape>())>{},
      cute::Layout<cute::Shape<cute::Int<kConsumerWarpgroups>, cute::_1, cute::_1>>{}));
  using TiledMmaPV = decltype(cute::make_tiled_mma(
      cute::GMMA::rs_op_selector<MmaT, MmaT, float, cute::Shape<cute::_64, cute::Int<kHeadDim>, cute::Int<kBlockN>>,
                                 cute::GMMA::Major::K, cute::GMMA::Major::MN>(),
      cute::Layout<cute::Shape<cute::Int<kConsumerWarpgroups>, cute::_1, cute::_1>>{}));

  static_assert(cute::size<1>(typename TiledMmaQK::AtomShape_MNK{}) == kBlockN,
                "one Q K^T GMMA spans the KV tile (hopper_cute_config.h must come before CuTe)");

  using Barriers = HopperBarriers<kKStages, kVStages>;
  static_assert(kConsumerWarpgroups <= kMaxConsumerWarpgroups, "named barriers and q_full serve three at most");

  // ---- shared memory map (bytes from the 1024-aligned dynamic base) ----
  static constexpr int kTileRowBytes = kHeadDim * 2;
  static constexpr int kQBytes = kBlockM * kTileRowBytes;
  static constexpr int kKvStageBytes = kBlockN * kTileRowBytes;
  static constexpr int kRawBytes = kBlockN * kHeadDim;  // one packed FP8 tile
  static constexpr int kOffQ = 0;
  static constexpr int kOffK = kOffQ + kQBytes;
  static constexpr int kOffV = kOffK + kKStages * kKvStageBytes;
  static constexpr int kOffRawK = kOffV + kVStages * kKvStageBytes;
  static constexpr int kOffRawV = kOffRawK + kRawBuffers * kRawBytes;  // raw K buffers, then raw V buffers
  static constexpr int kOffRows = kOffRawV + kRawBuffers * kRawBytes;  // int64 [2][kBlockN]: KV element offsets
  static constexpr int kOffRowFactor = kOffRows + 2 * kBlockN * 8;     // kQToHalf: float [kBlockM]
  // kParkWalk: 32 bytes per producer warp.
  static constexpr int kOffWalkPark = kOffRowFactor + (kQToHalf ? kBlockM * 4 : 0);
  static constexpr int kOffTiles = kOffWalkPark + (kParkWalk ? 4 * 32 : 0);  // TileSlot [kTileSlots]
  static constexpr int kOffBarriers = kOffTiles + kTileSlots * static_cast<int>(sizeof(TileSlot));
  static constexpr int kUsedBytes = kOffBarriers + static_cast<int>(sizeof(Barriers));
  static constexpr int kSmemBytes = kUsedBytes;  // the dynamic base is 1024-aligned (checked in the kernel)

  static_assert(kHeadDim % 64 == 0, "the 128-byte swizzle atom spans 64 elements");
  static_assert(kBlockN <= 128, "one producer thread per row of the row table");
  static_assert(kOffBarriers % 8 == 0 && kOffTiles % 8 == 0, "mbarriers and tile slots are 8-byte aligned");
  static_assert(kSmemBytes <= 227 * 1024, "fits an H100 SM's shared memory (227 KB per block)");
};

// The 128-byte swizzle of a byte offset inside 1 KB-aligned 8-row x 128-byte atoms:
// the 16-byte chunk index XORed with the row index mod 8.
__host__ __device__ __forceinline__ uint32_t sw128(uint32_t linear) { return linear ^ (((linear >> 7) & 7u) << 4); }

// Byte offset of 16-bit element (row, col) in a [rows x kHeadDim] tile laid out
// like SmemLayoutQ (K-major, 128-byte swizzle): 64-column slices, each `rows`
// rows of 128 bytes.
// The Q/O staging addresses the Q tile through this; a host test
// (tests/gpu/test_hopper_layout.cu) checks it against the CuTe layouts.
template <int kHeadDim>
__host__ __device__ __forceinline__ uint32_t sw128_offset(int rows, int row, int col) {
  return sw128(static_cast<uint32_t>((col / 64) * rows * 128 + row * 128 + (col % 64) * 2));
}

// The same for a K/V stage (SmemLayoutK/V): 8-row groups of kHeadDim * 16 bytes,
// each the row group's 64-column atoms (1 KB) side by side.
template <int kHeadDim>
__host__ __device__ __forceinline__ uint32_t kv_stage_offset(int row, int col) {
  return sw128(
      static_cast<uint32_t>((row / 8) * (kHeadDim * 16) + (col / 64) * 1024 + (row % 8) * 128 + (col % 64) * 2));
}

// kv_stage_offset's row term for row r = r0 + i * kStep, when r0 < kStep (a
// thread's first row of a pass loop; kStep 4: rows r0, r0 + 4 of group 0, then of
// group 1, ...). offset(r0, i) = offset(r0, 0) + offset(0, i).
template <int kHeadDim, int kStep>
struct StageRows {
  static_assert(kStep % 8 == 0 || kStep == 4, "passes move whole 8-row groups, or half of one");
  // Bytes from pass i to pass i + n, for n even (or any n when passes move whole groups).
  static constexpr uint32_t span(int n) { return static_cast<uint32_t>(n * kStep * kHeadDim * 2); }
  static __host__ __device__ __forceinline__ uint32_t offset(uint32_t r0, uint32_t i) {
    if constexpr (kHeadDim == 64)  // one slice: rows in order
      return (r0 + i * kStep) * 128u;
    else if constexpr (kStep % 8 == 0)  // r0's terms plus a constant per pass
      return ((r0 >> 3) + i * (kStep / 8)) * (kHeadDim * 16) + (r0 & 7u) * 128u;
    else
      return (i >> 1) * (kHeadDim * 16) + (r0 + 4u * (i & 1u)) * 128u;
  }
};

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
