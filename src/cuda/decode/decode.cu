// Host side of the split-KV decode family: the split-count heuristic, the
// workspace size, and AttentionProblem -> DecodeParams for the launch.
#include "cuda/decode/decode.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "cuda/common/launch_utils.h"
#include "cuda/common/routing.h"
#include "cuda/decode/decode_dispatch.h"
#include "cuda/decode/decode_params.h"
#include "cuda/decode/decode_shape.h"
#include "kvattn/attention.h"
#include "kvattn/error.h"

namespace kvattn {
namespace cuda {

namespace {

using decode::DecodeParams;
using decode::KvKind;

// Each split should stream at least this many keys: below it the fixed cost
// of a CTA (Q load, pipeline fill, merge, partial write) stops being small.
constexpr int64_t kMinKeysPerSplit = 512;
constexpr size_t kWorkspaceAlign = 256;
// Waves of resident CTAs (in tenths) the split heuristic aims for. Narrow
// (single-token) tiles split cheaply, and more waves shorten the tail of a
// ragged batch, whose longest sequences may come last (3 waves against 1.8:
// 64 decodes at 1k-32k -1 to -3%, 16 at 1k-128k -8 to -11%; uniform batches
// level to +1.4%). Splitting wide (spec-verify) tiles costs their CTAs'
// prologue and a 16-64-row combine (64 x 4 tokens at 8k: 0.46 ms at 1 split,
// 0.49 at 2, 0.55 at 4): a last wave 90% full counts as the second
// (docs/perf-notes.md, session 17).
constexpr int64_t kNarrowWavesX10 = 30;
constexpr int64_t kWideWavesX10 = 18;

// Packed rows (query token x head of the group) of one (sequence, kv head).
int64_t packed_rows_bound(int64_t max_seqlen_q, int num_q_heads, int num_kv_heads) {
  if (max_seqlen_q <= 0 || num_kv_heads <= 0) return 0;
  return std::min<int64_t>(max_seqlen_q, kShortQueryMaxLen) * (num_q_heads / num_kv_heads);
}

// 16-row MMA fragments per CTA: small groups use 16 rows with the four warps
// on different keys; many rows (GQA 16+ or spec-verify) share one KV tile.
int row_frags_for(int64_t rows_bound) { return rows_bound <= 16 ? 1 : (rows_bound <= 32 ? 2 : 4); }

// Share of the resident slots the CTAs of a launch keep busy, averaged over its waves.
double last_wave_fill(int64_t ctas, int64_t slots) {
  const double waves = double(ctas) / double(slots);
  return waves / std::ceil(waves);
}

// Decode tuning knobs, read once per process from KVATTN_DECODE_VARIANT, a
// comma-separated list of key=value (unknown keys and bad values are ignored):
//   copy=pairs|rows (or 0|1)  thread -> byte mapping of the KV copies (decode_params.h)
//   stages=N                  cp.async ring depth (clamped to 2 .. what fits 227 KB)
//   prefetch=0|128|256        L2 prefetch-size hint on the KV copies
//   splits=N                  split count used where the heuristic would run
//   waves=N                   the split heuristic's wave target in tenths (default 30 narrow, 18 wide)
// Meant for tuning sweeps (tools/dev/decode_sweep.sh); unset = the defaults below.
struct DecodeVariant {
  int copy_mode = decode::kCopyRows;  // coalesced row copies: 1.2-1.6x faster than pairs on an H200 (docs/decode-tuning.md)
  int stages = 0;  // 0: DecodeShape::kStages
  int prefetch = 0;
  int splits = 0;  // 0: heuristic
  bool narrow = true;  // 8-row transposed-MMA tiles where a tile's rows fit 8
  int waves_x10 = 0;  // 0: kNarrowWavesX10 / kWideWavesX10
};

DecodeVariant parse_variant(const char* text) {
  DecodeVariant v;
  if (text == nullptr) return v;
  const std::string all(text);
  size_t at = 0;
  while (at <= all.size()) {
    size_t end = all.find(',', at);
    if (end == std::string::npos) end = all.size();
    const std::string item = all.substr(at, end - at);
    at = end + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq), val = eq == std::string::npos ? "" : item.substr(eq + 1);
    const int num = std::atoi(val.c_str());
    bool ok = true;
    if (key == "copy" && (val == "rows" || val == "1")) {
      v.copy_mode = decode::kCopyRows;
    } else if (key == "copy" && (val == "pairs" || val == "0")) {
      v.copy_mode = decode::kCopyPairs;
    } else if (key == "stages" && !val.empty()) {
      v.stages = std::clamp(num, 0, decode::kMaxStages);
    } else if (key == "prefetch" && (val == "0" || val == "128" || val == "256")) {
      v.prefetch = num;
    } else if (key == "narrow" && (val == "0" || val == "1")) {
      v.narrow = val == "1";
    } else if (key == "waves" && num >= 5 && num <= 80) {
      v.waves_x10 = num;
    } else if (key == "splits" && !val.empty()) {
      v.splits = std::clamp(num, 0, kMaxSplits);
    } else {
      ok = false;
    }
    // A tuning knob: a typo must not silently time the default.
    if (!ok)
      std::fprintf(stderr,
                   "kvattn: KVATTN_DECODE_VARIANT: ignoring '%s' (expected copy=rows|pairs, stages=N, "
                   "prefetch=0|128|256, splits=N, narrow=0|1, waves=5..80)\n",
                   item.c_str());
  }
  return v;
}

const DecodeVariant& decode_variant() {
  static const DecodeVariant v = parse_variant(std::getenv("KVATTN_DECODE_VARIANT"));
  return v;
}

// How the packed rows of one (sequence, kv head) are cut into CTA row tiles.
struct RowTiling {
  int64_t rows_bound = 0;  // packed rows a sequence may have
  bool narrow = false;     // 8-row transposed-MMA tiles
  int row_frags = 1;       // wide tiles: 16-row fragments per tile
  int64_t row_tiles = 1;   // tiles per (sequence, kv head) in the grid
  int64_t busy_tiles = 1;  // of which a typical sequence fills (the split heuristic counts these)
};

RowTiling row_tiling(int64_t max_seqlen_q, int num_q_heads, int num_kv_heads) {
  RowTiling t;
  t.rows_bound = packed_rows_bound(max_seqlen_q, num_q_heads, num_kv_heads);
  const int64_t group = num_kv_heads > 0 ? num_q_heads / num_kv_heads : 1;
  // A mixed batch (max_seqlen_q > kShortQueryMaxLen) holds mostly single-token
  // decodes: size the row tile for q_len 1 (g rows) so they do not pay 16
  // tokens' worth of MMA; a longer spec-verify sequence then spans several tiles.
  const int64_t tile_basis = max_seqlen_q > kShortQueryMaxLen ? std::min(group, t.rows_bound) : t.rows_bound;
  // A tile's rows (one sequence's group of g heads, or all its packed rows when
  // every query is short) fit 8: the narrow kernel (half the MMA work per key).
  t.narrow = decode_variant().narrow && tile_basis <= 8;
  t.row_frags = t.narrow ? 1 : row_frags_for(tile_basis);
  const int64_t tile_rows = t.narrow ? 8 : 16 * t.row_frags;
  t.row_tiles = std::max<int64_t>(1, (t.rows_bound + tile_rows - 1) / tile_rows);
  t.busy_tiles = std::max<int64_t>(1, (tile_basis + tile_rows - 1) / tile_rows);
  return t;
}

struct WorkspaceLayout {
  size_t out_bytes = 0;  // fp32 [splits][B][Hkv][rows][D]
  size_t ml_bytes = 0;   // float2 [splits][B][Hkv][rows]
  size_t total() const { return out_bytes == 0 ? 0 : align_up(out_bytes, kWorkspaceAlign) + ml_bytes + 16; }
};

WorkspaceLayout workspace_layout(int64_t batch, int num_kv_heads, int head_dim, int64_t rows_bound,
                                 int num_splits) {
  WorkspaceLayout w;
  if (num_splits <= 1 || rows_bound <= 0 || batch <= 0) return w;
  const size_t slots = size_t(num_splits) * size_t(batch) * size_t(num_kv_heads) * size_t(rows_bound);
  w.out_bytes = slots * size_t(head_dim) * sizeof(float);
  w.ml_bytes = slots * sizeof(float2);
  return w;
}

KvKind kv_kind_of(DType kv) {
  if (kv == DType::kFloat8E4M3) return KvKind::kE4M3;
  if (kv == DType::kFloat8E5M2) return KvKind::kE5M2;
  return KvKind::k16Bit;
}

bool aligned16(const void* ptr, std::initializer_list<int64_t> byte_strides) {
  if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0) return false;
  for (int64_t s : byte_strides) {
    if (s % 16 != 0) return false;
  }
  return true;
}

DecodeParams make_params(const AttentionProblem& p) {
  DecodeParams d;
  d.batch = static_cast<int>(p.batch);
  d.num_q_heads = p.num_q_heads;
  d.num_kv_heads = p.num_kv_heads;
  d.group = p.num_q_heads / p.num_kv_heads;
  const RowTiling t = row_tiling(p.max_seqlen_q, p.num_q_heads, p.num_kv_heads);
  const int64_t rows_bound = t.rows_bound;
  d.rows_bound = static_cast<int>(rows_bound);
  d.narrow = t.narrow;
  d.row_frags = t.row_frags;
  d.row_tiles = static_cast<int>(t.row_tiles);
  const DecodeVariant& variant = decode_variant();
  d.num_splits = std::max(1, std::min(p.num_splits, kMaxSplits));
  d.copy_mode = variant.copy_mode;
  d.stages = variant.stages;
  d.prefetch = variant.prefetch;

  d.q = p.q;
  d.q_stride_token = p.q_stride_token;
  d.q_stride_head = p.q_stride_head;

  const int64_t kv_bytes = kv_kind_of(p.kv_dtype) == KvKind::k16Bit ? 2 : 1;
  d.k = static_cast<const uint8_t*>(p.k);
  d.v = static_cast<const uint8_t*>(p.v);
  d.k_stride_block = p.k_stride_block * kv_bytes;
  d.k_stride_token = p.k_stride_token * kv_bytes;
  d.k_stride_head = p.k_stride_head * kv_bytes;
  d.v_stride_block = p.v_stride_block * kv_bytes;
  d.v_stride_token = p.v_stride_token * kv_bytes;
  d.v_stride_head = p.v_stride_head * kv_bytes;
  d.paged = p.paged;
  if (p.paged) {
    d.page_size = p.page_size;
    d.tile_pages = decode::kTileKeys / p.page_size;
    d.tile_rem = decode::kTileKeys % p.page_size;
    d.kv_aligned16 = aligned16(p.k, {d.k_stride_block, d.k_stride_token, d.k_stride_head}) &&
                     aligned16(p.v, {d.v_stride_block, d.v_stride_token, d.v_stride_head});
  } else {
    d.page_size = INT_MAX;  // one endless page: the row walk never wraps
    d.tile_pages = 0;
    d.tile_rem = 0;
    d.kv_aligned16 = aligned16(p.k, {d.k_stride_token, d.k_stride_head}) &&
                     aligned16(p.v, {d.v_stride_token, d.v_stride_head});
  }
  d.block_table = p.block_table;
  d.block_table_stride = p.block_table_stride;
  d.cu_seqlens_q = p.cu_seqlens_q;
  d.cu_seqlens_k = p.cu_seqlens_k;
  d.seqused_k = p.seqused_k;

  d.q_descale = p.q_descale;
  d.k_descale = p.k_descale;
  d.v_descale = p.v_descale;
  d.softmax_scale = p.softmax_scale;
  d.softcap = p.softcap;
  d.window_left = p.window_left;
  d.window_right = p.window_right;

  d.sinks = p.sinks;
  d.sinks_dtype = p.sinks_dtype == DType::kBFloat16 ? 1 : (p.sinks_dtype == DType::kFloat16 ? 2 : 0);
  d.sinks_stride = p.sinks_stride;

  d.out = p.out;
  d.out_stride_token = p.out_stride_token;
  d.out_stride_head = p.out_stride_head;
  d.lse = p.lse;
  d.lse_stride_head = p.lse_stride_head;
  d.lse_stride_token = p.lse_stride_token;

  if (d.num_splits > 1) {
    const WorkspaceLayout w = workspace_layout(p.batch, p.num_kv_heads, p.head_dim, rows_bound, d.num_splits);
    if (p.workspace == nullptr || p.workspace_bytes < w.total()) {
      throw Error(ErrorCode::kInvalidArgument, "workspace",
                  "num_splits " + std::to_string(d.num_splits) + " needs at least " + std::to_string(w.total()) +
                      " bytes, got " + std::to_string(p.workspace == nullptr ? 0 : p.workspace_bytes));
    }
    const uintptr_t base = align_up(reinterpret_cast<uintptr_t>(p.workspace), 16);
    d.ws_out = reinterpret_cast<float*>(base);
    d.ws_ml = reinterpret_cast<float2*>(base + align_up(w.out_bytes, kWorkspaceAlign));
  }
  return d;
}

}  // namespace

