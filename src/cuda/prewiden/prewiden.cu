// The widening pass of prewiden.h: FP8 K/V of the long-query sequences -> a
// 16-bit paged scratch (one page per sequence), and the tables that describe it.
#include "cuda/prewiden/prewiden.h"

#include <algorithm>
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/backends.h"
#include "cuda/common/fp8_widen.h"
#include "cuda/common/launch_utils.h"
#include "cuda/common/ptx.h"
#include "cuda/common/routing.h"
#include "cuda/hopper/hopper_switches.h"
#include "cuda/prefill/prefill_loads.cuh"
#include "cuda/prefill/prefill_params.h"

namespace kvattn {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kTokensPerCta = 32;
// 8 x 256 threads fill an SM (2048): at most 32 registers each, so the memory-bound
// pass keeps a full SM of loads in flight (at 34 registers ptxas left room for 6 CTAs).
constexpr int kMinCtasPerSm = 8;
constexpr size_t kAlign = 1024;  // scratch and tables: TMA wants >= 16, a page-aligned start is free

// Scratch page: max_seqlen_k rounded up so that the Hopper kernel's KV tile (128
// keys; 80 for 16-bit D 256) divides it and every tile arrives as one TMA box.
int64_t scratch_page(int head_dim, int64_t max_seqlen_k) {
  const int64_t align = head_dim == 256 ? 640 : 128;
  return (std::max<int64_t>(max_seqlen_k, 1) + align - 1) / align * align;
}

struct ScratchLayout {
  int64_t page = 0;
  size_t table = 0, used = 0, k = 0, v = 0, total = 0;  // byte offsets from the aligned base; total size
};

ScratchLayout scratch_layout(int64_t batch, int num_kv_heads, int head_dim, int64_t max_seqlen_k) {
  ScratchLayout s;
  s.page = scratch_page(head_dim, max_seqlen_k);
  const size_t table_bytes = align_up(size_t(batch) * sizeof(int32_t), kAlign);
  const size_t kv_bytes = align_up(size_t(batch) * size_t(s.page) * size_t(num_kv_heads) * size_t(head_dim) * 2, kAlign);
  s.table = 0;
  s.used = table_bytes;
  s.k = 2 * table_bytes;
  s.v = s.k + kv_bytes;
  s.total = s.v + kv_bytes + kAlign;  // + slack to align the caller's pointer
  return s;
}

// The source cache is read through the prefill kernels' own parameters and
// addressing (prefill_loads.cuh: kv_block, kv_row_offsets; FP8 elements are bytes).
struct PrewidenParams {
  PrefillParams src;
  void* k_out = nullptr;  // [batch][page][Hkv][D] of q's 16-bit type
  void* v_out = nullptr;
  int32_t* table = nullptr;  // [batch]: b
  int32_t* used = nullptr;   // [batch]: kv_len(b)
  int64_t batch = 0;
  int64_t page = 0;  // scratch page (tokens)
  int num_kv_heads = 0;
  int head_dim = 0;
};

// One CTA: kTokensPerCta tokens of one (sequence, kv head), K and V; per step a
// thread widens 16 FP8 codes (one 16-byte load). Sequences with short queries
// belong to the decode family, which reads the FP8 cache itself: skipped.
template <class OutT, Fp8Format kFormat>
__global__ void __launch_bounds__(kThreads, kMinCtasPerSm) prewiden_kernel(const __grid_constant__ PrewidenParams p) {
  grid_dependents_may_launch();  // the prefill kernel may queue; it waits for this grid
  const PrefillParams& s = p.src;
  const int chunk = blockIdx.x / p.num_kv_heads;
  const int h = blockIdx.x % p.num_kv_heads;
  const int vecs_per_row = p.head_dim / 16;
  for (int64_t b = blockIdx.y; b < p.batch; b += gridDim.y) {
    const int q_len = s.cu_seqlens_q[b + 1] - s.cu_seqlens_q[b];
    const int k_row0 = s.paged ? 0 : s.cu_seqlens_k[b];
    const int kv_len = s.paged ? s.seqused_k[b] : s.cu_seqlens_k[b + 1] - k_row0;
    if (blockIdx.x == 0 && threadIdx.x == 0) {
      p.table[b] = static_cast<int32_t>(b);
      p.used[b] = kv_len;
    }
    if (is_short_query(q_len)) continue;
    // K's vectors, then V's: every thread busy at D 64 too (32 rows x 4 vectors per tensor).
    const int vecs = kTokensPerCta * vecs_per_row;
    for (int i = threadIdx.x; i < 2 * vecs; i += kThreads) {
      const bool is_v = i >= vecs;
      const int j = is_v ? i - vecs : i;
      const int pos = chunk * kTokensPerCta + j / vecs_per_row;
      const int col = (j % vecs_per_row) * 16;
      const longlong2 o = kv_row_offsets(s, h, k_row0, pos, kv_block(s, static_cast<int>(b), kv_len, pos));
      if (o.x < 0) continue;  // past kv_len
      const uint8_t* src = static_cast<const uint8_t*>(is_v ? s.v : s.k) + (is_v ? o.y : o.x) + col;
      const uint4 codes = __ldg(reinterpret_cast<const uint4*>(src));
      const uint2 w0 = Fp8Widen4<OutT, kFormat>::run(codes.x), w1 = Fp8Widen4<OutT, kFormat>::run(codes.y);
      const uint2 w2 = Fp8Widen4<OutT, kFormat>::run(codes.z), w3 = Fp8Widen4<OutT, kFormat>::run(codes.w);
      uint4* dst = reinterpret_cast<uint4*>(static_cast<OutT*>(is_v ? p.v_out : p.k_out) +
                                            ((b * p.page + pos) * p.num_kv_heads + h) * p.head_dim + col);
      dst[0] = make_uint4(w0.x, w0.y, w1.x, w1.y);
      dst[1] = make_uint4(w2.x, w2.y, w3.x, w3.y);
    }
  }
  // Launched with programmatic serialization after the decode family: this
  // grid's completion must still mean theirs (launch_utils.h).
  grid_dependency_wait();
}

template <class OutT>
void launch_typed(const PrewidenParams& params, bool e5m2, dim3 grid, int device, cudaStream_t stream) {
  const bool pdl = programmatic_launch_enabled(device);
  if (e5m2)
    launch_kernel("prewiden_kernel", &prewiden_kernel<OutT, Fp8Format::kE5M2>, grid, dim3(kThreads), 0, stream, pdl,
                  params);
  else
    launch_kernel("prewiden_kernel", &prewiden_kernel<OutT, Fp8Format::kE4M3>, grid, dim3(kThreads), 0, stream, pdl,
                  params);
}

}  // namespace

