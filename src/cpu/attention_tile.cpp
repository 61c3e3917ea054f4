#include "cpu/attention_tile.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "cpu/fast_math.h"
#include "cpu/fp8_decode_avx512.h"
#include "cpu/micro_kernels.h"

// GCC/Clang on x86: the kernel is compiled three times (baseline, AVX2+FMA,
// AVX-512) and picked at run time, since the library is built without -march.
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define KVATTN_CPU_X86_DISPATCH 1
#endif

namespace kvattn {
namespace cpu {

namespace {

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// Widest micro-kernel column block (NR of the AVX-512 path).
constexpr int64_t kMaxColumnBlock = 32;
// Up to this many rows per item, scores are row-by-key dot products on
// row-major K; above it K is transposed once per tile for the GEMM kernel,
// which is faster when many rows share the tile.
constexpr int64_t kDotScoreMaxRows = 8;
// Rows per micro-kernel block on the GEMM path: 8 x NR accumulators fill half
// the AVX-512 register file and keep both FMA pipes busy.
constexpr int kGemmRows = 8;

// Address of K or V row `pos` (key index within the sequence) for one kv head.
struct KvRows {
  const unsigned char* base;
  int64_t stride_block, stride_token, stride_head;  // elements
  int elem_bytes;

  const void* row(const AttentionProblem& p, const SequenceSpan& seq, int64_t seq_index, int kv_head,
                  int64_t pos) const {
    int64_t offset;
    if (p.paged) {
      const int64_t block = p.block_table[seq_index * p.block_table_stride + pos / p.page_size];
      offset = block * stride_block + (pos % p.page_size) * stride_token;
    } else {
      offset = (seq.kv_start + pos) * stride_token;
    }
    offset += kv_head * stride_head;
    return base + offset * elem_bytes;
  }
};

// decode_row, with the register-table fp8 lookup in the AVX-512 variant.
template <int NR>
inline void decode_kv_row(const RowDecoder& dec, const void* src, float* dst, int64_t n) {
#if defined(KVATTN_CPU_AVX512_FP8_DECODE)
  if constexpr (NR == 32) {
    if (dec.fp8_table) {
      fp8_row_to_float_avx512(dec.fp8_table, static_cast<const uint8_t*>(src), dst, n);
      return;
    }
  }
#endif
  decode_row(dec, src, dst, n);
}

inline void prefetch_row(const void* row, int64_t bytes) {
#if defined(__GNUC__) || defined(__clang__)
  const char* c = static_cast<const char*>(row);
  for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off);
#else
  (void)row;
  (void)bytes;
#endif
}

// Online-softmax update of one row for the keys [a, e) of the current tile
// (n keys): turns its scores into probabilities relative to the new running
// max and rescales the row's state.
inline void softmax_update_row(float* __restrict s, int64_t a, int64_t e, int64_t n, float softcap,
                               float* __restrict o, int head_dim, float& m, float& l) {
  if (softcap > 0.0f) {
    for (int64_t j = a; j < e; ++j) s[j] = softcap * tanh_approx(s[j]);
  }
  float tile_max = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : tile_max)
  for (int64_t j = a; j < e; ++j) {
    const float x = s[j];
    tile_max = tile_max > x ? tile_max : x;  // (std::max returns a reference and does not vectorize)
  }
  const float m_new = std::max(m, tile_max);
  const float alpha = exp_approx(m - m_new);  // 0 on the first tile (m = -inf)
  float sum = 0.0f;
  for (int64_t j = 0; j < a; ++j) s[j] = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = a; j < e; ++j) {
    const float pj = exp_approx(s[j] - m_new);
    s[j] = pj;
    sum += pj;
  }
  for (int64_t j = e; j < n; ++j) s[j] = 0.0f;
  if (alpha != 1.0f) {
    for (int d = 0; d < head_dim; ++d) o[d] *= alpha;
  }
  l = l * alpha + sum;
  m = m_new;
}

// Loads the item's queries (every head of the group) into sc.q, scaled by the
// score factor; padding rows and columns are zero.
void load_queries(const TileJob& job, TileScratch& sc, int64_t rows_pad) {
  const AttentionProblem& p = *job.p;
  const WorkItem& item = *job.item;
  const int D = p.head_dim;
  const int G = p.num_q_heads / p.num_kv_heads;
  const int64_t nq = item.q_end - item.q_begin;
  const int q_bytes = dtype_size(p.q_dtype);
  for (int64_t qi = 0; qi < nq; ++qi) {
    const int64_t token = job.seq->q_start + item.q_begin + qi;
    for (int g = 0; g < G; ++g) {
      const int64_t head = static_cast<int64_t>(item.kv_head) * G + g;
      const unsigned char* src = static_cast<const unsigned char*>(p.q) +
                                 (token * p.q_stride_token + head * p.q_stride_head) * q_bytes;
      float* dst = sc.q + (qi * G + g) * sc.ld;
      decode_row(job.q_decoder, src, dst, D);
      for (int d = 0; d < D; ++d) dst[d] *= job.score_factor;
    }
  }
  std::fill(sc.q + nq * G * sc.ld, sc.q + rows_pad * sc.ld, 0.0f);
}