int decode_num_splits(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim, int64_t max_seqlen_q,
                      int64_t max_seqlen_k, int requested, int sm_count) {
  if (requested > 0) return std::min(requested, kMaxSplits);
  const RowTiling t = row_tiling(max_seqlen_q, num_q_heads, num_kv_heads);
  if (t.rows_bound <= 0 || max_seqlen_k <= 0 || batch <= 0) return 1;
  if (decode_variant().splits > 0) return decode_variant().splits;

  // Enough CTAs for the wave target (at 2 CTAs per SM), then among the next
  // few counts the one whose last wave is fullest; never below ~512 keys a
  // split. Wide tiles hold 2 CTAs per SM; narrow tiles 2 (16-bit KV) or, FP8
  // up to D 128, 4: the count must fill the last wave of both (it cannot
  // depend on the KV dtype: the workspace size query does not know it).
  const int64_t base_ctas = batch * num_kv_heads * t.busy_tiles;
  const int64_t sms = std::max(sm_count, 1);
  const int64_t slots = sms * decode::decode_min_blocks_per_sm(head_dim);
  // Slots at the narrow FP8 kernel's residency (wide tiles: the same 2 per SM).
  const int64_t slots_narrow = t.narrow ? sms * decode::decode_min_blocks_per_sm(head_dim, /*narrow=*/true, /*kv_bytes=*/1)
                                        : slots;
  const int64_t cap = std::min<int64_t>(kMaxSplits, std::max<int64_t>(1, max_seqlen_k / kMinKeysPerSplit));
  const int64_t waves_x10 = decode_variant().waves_x10 > 0 ? decode_variant().waves_x10
                            : t.narrow                      ? kNarrowWavesX10
                                                            : kWideWavesX10;
  const int64_t want = (waves_x10 * slots + 10 * base_ctas - 1) / (10 * base_ctas);
  if (want <= 1) return 1;
  const int64_t first = std::min(want, cap);
  const int64_t last = std::min(2 * want, cap);
  int64_t best = first;
  double best_eff = 0.0;
  for (int64_t s = first; s <= last; ++s) {
    const double eff = std::min(last_wave_fill(base_ctas * s, slots), last_wave_fill(base_ctas * s, slots_narrow));
    if (eff > best_eff + 1e-9) best_eff = eff, best = s;
  }
  return static_cast<int>(best);
}

