// Host-only check (runs without a GPU): the hand-written swizzled addressing
// the Hopper kernel's Q/O staging (sw128_offset) and producer (kv_stage_offset,
// StageRows; the TMA boxes land in the same order) use must put every element
// exactly where the CuTe layouts that build the WGMMA descriptors expect it --
// for K/V stages, the Q tile, and V seen transposed (the P V operand).
#if __has_include(<cute/tensor.hpp>)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

#include "cuda/hopper/hopper_traits.h"

namespace {

using kvattn::cuda::hopper::HopperTraits;
using kvattn::cuda::hopper::kv_stage_offset;
using kvattn::cuda::hopper::sw128_offset;

constexpr uintptr_t kFakeBase = uintptr_t{1} << 20;  // 1024-aligned; never dereferenced

template <class Tensor, class... Coord>
uint32_t byte_offset(Tensor& t, Coord... c) {
  return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(&t(c...)) - kFakeBase);
}

template <int kD, class QT, bool kFp8>
void check_layouts() {
  using T = HopperTraits<kD, QT, kFp8>;
  using MmaT = typename T::MmaT;
  MmaT* base = reinterpret_cast<MmaT*>(kFakeBase);
  auto sQ = cute::make_tensor(cute::make_smem_ptr(base), typename T::SmemLayoutQ{});
  auto sK = cute::make_tensor(cute::make_smem_ptr(base), typename T::SmemLayoutK{});
  auto sVt = cute::make_tensor(cute::make_smem_ptr(base), typename T::SmemLayoutVt{});
  int bad = 0;
  for (int r = 0; r < T::kBlockM; ++r)
    for (int c = 0; c < kD; ++c)
      if (byte_offset(sQ, r, c) != sw128_offset<kD>(T::kBlockM, r, c) && ++bad < 5)
        ADD_FAILURE() << "Q (" << r << ", " << c << ")";
  for (int s = 0; s < std::max(T::kKStages, T::kVStages); ++s)
    for (int r = 0; r < T::kBlockN; ++r)
      for (int c = 0; c < kD; ++c) {
        const uint32_t want = s * T::kKvStageBytes + kv_stage_offset<kD>(r, c);
        if (s < T::kKStages && byte_offset(sK, r, c, s) != want && ++bad < 5)
          ADD_FAILURE() << "K (" << r << ", " << c << ", " << s << ")";
        if (s < T::kVStages && byte_offset(sVt, c, r, s) != want && ++bad < 5)
          ADD_FAILURE() << "Vt (" << c << ", " << r << ", " << s << ")";
      }
  // A TMA box of 8k rows from row r (a multiple of 8) fills bytes [r, r + 8k) * kD * 2
  // of the stage, 8-row groups in order, each its 64-column slices in order.
  for (int r = 0; r < T::kBlockN; ++r)
    for (int c = 0; c < kD; ++c) {
      const uint32_t box_order = ((r / 8) * (kD / 64) + c / 64) * 1024 + (r % 8) * 128 + (c % 64) * 2;
      if ((kv_stage_offset<kD>(r, c) & ~0x70u) != (box_order & ~0x70u) && ++bad < 5)
        ADD_FAILURE() << "box order (" << r << ", " << c << ")";
    }
  EXPECT_EQ(bad, 0) << "head dim " << kD;
}

TEST(HopperLayout, SwizzledOffsetsMatchCuTe) {
  check_layouts<64, __nv_bfloat16, false>();
  check_layouts<128, __nv_bfloat16, false>();
  check_layouts<128, __nv_bfloat16, true>();
  check_layouts<256, __half, true>();
  check_layouts<256, __nv_bfloat16, false>();  // 80-key K/V tiles
}

// The producer's per-pass row offsets (StageRows) for the steps its loops take.
template <int kD, int kStep>
void check_stage_rows(int rows) {
  using kvattn::cuda::hopper::StageRows;
  for (int r0 = 0; r0 < kStep; ++r0)
    for (int i = 0; r0 + i * kStep < rows; ++i) {
      const int r = r0 + i * kStep;
      const uint32_t got = StageRows<kD, kStep>::offset(r0, i);
      EXPECT_EQ(got, static_cast<uint32_t>((r / 8) * kD * 16 + (r % 8) * 128))
          << "D " << kD << " step " << kStep << " row " << r;
    }
}

TEST(HopperLayout, ProducerRowSteps) {
  check_stage_rows<64, 16>(128);
  check_stage_rows<64, 32>(128);
  check_stage_rows<128, 8>(128);
  check_stage_rows<128, 16>(128);
  check_stage_rows<256, 4>(80);
  check_stage_rows<256, 8>(64);
}

TEST(HopperLayout, SharedMemoryFitsAnH100) {
  EXPECT_LE((HopperTraits<256, __nv_bfloat16, true>::kSmemBytes), 227 * 1024);
  EXPECT_LE((HopperTraits<256, __nv_bfloat16, false>::kSmemBytes), 227 * 1024);
  EXPECT_LE((HopperTraits<128, __nv_bfloat16, true>::kSmemBytes), 227 * 1024);
}

}  // namespace
#endif
