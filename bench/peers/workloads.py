"""The standard workloads (mirrors bench/workloads.cpp) and their FLOP and byte counts."""
from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class SeqGroup:
    count: int
    q_len: int    # new query tokens per sequence
    cached: int   # tokens already in the cache; kv_len = cached + q_len


@dataclass(frozen=True)
class Workload:
    name: str
    groups: tuple[SeqGroup, ...]
    num_q_heads: int = 32
    num_kv_heads: int = 8
    head_dim: int = 128
    page_size: int = 16
    causal: bool = True

    def sequences(self) -> list[tuple[int, int]]:
        """(q_len, kv_len) per sequence, in batch order."""
        return [(g.q_len, g.cached + g.q_len) for g in self.groups for _ in range(g.count)]

    def shape(self) -> str:
        return "+".join(f"{g.count}x({g.q_len},{g.cached})" for g in self.groups)


_PREFILL = (SeqGroup(4, 8192, 0),)

STANDARD = (
    Workload("prefill_4x8k", _PREFILL),
    Workload("chunk_8x2k_ctx6k", (SeqGroup(8, 2048, 6144),)),
    Workload("mixed_2k_128dec", (SeqGroup(1, 2048, 2048), SeqGroup(128, 1, 4096))),
    Workload("decode_128_ctx4k", (SeqGroup(128, 1, 4096),)),
    Workload("decode_32_ctx32k", (SeqGroup(32, 1, 32768),)),
    Workload("specdec_64x4_ctx4k", (SeqGroup(64, 4, 4096),)),
    Workload("decode_8_ctx128k", (SeqGroup(8, 1, 131072),)),
    Workload("prefill_d64", _PREFILL, head_dim=64),
    Workload("prefill_d256", _PREFILL, num_q_heads=16, head_dim=256),
    Workload("chunk_64x32_ctx4k", (SeqGroup(64, 32, 4096),)),
)

KV_DTYPES = ("bf16", "e4m3", "e5m2")
KV_DTYPE_SIZE = {"bf16": 2, "e4m3": 1, "e5m2": 1}


def select(names: list[str] | None) -> list[Workload]:
    if not names or "all" in names:
        return list(STANDARD)
    by_name = {w.name: w for w in STANDARD}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"--workload: unknown {unknown}; expected some of {sorted(by_name)} or all")
    return [by_name[n] for n in names]


def scaled(w: Workload, len_div: int, count_div: int, keep_short: int = 16) -> Workload:
    """Smaller version for smoke runs (same rule as kvattn-bench's CPU mode)."""
    def scale_len(n: int) -> int:
        return n if n <= keep_short else max(keep_short, n // len_div)
    groups = tuple(SeqGroup(max(1, g.count // count_div), scale_len(g.q_len), scale_len(g.cached)) for g in w.groups)
    return replace(w, groups=groups)


def sequence_pairs(q_len: int, kv_len: int, causal: bool) -> int:
    """Visible (query, key) pairs; causal is bottom-right aligned: row i sees keys j <= i + kv_len - q_len."""
    if not causal:
        return q_len * kv_len
    off = kv_len - q_len
    return sum(min(max(i + off + 1, 0), kv_len) for i in range(q_len))


def visible_pairs(w: Workload) -> int:
    return sum(g.count * sequence_pairs(g.q_len, g.cached + g.q_len, w.causal) for g in w.groups)


def flops(w: Workload) -> float:
    """4 * D per visible pair per query head (QK^T and PV)."""
    return 4.0 * w.head_dim * w.num_q_heads * visible_pairs(w)


def bytes_moved(w: Workload, kv_dtype: str, paged: bool = True) -> float:
    """K and V read once, q read and out written (bf16), plus block-table entries and fp8 descales when paged."""
    kv_size = KV_DTYPE_SIZE[kv_dtype]
    total = 0.0
    for q_len, kv_len in w.sequences():
        total += 2.0 * kv_len * w.num_kv_heads * w.head_dim * kv_size
        total += 2.0 * q_len * w.num_q_heads * w.head_dim * 2
        if paged:
            total += 4.0 * -(-kv_len // w.page_size)
            if kv_size == 1:
                total += 2.0 * 4.0 * w.num_kv_heads
    return total
