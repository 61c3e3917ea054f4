// Host-only (runs without a GPU): which problems the Hopper prefill path takes, and
// the launch grid both prefill kernels share.
// Anything it does not cover must fall back to the portable kernel, so a wrong
// "yes" here would launch a kernel on a shape it was never built for.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/problem.h"
#include "cuda/hopper/hopper_l2.h"
#include "cuda/hopper/hopper_pack.h"
#include "cuda/hopper/hopper_ping_pong.h"
#include "cuda/hopper/hopper_prefill.h"
#include "cuda/hopper/hopper_tma.h"
#include "cuda/prefill/prefill_instances.h"
#include "kvattn/error.h"
#include "kvattn/version.h"

namespace {

using kvattn::AttentionProblem;
using kvattn::DType;

// A paged bf16 problem with every row 16-byte aligned (fake, never dereferenced pointers).
AttentionProblem aligned_problem(int head_dim, DType q, DType kv) {
  AttentionProblem p;
  p.batch = 2;
  p.total_q = 64;
  p.num_q_heads = 8;
  p.num_kv_heads = 2;
  p.head_dim = head_dim;
  p.max_seqlen_q = 32;
  p.max_seqlen_k = 64;
  p.q_dtype = q;
  p.kv_dtype = kv;
  p.q = reinterpret_cast<const void*>(uintptr_t{1} << 20);
  p.out = reinterpret_cast<void*>(uintptr_t{2} << 20);
  p.k = reinterpret_cast<const void*>(uintptr_t{3} << 20);
  p.v = reinterpret_cast<const void*>(uintptr_t{4} << 20);
  p.q_stride_head = head_dim;
  p.q_stride_token = int64_t{8} * head_dim;
  p.out_stride_head = head_dim;
  p.out_stride_token = int64_t{8} * head_dim;
  p.paged = true;
  p.page_size = 16;
  p.k_stride_head = p.v_stride_head = head_dim;
  p.k_stride_token = p.v_stride_token = int64_t{2} * head_dim;
  p.k_stride_block = p.v_stride_block = int64_t{32} * head_dim;
  return p;
}

TEST(HopperDispatch, CoversHeadDims64_128_256WithAlignedRows) {
  if (!kvattn::built_with_hopper_kernels()) GTEST_SKIP() << "this build has no Hopper kernels";
  for (int d : {64, 128, 256})
    for (DType kv : {DType::kBFloat16, DType::kFloat8E4M3, DType::kFloat8E5M2})
      EXPECT_TRUE(kvattn::cuda::hopper_prefill_supports(aligned_problem(d, DType::kBFloat16, kv))) << d;
  EXPECT_TRUE(kvattn::cuda::hopper_prefill_supports(aligned_problem(128, DType::kFloat16, DType::kFloat16)));
}

TEST(HopperDispatch, FallsBackForOtherShapes) {
  // Head dims without a Hopper instance.
  for (int d : {96, 192})
    EXPECT_FALSE(kvattn::cuda::hopper_prefill_supports(aligned_problem(d, DType::kBFloat16, DType::kFloat8E4M3))) << d;
  // Rows that are not 16-byte aligned (an odd token stride of an FP8 cache).
  AttentionProblem odd = aligned_problem(128, DType::kBFloat16, DType::kFloat8E4M3);
  odd.k_stride_token += 1;
  EXPECT_FALSE(kvattn::cuda::hopper_prefill_supports(odd));
  // A misaligned base pointer.
  AttentionProblem shifted = aligned_problem(128, DType::kBFloat16, DType::kBFloat16);
  shifted.q = static_cast<const char*>(shifted.q) + 2;
  EXPECT_FALSE(kvattn::cuda::hopper_prefill_supports(shifted));
  // Mixed 16-bit types.
  EXPECT_FALSE(kvattn::cuda::hopper_prefill_supports(aligned_problem(128, DType::kBFloat16, DType::kFloat16)));
}

}  // namespace