size_t decode_workspace_bytes(int64_t batch, int num_q_heads, int num_kv_heads, int head_dim, int64_t max_seqlen_q,
                              int num_splits) {
  const int64_t rows_bound = packed_rows_bound(max_seqlen_q, num_q_heads, num_kv_heads);
  return workspace_layout(batch, num_kv_heads, head_dim, rows_bound, std::min(num_splits, kMaxSplits)).total();
}

void launch_decode_splitkv(const AttentionProblem& p, cudaStream_t stream) {
  if (p.batch <= 0 || p.total_q <= 0 || p.max_seqlen_q <= 0) return;  // no query rows at all
  const DecodeParams d = make_params(p);
  if (int64_t(d.row_tiles) * d.num_kv_heads * d.batch > int64_t(INT_MAX)) {
    throw Error(ErrorCode::kInvalidArgument, "cu_seqlens_q",
                "batch x num_kv_heads x row tiles must be < 2^31 for the decode grid");
  }
  const bool q_bf16 = p.q_dtype == DType::kBFloat16;
  const KvKind kv = kv_kind_of(p.kv_dtype);
  switch (p.head_dim) {
    case 64: return decode::launch_decode_hd64(d, q_bf16, kv, stream);
    case 96: return decode::launch_decode_hd96(d, q_bf16, kv, stream);
    case 128: return decode::launch_decode_hd128(d, q_bf16, kv, stream);
    case 192: return decode::launch_decode_hd192(d, q_bf16, kv, stream);
    case 256: return decode::launch_decode_hd256(d, q_bf16, kv, stream);
    default:
      throw Error(ErrorCode::kNotImplemented, "q",
                  "head_dim " + std::to_string(p.head_dim) + " is not compiled; expected 64, 96, 128, 192 or 256");
  }
}

}  // namespace cuda
}  // namespace kvattn