// Marks the row blocks that see at least one key of [j0, j0 + n); returns
// whether any does.
bool mark_active_blocks(const TileScratch& sc, int64_t rows, int64_t num_blocks, int group, int64_t j0, int64_t n,
                        unsigned char* block_active) {
  bool any = false;
  for (int64_t blk = 0; blk < num_blocks; ++blk) {
    bool active = false;
    for (int64_t r = blk * kRowBlock; r < std::min(rows, (blk + 1) * kRowBlock); ++r) {
      const KeyRange& kr = sc.query_keys[r / group];
      active = active || (kr.begin < j0 + n && kr.end > j0 && kr.begin < kr.end);
    }
    block_active[blk] = active;
    any = any || active;
  }
  return any;
}

template <int NR>
inline void compute_tile_states_impl(const TileJob& job, TileScratch& sc) {
  const AttentionProblem& p = *job.p;
  const SequenceSpan& seq = *job.seq;
  const WorkItem& item = *job.item;
  const int D = p.head_dim;
  const int64_t ld = sc.ld;  // row stride of q, k, v, o: D rounded up to whole column blocks
  const int G = p.num_q_heads / p.num_kv_heads;
  const int64_t nq = item.q_end - item.q_begin;
  const int64_t rows = nq * G;
  const bool transpose_k = rows > kDotScoreMaxRows;
  // The GEMM path takes 8-row blocks (more accumulators in flight).
  const int64_t rows_pad = round_up(rows, transpose_k ? kGemmRows : kRowBlock);
  const int64_t num_blocks = rows_pad / kRowBlock;

  load_queries(job, sc, rows_pad);
  std::fill(sc.o, sc.o + rows_pad * ld, 0.0f);
  std::fill(sc.m, sc.m + rows_pad, -std::numeric_limits<float>::infinity());
  std::fill(sc.l, sc.l + rows_pad, 0.0f);
  for (int64_t qi = 0; qi < nq; ++qi) {
    KeyRange r = visible_keys(p, item.q_begin + qi, seq.q_len, seq.kv_len);
    r.begin = std::max(r.begin, item.keys.begin);
    r.end = std::min(r.end, item.keys.end);
    sc.query_keys[qi] = r;
  }

  const int kv_bytes = dtype_size(p.kv_dtype);
  const KvRows k_rows{static_cast<const unsigned char*>(p.k), p.k_stride_block, p.k_stride_token, p.k_stride_head,
                      kv_bytes};
  const KvRows v_rows{static_cast<const unsigned char*>(p.v), p.v_stride_block, p.v_stride_token, p.v_stride_head,
                      kv_bytes};
  const int64_t row_bytes = static_cast<int64_t>(D) * kv_bytes;

  for (int64_t j0 = item.keys.begin; j0 < item.keys.end; j0 += kKeyTile) {
    const int64_t n = std::min(kKeyTile, item.keys.end - j0);
    if (!mark_active_blocks(sc, rows, num_blocks, G, j0, n, sc.block_active)) continue;

    // Decode the tile's keys and values once for the whole group.
    for (int64_t jj = 0; jj < n; ++jj) {
      const void* k_src = k_rows.row(p, seq, item.seq, item.kv_head, j0 + jj);
      if (transpose_k) {
        decode_kv_row<NR>(job.kv_decoder, k_src, sc.row, D);
        for (int d = 0; d < D; ++d) sc.kt[d * kKeyTile + jj] = sc.row[d];
      } else {
        decode_kv_row<NR>(job.kv_decoder, k_src, sc.k + jj * ld, D);
      }
      decode_kv_row<NR>(job.kv_decoder, v_rows.row(p, seq, item.seq, item.kv_head, j0 + jj), sc.v + jj * ld, D);
    }
    // Rows of one kv head are strided (other heads sit between them), which
    // hardware prefetchers follow poorly: request the next tile now so the
    // loads overlap with this tile's arithmetic.
    const int64_t next_end = std::min(item.keys.end, j0 + n + kKeyTile);
    for (int64_t j = j0 + n; j < next_end; ++j) {
      prefetch_row(k_rows.row(p, seq, item.seq, item.kv_head, j), row_bytes);
      prefetch_row(v_rows.row(p, seq, item.seq, item.kv_head, j), row_bytes);
    }

    if (transpose_k) {
      gemm<kGemmRows, NR>(sc.s, kKeyTile, sc.q, ld, sc.kt, kKeyTile, rows_pad, round_up(n, NR), D, false,
                          sc.block_active);
    } else {
      dot_scores<NR / 2>(sc.s, kKeyTile, sc.q, ld, sc.k, ld, rows_pad, n, ld, sc.block_active);
    }

    // Every row gets its probabilities (zeros when it sees no key of this
    // tile): an 8-row GEMM block may hold an inactive 4-row group.
    for (int64_t r = 0; r < rows_pad; ++r) {
      float* srow = sc.s + r * kKeyTile;
      const KeyRange kr = r < rows ? sc.query_keys[r / G] : KeyRange{0, 0};
      const int64_t a = std::max<int64_t>(kr.begin - j0, 0);
      const int64_t e = std::min<int64_t>(kr.end - j0, n);
      if (a >= e) {
        std::fill(srow, srow + n, 0.0f);  // no key of this tile: the row's state is unchanged
        continue;
      }
      softmax_update_row(srow, a, e, n, p.softcap, sc.o + r * ld, D, sc.m[r], sc.l[r]);
    }

    if (transpose_k) {
      gemm<kGemmRows, NR>(sc.o, ld, sc.s, kKeyTile, sc.v, ld, rows_pad, ld, n, true, sc.block_active);
    } else {
      gemm<kRowBlock, NR>(sc.o, ld, sc.s, kKeyTile, sc.v, ld, rows_pad, ld, n, true, sc.block_active);
    }
  }
}