namespace {

// The grid both prefill launchers use: CUDA's limits become errors naming the argument.
TEST(PrefillGrid, DimsAndLimits) {
  kvattn::cuda::PrefillGrid g;
  g.batch = 3;
  g.num_q_heads = 32;
  g.max_seqlen_q = 1000;
  const dim3 d = kvattn::cuda::prefill_launch_dims(g, 128);
  EXPECT_EQ(d.x, 96u);
  EXPECT_EQ(d.y, 8u);  // ceil(1000 / 128)
  g.max_seqlen_q = int64_t{65536} * 128;
  try {
    kvattn::cuda::prefill_launch_dims(g, 128);
    ADD_FAILURE() << "no error for 65536 row tiles";
  } catch (const kvattn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_seqlen_q"), std::string::npos) << e.what();
  }
}

TEST(PrefillGrid, NothingToLaunch) {
  AttentionProblem p = aligned_problem(128, DType::kBFloat16, DType::kBFloat16);
  kvattn::cuda::PrefillGrid g;
  EXPECT_TRUE(kvattn::cuda::make_prefill_grid(p, true, g));
  p.max_seqlen_q = 16;  // every sequence is short: the decode family's
  EXPECT_FALSE(kvattn::cuda::make_prefill_grid(p, true, g));
  EXPECT_TRUE(kvattn::cuda::make_prefill_grid(p, false, g));
  p.total_q = 0;
  EXPECT_FALSE(kvattn::cuda::make_prefill_grid(p, false, g));
}

// How the Hopper producer loads K/V (kvattn::cuda::hopper::tma_box_rows): TMA boxes of
// a page's rows when the layout allows and a page's rows of a tile carry >= 2 KB,
// else the cp.async gather (0). A wrong "yes" would hand TMA a layout it cannot
// express; a wrong "no" only costs speed.
TEST(HopperTma, BoxPolicy) {
  using kvattn::cuda::hopper::tma_box_rows;
  AttentionProblem p = aligned_problem(128, DType::kBFloat16, DType::kBFloat16);
  p.num_blocks = 64;
  EXPECT_EQ(tma_box_rows(p, 128, -1), 16);  // 16-row pages, 4 KB per page and tile
  EXPECT_EQ(tma_box_rows(p, 128, 0), 0);    // KVATTN_HOPPER_TMA=0
  for (int page : {8, 32, 64, 128}) {
    p.page_size = page;
    p.k_stride_block = p.v_stride_block = int64_t{page} * p.k_stride_token;
    EXPECT_EQ(tma_box_rows(p, 128, -1), page) << page;
  }
  p.page_size = 256;  // pages larger than a tile: one box of a tile's rows
  p.k_stride_block = p.v_stride_block = int64_t{256} * p.k_stride_token;
  EXPECT_EQ(tma_box_rows(p, 128, -1), 128);
  for (int page : {1, 7, 12, 20}) {  // gcd(page, tile) not a multiple of 8 rows
    p.page_size = page;
    EXPECT_EQ(tma_box_rows(p, 128, 1), 0) << page;
  }
  // Pages that neither divide the tile nor are multiples of it: boxes of gcd(page, tile)
  // rows, so no box crosses a page or a tile.
  for (const auto& [page, box] :
       std::vector<std::pair<int, int>>{{24, 8}, {48, 16}, {96, 32}, {160, 32}, {192, 64}, {200, 8}}) {
    p.page_size = page;
    p.k_stride_block = p.v_stride_block = int64_t{page} * p.k_stride_token;
    EXPECT_EQ(tma_box_rows(p, 128, -1), box) << page;
  }
  // D 256 16-bit KV has 80-key tiles: 16-row boxes for pages of 16, 32, 64, 128 rows
  // (five per tile and 64-column atom), one 80-row box for pages of 80 or 160.
  AttentionProblem w = aligned_problem(256, DType::kBFloat16, DType::kBFloat16);
  w.num_blocks = 64;
  for (const auto& [page, box] : std::vector<std::pair<int, int>>{
           {16, 16}, {32, 16}, {48, 16}, {64, 16}, {80, 80}, {128, 16}, {160, 80}, {256, 16}, {8, 8}, {12, 0}}) {
    w.page_size = page;
    w.k_stride_block = w.v_stride_block = int64_t{page} * w.k_stride_token;
    EXPECT_EQ(tma_box_rows(w, 80, -1), box) << page;
  }
  // FP8 D 64: 16-row pages carry 1 KB per page (TMA); 8-row pages 512 bytes,
  // the gather unless forced.
  AttentionProblem f = aligned_problem(64, DType::kBFloat16, DType::kFloat8E4M3);
  f.num_blocks = 64;
  EXPECT_EQ(tma_box_rows(f, 128, -1), 16);
  f.page_size = 8;
  f.k_stride_block = f.v_stride_block = int64_t{8} * f.k_stride_token;
  EXPECT_EQ(tma_box_rows(f, 128, -1), 0);
  EXPECT_EQ(tma_box_rows(f, 128, 1), 8);
  f.page_size = 24;  // gcd 8: 512-byte boxes, the gather unless forced
  f.k_stride_block = f.v_stride_block = int64_t{24} * f.k_stride_token;
  EXPECT_EQ(tma_box_rows(f, 128, -1), 0);
  EXPECT_EQ(tma_box_rows(f, 128, 1), 8);
  // 16-bit KV with D > 64 counts the cache in 8-row groups: block strides of whole
  // groups load by TMA (K and V in one allocation, blocks interleaved: 2 x page rows
  // per block), others are gathered; FP8 and D 64 address rows directly.
  using kvattn::cuda::hopper::row_groups_per_block;
  AttentionProblem g = aligned_problem(128, DType::kBFloat16, DType::kBFloat16);
  g.num_blocks = 64;
  EXPECT_EQ(row_groups_per_block(g, g.k_stride_block, g.k_stride_token), 2);  // 16-row pages
  g.k_stride_block = g.v_stride_block = 2 * 16 * g.k_stride_token;            // K, V interleaved per block
  EXPECT_EQ(row_groups_per_block(g, g.k_stride_block, g.k_stride_token), 4);
  EXPECT_EQ(tma_box_rows(g, 128, -1), 16);
  g.v_stride_block = 20 * g.v_stride_token;  // 2.5 groups
  EXPECT_EQ(row_groups_per_block(g, g.v_stride_block, g.v_stride_token), 0);
  EXPECT_EQ(tma_box_rows(g, 128, 1), 0);
  g.v_stride_block = 8 * g.v_stride_token;  // one group: a 16-row page would overlap the next block
  EXPECT_EQ(row_groups_per_block(g, g.v_stride_block, g.v_stride_token), 0);
  g.v_stride_block = int64_t{1} << 33;  // 2^20 groups per block
  g.v_stride_token = 1 << 10;
  EXPECT_EQ(row_groups_per_block(g, g.v_stride_block, g.v_stride_token), 1 << 20);
  g.num_blocks = 4096;  // group index past int32
  EXPECT_EQ(row_groups_per_block(g, g.v_stride_block, g.v_stride_token), 0);
  for (const int d : {64, 128}) {  // FP8 (any D) and 16-bit D 64 need no groups
    AttentionProblem h = aligned_problem(d, DType::kBFloat16, d == 64 ? DType::kBFloat16 : DType::kFloat8E4M3);
    h.num_blocks = 64;
    h.k_stride_block = h.v_stride_block = 20 * h.k_stride_token;  // blocks overlap half a group: 16-row pages fit
    EXPECT_EQ(tma_box_rows(h, 128, 1), 16) << d;
  }
  // Strides TMA cannot express (not a multiple of 16 bytes), contiguous KV, no blocks.
  AttentionProblem q = aligned_problem(128, DType::kBFloat16, DType::kFloat8E4M3);
  q.num_blocks = 64;
  EXPECT_EQ(tma_box_rows(q, 128, -1), 16);
  q.v_stride_block += 8;  // 8 bytes of FP8
  EXPECT_EQ(tma_box_rows(q, 128, 1), 0);
  q = aligned_problem(128, DType::kBFloat16, DType::kBFloat16);
  q.num_blocks = 64;
  q.paged = false;
  EXPECT_EQ(tma_box_rows(q, 128, 1), 0);
  q.paged = true;
  q.num_blocks = 0;
  EXPECT_EQ(tma_box_rows(q, 128, 1), 0);
}

// Which outputs the Hopper consumers may write with TMA stores (out_store_allowed): a
// 16-byte aligned base and strides, int32 token coordinates. A wrong "yes" would hand
// TMA a layout it cannot express (the descriptor encode fails, or rows land shifted).
TEST(HopperTma, OutStorePolicy) {
  using kvattn::cuda::hopper::out_store_allowed;
  const AttentionProblem base = aligned_problem(128, DType::kBFloat16, DType::kFloat8E4M3);
  EXPECT_TRUE(out_store_allowed(base));
  for (const int d : {64, 256})
    EXPECT_TRUE(out_store_allowed(aligned_problem(d, DType::kFloat16, DType::kFloat16))) << d;
  AttentionProblem p = base;
  p.out_stride_head = 128 + 8;  // padded heads: still whole 16-byte rows
  EXPECT_TRUE(out_store_allowed(p));
  p.out_stride_head = 128 + 4;  // 8-byte step between heads
  EXPECT_FALSE(out_store_allowed(p));
  p = base;
  p.out_stride_token = 8 * 128 + 5;
  EXPECT_FALSE(out_store_allowed(p));
  p = base;
  p.out = reinterpret_cast<void*>((uintptr_t{2} << 20) + 8);  // 8-byte aligned base
  EXPECT_FALSE(out_store_allowed(p));
  p = base;
  p.total_q = int64_t{1} << 31;  // token coordinate past int32
  EXPECT_FALSE(out_store_allowed(p));
  p = base;
  p.total_q = 0;
  EXPECT_FALSE(out_store_allowed(p));
}

// The same rule for TMA loads of Q rows (q_load_allowed), on q's own base and strides.
TEST(HopperTma, QLoadPolicy) {
  using kvattn::cuda::hopper::out_store_allowed;
  using kvattn::cuda::hopper::q_load_allowed;
  const AttentionProblem base = aligned_problem(128, DType::kBFloat16, DType::kBFloat16);
  EXPECT_TRUE(q_load_allowed(base));
  AttentionProblem p = base;
  p.q_stride_token = 8 * 128 + 3;  // q's stride, not out's, decides
  EXPECT_FALSE(q_load_allowed(p));
  EXPECT_TRUE(out_store_allowed(p));
  p = base;
  p.q_stride_head = 128 + 8;
  EXPECT_TRUE(q_load_allowed(p));
  p.q = reinterpret_cast<const void*>((uintptr_t{1} << 20) + 2);
  EXPECT_FALSE(q_load_allowed(p));
  p = base;
  p.head_dim = 96;  // not whole 64-column boxes
  EXPECT_FALSE(q_load_allowed(p));
}

}  // namespace

