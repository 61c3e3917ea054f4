// Host-only check (runs without a GPU): the Hopper kernel's row map (RowMap,
// hopper_tile.cuh). Over the row tiles of one sequence, unpacked or GQA-packed,
// the tiles' rows must name every (query, query head) of the KV head's group
// exactly once, at the query's token, and a tile's rows must be in query order
// (the kernel derives its key ranges from the first and last row's queries).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cuda/hopper/hopper_tile.cuh"

namespace {

using kvattn::cuda::hopper::RowMap;

// Visits the rows of every tile of a sequence with q_len queries, token0 its first
// token, for the group of KV head hk (pack heads per tile row block when packed).
void check_sequence(int q_len, int group, int hk, int block_m, bool packed) {
  const int64_t token0 = 1000;
  const int pack = packed ? group : 1;
  // Unpacked, each query head of the group has its own tiles; packed, one set.
  const int slots = packed ? 1 : group;
  const int rows = q_len * pack;
  std::vector<int> seen(static_cast<size_t>(q_len) * group, 0);
  for (int slot = 0; slot < slots; ++slot) {
    const int head0 = hk * group + (packed ? 0 : slot);
    for (int m0 = 0; m0 < rows; m0 += block_m) {
      const RowMap map{token0, m0, pack, head0};
      const int valid = rows - m0 < block_m ? rows - m0 : block_m;
      int last_query = -1;
      for (int r = 0; r < valid; ++r) {
        const int q = map.query(r), h = map.head(r);
        ASSERT_GE(q, last_query) << "rows out of query order at tile " << m0 << " row " << r;
        last_query = q;
        ASSERT_LT(q, q_len);
        ASSERT_GE(h, hk * group);
        ASSERT_LT(h, (hk + 1) * group);
        ASSERT_EQ(map.token(r), token0 + q);
        ++seen[static_cast<size_t>(q) * group + (h - hk * group)];
      }
    }
  }
  for (size_t i = 0; i < seen.size(); ++i)
    ASSERT_EQ(seen[i], 1) << "query " << i / group << " head " << i % group << " (q_len " << q_len << ", group "
                          << group << ", packed " << packed << ")";
}

TEST(HopperRows, EveryQueryAndHeadOnce) {
  for (int block_m : {128, 192})
    for (int group : {1, 2, 4, 8, 71})
      for (int q_len : {1, 17, 32, 33, 64, 100, 129, 300})
        for (bool packed : {false, true}) check_sequence(q_len, group, /*hk=*/3, block_m, packed);
}

}  // namespace
