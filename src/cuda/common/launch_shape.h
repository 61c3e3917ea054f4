// Host-side helpers shared by the row-wise elementwise kernels (cache write,
// merge): choosing the widest vector access the pointers and strides allow,
// and the 2-D block shape (chunks of a row along x, rows along y).
#pragma once
#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include <cuda_runtime.h>

namespace kvattn {
namespace cuda {

// True when every pointer and every byte stride is a multiple of `bytes`.
inline bool all_aligned(std::initializer_list<const void*> pointers, std::initializer_list<int64_t> byte_strides,
                        int64_t bytes) {
  for (const void* p : pointers)
    if (reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) != 0) return false;
  for (int64_t s : byte_strides)
    if (s % bytes != 0) return false;
  return true;
}

// Launch shape for `rows` rows of `chunks_per_row` independent chunks: x walks a
// row's chunks (looping when a row has more than a block's threads), y packs
// several short rows into one block so small rows still fill 256 threads.
struct RowLaunch {
  dim3 grid;
  dim3 block;
};

inline RowLaunch row_launch(int64_t rows, int chunks_per_row) {
  constexpr int kThreads = 256;
  constexpr int64_t kMaxBlocks = 1 << 30;  // kernels loop over rows beyond this (grid-stride)
  const int x = std::max(1, std::min(chunks_per_row, kThreads));
  const int y = kThreads / x;
  const int64_t blocks = std::min<int64_t>(std::max<int64_t>((rows + y - 1) / y, 1), kMaxBlocks);
  return RowLaunch{dim3(static_cast<unsigned>(blocks)), dim3(static_cast<unsigned>(x), static_cast<unsigned>(y))};
}

}  // namespace cuda
}  // namespace kvattn
