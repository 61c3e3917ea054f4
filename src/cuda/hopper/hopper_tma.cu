// Host: TMA descriptors of the paged K/V cache for the Hopper prefill kernel.
// The driver's cuTensorMapEncodeTiled is reached through the runtime's entry-point
// query, so kvattn links no libcuda. Encoding is pure host work (no stream
// operation, no allocation): safe inside CUDA-graph capture.
#include "cuda/hopper/hopper_tma.h"

#include <algorithm>
#include <cstdint>
#include <numeric>

#if defined(KVATTN_HAVE_HOPPER_KERNELS)
#include <cuda.h>
#include <cuda_runtime.h>
#endif

namespace kvattn {
namespace cuda {
namespace hopper {

namespace {
// A TMA global stride (bytes): a positive multiple of 16 below 2^40.
bool tma_stride_ok(int64_t bytes) { return bytes > 0 && bytes % 16 == 0 && bytes < (int64_t{1} << 40); }
}  // namespace

bool uses_row_groups(const AttentionProblem& p) {
  return !is_fp8(p.kv_dtype) && p.head_dim > 64;
}

int row_groups_per_block(const AttentionProblem& p, int64_t stride_block, int64_t stride_token) {
  const int64_t group = 8 * stride_token;
  if (stride_token <= 0 || stride_block % group != 0) return 0;
  const int64_t groups = stride_block / group;
  // A page's rows fit in its block's groups (else blocks overlap), and the group
  // coordinate block * groups + row / 8 stays an int32.
  if (groups * 8 < p.page_size || groups > INT32_MAX / std::max<int64_t>(p.num_blocks, 1)) return 0;
  return static_cast<int>(groups);
}

int tma_box_rows(const AttentionProblem& p, int block_n, int env) {
  if (!p.paged || env == 0) return 0;
  const int page = p.page_size;
  // Boxes of gcd(page, tile) rows: none crosses a page or a tile (tiles start at
  // multiples of block_n, pages at multiples of page), e.g. a 64-row page and an
  // 80-key tile take 16-row boxes. Multiples of 8 rows keep every box on a whole
  // 128-byte swizzle period (1 KB) of the stage.
  if (page <= 0 || block_n <= 0) return 0;
  const int box_rows = std::gcd(page, block_n);
  if (box_rows % 8 != 0) return 0;
  // Coordinates are int32; a box row is at most 256 elements.
  if (p.num_blocks <= 0 || p.num_blocks > INT32_MAX || p.head_dim > 256) return 0;
  const bool fp8 = is_fp8(p.kv_dtype);
  const int64_t elem = fp8 ? 1 : 2;
  // TMA strides: multiples of 16 bytes below 2^40.
  for (const int64_t s :
       {p.k_stride_token, p.k_stride_head, p.k_stride_block, p.v_stride_token, p.v_stride_head, p.v_stride_block})
    if (!tma_stride_ok(s * elem)) return 0;
  // 16-bit KV with D > 64 addresses the cache in 8-row groups (hopper_params.h): the
  // block stride must be a whole number of them.
  if (uses_row_groups(p) && (row_groups_per_block(p, p.k_stride_block, p.k_stride_token) == 0 ||
                             row_groups_per_block(p, p.v_stride_block, p.v_stride_token) == 0))
    return 0;
  // Default: TMA when a box carries at least 1 KB. Measured on an
  // H200 against the cp.async gather (TFLOP/s, prefill_4x8k unless named): bf16
  // 16-row pages 535 vs 412, 128-row pages 586 vs 420; e4m3 16-row pages 358 vs
  // 351, d256 395 vs 345; D 64 e4m3 (1 KB per page) 261 vs 294 while the FP8
  // widening held one load in flight, 367-371 vs 323-324 since it holds four.
  if (env != 1 && int64_t{box_rows} * p.head_dim * elem < 1024) return 0;
  return box_rows;
}

namespace {
// One tensor of rows (q or out): dims (d, head, token), 16-bit elements.
bool rows_allowed(const AttentionProblem& p, const void* base, int64_t stride_token, int64_t stride_head) {
  if (is_fp8(p.q_dtype) || p.head_dim % 64 != 0 || p.head_dim > 256 || p.total_q <= 0 || p.num_q_heads <= 0)
    return false;
  if (reinterpret_cast<uintptr_t>(base) % 16 != 0) return false;
  // Coordinates are int32 (token, head).
  if (p.total_q > INT32_MAX) return false;
  return tma_stride_ok(stride_token * 2) && tma_stride_ok(stride_head * 2);
}
}  // namespace

bool out_store_allowed(const AttentionProblem& p) {
  return rows_allowed(p, p.out, p.out_stride_token, p.out_stride_head);
}
bool q_load_allowed(const AttentionProblem& p) { return rows_allowed(p, p.q, p.q_stride_token, p.q_stride_head); }

#if defined(KVATTN_HAVE_HOPPER_KERNELS)
namespace {

using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                   const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                   CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeTiledFn encode_tiled() {
  static const EncodeTiledFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      return static_cast<EncodeTiledFn>(nullptr);
    }
    return reinterpret_cast<EncodeTiledFn>(f);
  }();
  return fn;
}

// One cache (K or V), strides in bytes.
// FP8 and D 64: dims (d, row in page, kv head, block); boxes of a whole row x
// box_rows rows, unswizzled into the packed FP8 staging tile, or with the 128-byte
// swizzle into a D 64 stage (one 64-column slice: rows in order).
// 16-bit D > 64: dims (64 columns, row in group, 64-column slice, 8-row group, kv head),
// groups counted over the whole cache (block b's start at b * groups); boxes of
// (64, 8, d / 64, box_rows / 8, 1) with the 128-byte swizzle land in the stage's
// order -- 8-row groups, each its slices side by side (hopper_traits.h) -- so a
// page's rows of a tile take one box, not one per 64-column slice.
bool encode(CUtensorMap& map, const AttentionProblem& p, const void* base, int64_t stride_token, int64_t stride_head,
            int64_t stride_block, int box_rows, int groups) {
  const bool fp8 = is_fp8(p.kv_dtype);
  const cuuint32_t step[5] = {1, 1, 1, 1, 1};
  CUresult r;
  const CUtensorMapDataType type = fp8                              ? CU_TENSOR_MAP_DATA_TYPE_UINT8
                                   : p.kv_dtype == DType::kBFloat16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                                                    : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  if (!uses_row_groups(p)) {
    const int64_t elem = fp8 ? 1 : 2;
    const cuuint64_t dims[4] = {static_cast<cuuint64_t>(p.head_dim), static_cast<cuuint64_t>(p.page_size),
                                static_cast<cuuint64_t>(p.num_kv_heads), static_cast<cuuint64_t>(p.num_blocks)};
    const cuuint64_t strides[3] = {static_cast<cuuint64_t>(stride_token * elem),
                                   static_cast<cuuint64_t>(stride_head * elem),
                                   static_cast<cuuint64_t>(stride_block * elem)};
    const cuuint32_t box[4] = {static_cast<cuuint32_t>(p.head_dim), static_cast<cuuint32_t>(box_rows), 1, 1};
    r = encode_tiled()(&map, type, 4, const_cast<void*>(base), dims, strides, box, step, CU_TENSOR_MAP_INTERLEAVE_NONE,
                       fp8 ? CU_TENSOR_MAP_SWIZZLE_NONE : CU_TENSOR_MAP_SWIZZLE_128B,
                       CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  } else {
    const cuuint64_t dims[5] = {64, 8, static_cast<cuuint64_t>(p.head_dim / 64),
                                static_cast<cuuint64_t>(p.num_blocks) * static_cast<cuuint64_t>(groups),
                                static_cast<cuuint64_t>(p.num_kv_heads)};
    const cuuint64_t strides[4] = {static_cast<cuuint64_t>(stride_token * 2), 128,
                                   static_cast<cuuint64_t>(stride_token * 2 * 8),
                                   static_cast<cuuint64_t>(stride_head * 2)};
    const cuuint32_t box[5] = {64, 8, static_cast<cuuint32_t>(p.head_dim / 64), static_cast<cuuint32_t>(box_rows / 8),
                               1};
    r = encode_tiled()(&map, type, 5, const_cast<void*>(base), dims, strides, box, step, CU_TENSOR_MAP_INTERLEAVE_NONE,
                       CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                       CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  }
  return r == CUDA_SUCCESS;
}

}  // namespace

void make_kv_load(const AttentionProblem& p, int block_n, int env, HopperKvLoad& kv) {
  kv.tma = false;
  kv.box_rows = 0;
  const int box_rows = tma_box_rows(p, block_n, env);
  if (box_rows == 0 || encode_tiled() == nullptr) return;
  const bool grouped = uses_row_groups(p);
  const int k_groups = grouped ? row_groups_per_block(p, p.k_stride_block, p.k_stride_token) : 0;
  const int v_groups = grouped ? row_groups_per_block(p, p.v_stride_block, p.v_stride_token) : 0;
  if (!encode(kv.k_map, p, p.k, p.k_stride_token, p.k_stride_head, p.k_stride_block, box_rows, k_groups)) return;
  if (!encode(kv.v_map, p, p.v, p.v_stride_token, p.v_stride_head, p.v_stride_block, box_rows, v_groups)) return;
  kv.tma = true;
  kv.box_rows = box_rows;
  kv.k_groups = k_groups;
  kv.v_groups = v_groups;
}
// Q or out rows: dims (d, query head, token), boxes of one head's 64 rows x 64 columns
// with the 128-byte swizzle (the Q tile's 64-column slices, hopper_traits.h).
bool encode_rows(CUtensorMap& map, const AttentionProblem& p, const void* base, int64_t stride_token,
                 int64_t stride_head) {
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(p.head_dim), static_cast<cuuint64_t>(p.num_q_heads),
                              static_cast<cuuint64_t>(p.total_q)};
  const cuuint64_t strides[2] = {static_cast<cuuint64_t>(stride_head * 2), static_cast<cuuint64_t>(stride_token * 2)};
  const cuuint32_t box[3] = {64, 1, 64};
  const cuuint32_t step[3] = {1, 1, 1};
  const CUtensorMapDataType type =
      p.q_dtype == DType::kBFloat16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  return encode_tiled()(&map, type, 3, const_cast<void*>(base), dims, strides, box, step,
                        CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_NONE,
                        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

void make_row_tma(const AttentionProblem& p, int env_load, int env_store, HopperRowTma& t) {
  t.load_q = t.store_o = false;
  if (encode_tiled() == nullptr) return;
  if (env_load != 0 && q_load_allowed(p))
    t.load_q = encode_rows(t.q_map, p, p.q, p.q_stride_token, p.q_stride_head);
  if (env_store != 0 && out_store_allowed(p))
    t.store_o = encode_rows(t.o_map, p, p.out, p.out_stride_token, p.out_stride_head);
}
#else
void make_kv_load(const AttentionProblem&, int, int, HopperKvLoad& kv) { kv.tma = false; }
void make_row_tma(const AttentionProblem&, int, int, HopperRowTma& t) { t.load_q = t.store_o = false; }
#endif

}  // namespace hopper
}  // namespace cuda
}  // namespace kvattn