bool prewiden_pays(int64_t max_seqlen_q, int64_t max_seqlen_k) {
  if (max_seqlen_q < kPrewidenMinQueryLen) return false;
  const int64_t keys_per_query = max_seqlen_q >= 2 * kPrewidenMinQueryLen ? 16 : 8;
  return max_seqlen_k <= keys_per_query * max_seqlen_q;
}

size_t prewiden_workspace_bytes(int64_t batch, int num_kv_heads, int head_dim, int64_t max_seqlen_q,
                                int64_t max_seqlen_k, DType kv_dtype) {
#if !defined(KVATTN_HAVE_HOPPER_KERNELS)
  (void)batch, (void)num_kv_heads, (void)head_dim, (void)max_seqlen_q, (void)max_seqlen_k, (void)kv_dtype;
  return 0;  // only the Hopper kernels read the scratch
#else
  const int forced = hopper::hopper_switches().prewiden;  // -1 rule, 0 never, 1 at any max_seqlen_q
  if (forced == 0 || !is_fp8(kv_dtype)) return 0;
  if (head_dim != 64 && head_dim != 128 && head_dim != 256) return 0;
  if (batch <= 0 || num_kv_heads <= 0 || max_seqlen_k <= 0 || max_seqlen_q <= kShortQueryMaxLen) return 0;
  if (forced != 1 && !prewiden_pays(max_seqlen_q, max_seqlen_k)) return 0;
  const size_t total = scratch_layout(batch, num_kv_heads, head_dim, max_seqlen_k).total;
  return total <= kPrewidenMaxBytes ? total : 0;
#endif
}

bool prewiden_planned(const AttentionProblem& p, size_t workspace_offset) {
  const size_t need =
      prewiden_workspace_bytes(p.batch, p.num_kv_heads, p.head_dim, p.max_seqlen_q, p.max_seqlen_k, p.kv_dtype);
  return need > 0 && p.workspace != nullptr && p.workspace_bytes >= workspace_offset + need;
}

AttentionProblem launch_prewiden(const AttentionProblem& p, size_t workspace_offset, cudaStream_t stream) {
  const ScratchLayout s = scratch_layout(p.batch, p.num_kv_heads, p.head_dim, p.max_seqlen_k);
  const uintptr_t base = align_up(reinterpret_cast<uintptr_t>(p.workspace) + workspace_offset, kAlign);
  PrewidenParams w;
  w.src = make_prefill_params(p, /*skip_short_queries=*/true);
  w.k_out = reinterpret_cast<void*>(base + s.k);
  w.v_out = reinterpret_cast<void*>(base + s.v);
  w.table = reinterpret_cast<int32_t*>(base + s.table);
  w.used = reinterpret_cast<int32_t*>(base + s.used);
  w.batch = p.batch;
  w.page = s.page;
  w.num_kv_heads = p.num_kv_heads;
  w.head_dim = p.head_dim;
  const int64_t chunks = (p.max_seqlen_k + kTokensPerCta - 1) / kTokensPerCta;  // grid.x < 2^31: the byte cap bounds it
  const dim3 grid(static_cast<unsigned>(chunks * p.num_kv_heads),
                  static_cast<unsigned>(std::min<int64_t>(p.batch, 65535)));
  if (p.q_dtype == DType::kBFloat16)
    launch_typed<__nv_bfloat16>(w, p.kv_dtype == DType::kFloat8E5M2, grid, p.device.index, stream);
  else
    launch_typed<__half>(w, p.kv_dtype == DType::kFloat8E5M2, grid, p.device.index, stream);

  AttentionProblem r = p;
  r.kv_dtype = p.q_dtype;
  r.paged = true;
  r.k = w.k_out;
  r.v = w.v_out;
  r.k_stride_head = r.v_stride_head = p.head_dim;
  r.k_stride_token = r.v_stride_token = int64_t(p.num_kv_heads) * p.head_dim;
  r.k_stride_block = r.v_stride_block = s.page * r.k_stride_token;
  r.num_blocks = p.batch;
  r.total_k = 0;
  r.page_size = static_cast<int>(s.page);
  r.block_table = w.table;
  r.block_table_stride = 1;
  r.max_blocks_per_seq = 1;
  r.cu_seqlens_k = nullptr;
  r.seqused_k = w.used;
  return r;
}

}  // namespace cuda
}  // namespace kvattn