// GQA packing (hopper_pack.h): the Hq / Hkv heads of a KV head share a tile's rows
// when that fills the 128-row tiles clearly better; long rows stay unpacked (same
// tiles, same K/V traffic); KVATTN_HOPPER_PACK_GQA forces either way.
TEST(HopperPack, RowsPerQuery) {
  using kvattn::cuda::hopper::hopper_rows_per_query;
  EXPECT_EQ(hopper_rows_per_query(32, 4, 128, -1), 4);    // 25% full unpacked, 100% packed
  EXPECT_EQ(hopper_rows_per_query(17, 8, 128, -1), 8);    // the shortest prefill-family chunk
  EXPECT_EQ(hopper_rows_per_query(64, 4, 128, -1), 4);    // 50% vs 100%
  EXPECT_EQ(hopper_rows_per_query(100, 4, 128, -1), 1);   // 78% either way
  EXPECT_EQ(hopper_rows_per_query(8192, 4, 128, -1), 1);  // long rows: full tiles unpacked
  EXPECT_EQ(hopper_rows_per_query(200, 4, 128, -1), 4);   // 78% vs 89%
  EXPECT_EQ(hopper_rows_per_query(256, 4, 128, -1), 1);   // full tiles
  EXPECT_EQ(hopper_rows_per_query(20, 2, 128, -1), 2);    // 16% vs 31%
  EXPECT_EQ(hopper_rows_per_query(32, 1, 128, -1), 1);    // MHA: nothing to pack
  EXPECT_EQ(hopper_rows_per_query(32, 1, 128, 1), 1);
  EXPECT_EQ(hopper_rows_per_query(32, 4, 128, 0), 1);    // forced off
  EXPECT_EQ(hopper_rows_per_query(8192, 4, 128, 1), 4);  // forced on
}