using ComputeFn = void (*)(const TileJob&, TileScratch&);

void compute_generic(const TileJob& job, TileScratch& sc) { compute_tile_states_impl<8>(job, sc); }

#if defined(KVATTN_CPU_X86_DISPATCH)
__attribute__((target("avx2,fma,f16c"), flatten)) void compute_avx2(const TileJob& job, TileScratch& sc) {
  compute_tile_states_impl<16>(job, sc);
}

__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c"), flatten)) void compute_avx512(
    const TileJob& job, TileScratch& sc) {
  compute_tile_states_impl<32>(job, sc);
}
#endif

struct KernelChoice {
  ComputeFn fn;
  const char* name;
};

KernelChoice choose_kernel() {
  const char* cap = std::getenv("KVATTN_CPU_ISA");
  const bool allow_avx512 = !cap || std::strcmp(cap, "avx512") == 0;
  const bool allow_avx2 = allow_avx512 || std::strcmp(cap, "avx2") == 0;
#if defined(KVATTN_CPU_X86_DISPATCH)
  __builtin_cpu_init();
  if (allow_avx512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
    return {compute_avx512, "avx512"};
  }
  if (allow_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {compute_avx2, "avx2"};
#else
  (void)allow_avx2;
#endif
  return {compute_generic, "generic"};
}

const KernelChoice& kernel() {
  static const KernelChoice choice = choose_kernel();
  return choice;
}

}  // namespace

void TileScratch::reserve(int64_t max_rows, int64_t max_queries, int head_dim) {
  const int64_t rows_pad = round_up(std::max<int64_t>(max_rows, 1), kGemmRows);
  const int64_t D = head_dim;
  ld = round_up(D, kMaxColumnBlock);  // padding columns stay zero: rows are written D wide
  const int64_t sizes[] = {rows_pad * ld, D * kKeyTile, kKeyTile * ld, kKeyTile * ld,
                           rows_pad * kKeyTile, rows_pad * ld, rows_pad, rows_pad, D};
  float** targets[] = {&q, &kt, &k, &v, &s, &o, &m, &l, &row};
  constexpr int kBuffers = sizeof(sizes) / sizeof(sizes[0]);
  int64_t total = 0;
  for (int64_t size : sizes) total += round_up(size, 16);  // 64-byte aligned sub-buffers
  floats_.assign(static_cast<size_t>(total + 16), 0.0f);
  float* base = floats_.data();
  base += (16 - (reinterpret_cast<uintptr_t>(base) / sizeof(float)) % 16) % 16;
  for (int i = 0; i < kBuffers; ++i) {
    *targets[i] = base;
    base += round_up(sizes[i], 16);
  }
  ranges_.assign(static_cast<size_t>(std::max<int64_t>(max_queries, 1)), KeyRange{});
  query_keys = ranges_.data();
  flags_.assign(static_cast<size_t>(rows_pad / kRowBlock), 0);
  block_active = flags_.data();
}

void compute_tile_states(const TileJob& job, TileScratch& scratch) { kernel().fn(job, scratch); }

const char* cpu_kernel_isa() { return kernel().name; }

}  // namespace cpu
}  // namespace kvattn