TEST(HopperL2Sections, SureRowTiles) {
  using kvattn::cuda::hopper::hopper_sure_row_tiles;
  EXPECT_EQ(hopper_sure_row_tiles(4 * 8192, 4, 16, 1, 128), 255);  // prefill_4x8k
  EXPECT_EQ(hopper_sure_row_tiles(2048 + 128, 129, 16, 1, 128), 0);  // a 2k chunk among 128 decodes
  EXPECT_EQ(hopper_sure_row_tiles(2048 + 1024, 1025, 16, 1, 128), 0);  // decode rows may be most of it
  EXPECT_EQ(hopper_sure_row_tiles(64 * 32, 64, 16, 4, 128), 32);  // 32-query chunks, packed 4:1
  EXPECT_EQ(hopper_sure_row_tiles(0, 0, 16, 1, 192), 0);
}

TEST(HopperL2Sections, Rule) {
  using kvattn::cuda::hopper::hopper_l2_section_heads;
  constexpr int64_t kL2 = 50 << 20;  // H100
  // prefill_4x8k, bf16: 16.8 MB of K/V per KV head, one fits half of L2 -> its 4 query heads.
  EXPECT_EQ(hopper_l2_section_heads(4, 8192, 128, 2, 32, 4, kL2, 256, 132, -1), 4);
  // FP8 halves the bytes: three KV heads in 25 MB.
  EXPECT_EQ(hopper_l2_section_heads(4, 8192, 128, 1, 32, 4, kL2, 256, 132, -1), 12);
  // A 2k chunk among 128 decodes: 17 row tiles per head; 4 waves need every head (one section).
  EXPECT_EQ(hopper_l2_section_heads(129, 4096, 128, 2, 32, 4, kL2, 17, 132, -1), 32);
  // 8 chunks of 2k on 8k: 33.5 MB per KV head (over the budget: one), but 4 waves need two.
  EXPECT_EQ(hopper_l2_section_heads(8, 8192, 128, 2, 32, 4, kL2, 128, 132, -1), 8);
  // Packed GQA: head slots are KV heads.
  EXPECT_EQ(hopper_l2_section_heads(4, 8192, 128, 2, 8, 1, kL2, 1024, 132, -1), 1);
  // Forced: 0 one section, 1 one KV head; MHA-like (one slot per KV head) and a single KV head.
  EXPECT_EQ(hopper_l2_section_heads(4, 8192, 128, 2, 32, 4, kL2, 256, 132, 0), 32);
  EXPECT_EQ(hopper_l2_section_heads(129, 4096, 128, 2, 32, 4, kL2, 17, 132, 1), 4);
  EXPECT_EQ(hopper_l2_section_heads(4, 8192, 128, 2, 4, 4, kL2, 256, 132, -1), 4);
  EXPECT_EQ(hopper_l2_section_heads(1, 1, 64, 2, 16, 1, kL2, 1, 132, -1), 16);
  // Host bounds whose product passes 2^63, and no keys at all.
  EXPECT_EQ(hopper_l2_section_heads(INT32_MAX, INT32_MAX, 256, 2, 64, 4, kL2, int64_t{1} << 40, 132, -1), 4);
  EXPECT_EQ(hopper_l2_section_heads(4, 0, 128, 2, 32, 4, kL2, 256, 132, -1), 32);
}

TEST(HopperPingPong, Rule) {
  using kvattn::cuda::hopper::hopper_ping_pong;
  EXPECT_TRUE(hopper_ping_pong(128, false, 8192, -1));   // 16-bit D 128: always
  EXPECT_TRUE(hopper_ping_pong(64, false, 131072, -1));  // D 64: three warpgroups, round robin
  EXPECT_FALSE(hopper_ping_pong(128, true, 512, -1));    // FP8 KV: never by default
  EXPECT_FALSE(hopper_ping_pong(256, false, 8192, -1));  // D 256 long KV: off
  EXPECT_FALSE(hopper_ping_pong(256, false, 1025, -1));
  EXPECT_TRUE(hopper_ping_pong(256, false, 1024, -1));  // D 256 short KV: on
  EXPECT_FALSE(hopper_ping_pong(256, true, 512, -1));
  EXPECT_TRUE(hopper_ping_pong(256, true, 8192, 1));  // forced
  EXPECT_FALSE(hopper_ping_pong(64, false, 512, 0));
}
