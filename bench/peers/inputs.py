"""Random inputs on the device: the paged batch kvattn (and paged peers) take, and dense bf16 copies for SDPA."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .workloads import Workload

FP8_CODE_SCALE = 4.0  # N(0,1) * 4 before fp8 encoding: normal range of both formats, no saturation
TORCH_KV_DTYPE = {"bf16": torch.bfloat16, "e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}


@dataclass
class PagedBatch:
    q: torch.Tensor             # [total_q, Hq, D] bf16
    k_cache: torch.Tensor       # [num_blocks, page, Hkv, D]
    v_cache: torch.Tensor
    cu_seqlens_q: torch.Tensor  # int32 [B + 1]
    seqused_k: torch.Tensor     # int32 [B]
    block_table: torch.Tensor   # int32 [B, max_blocks]; unused entries 0
    max_seqlen_q: int
    max_seqlen_k: int
    k_descale: torch.Tensor | None  # fp32 [B, Hkv], None for a bf16 cache
    v_descale: torch.Tensor | None
    out: torch.Tensor           # preallocated [total_q, Hq, D] bf16


def _random_kv(shape, kv_dtype: str, gen: torch.Generator, device) -> torch.Tensor:
    x = torch.randn(shape, generator=gen, device=device, dtype=torch.float32)
    if kv_dtype == "bf16":
        return x.to(torch.bfloat16)
    return (x * FP8_CODE_SCALE).to(TORCH_KV_DTYPE[kv_dtype])


def make_paged(w: Workload, kv_dtype: str, device, seed: int = 0) -> PagedBatch:
    gen = torch.Generator(device=device).manual_seed(seed)
    seqs = w.sequences()
    blocks = [-(-kv // w.page_size) for _, kv in seqs]
    num_blocks, max_blocks = sum(blocks), max(blocks)
    # A random permutation of the physical blocks, as in a cache that has been in use for a while.
    perm = torch.randperm(num_blocks, generator=gen, device=device, dtype=torch.int64).to(torch.int32)
    block_table = torch.zeros(len(seqs), max_blocks, dtype=torch.int32, device=device)
    start = 0
    for b, n in enumerate(blocks):
        block_table[b, :n] = perm[start:start + n]
        start += n
    q_lens = torch.tensor([q for q, _ in seqs], dtype=torch.int32)
    cu_seqlens_q = torch.zeros(len(seqs) + 1, dtype=torch.int32)
    cu_seqlens_q[1:] = torch.cumsum(q_lens, 0)
    total_q = int(cu_seqlens_q[-1])
    cache_shape = (num_blocks, w.page_size, w.num_kv_heads, w.head_dim)
    fp8 = kv_dtype != "bf16"

    def descale():  # per-(sequence, kv-head), uniform in [0.5, 2]
        if not fp8:
            return None
        return 0.5 + 1.5 * torch.rand(len(seqs), w.num_kv_heads, generator=gen, device=device, dtype=torch.float32)

    return PagedBatch(
        q=torch.randn(total_q, w.num_q_heads, w.head_dim, generator=gen, device=device).to(torch.bfloat16),
        k_cache=_random_kv(cache_shape, kv_dtype, gen, device),
        v_cache=_random_kv(cache_shape, kv_dtype, gen, device),
        cu_seqlens_q=cu_seqlens_q.to(device),
        seqused_k=torch.tensor([kv for _, kv in seqs], dtype=torch.int32, device=device),
        block_table=block_table,
        max_seqlen_q=max(q for q, _ in seqs),
        max_seqlen_k=max(kv for _, kv in seqs),
        k_descale=descale(),
        v_descale=descale(),
        out=torch.empty(total_q, w.num_q_heads, w.head_dim, dtype=torch.bfloat16, device=device),
    )


@dataclass
class DenseGroup:
    """One uniform group of sequences as SDPA takes it: [B, H, L, D] bf16."""
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    q_len: int
    kv_len: int


def make_dense(w: Workload, device, seed: int = 0) -> list[DenseGroup]:
    gen = torch.Generator(device=device).manual_seed(seed)

    def rand(*shape):
        return torch.randn(shape, generator=gen, device=device).to(torch.bfloat16)

    groups = []
    for g in w.groups:
        kv_len = g.cached + g.q_len
        groups.append(DenseGroup(q=rand(g.count, w.num_q_heads, g.q_len, w.head_dim),
                                 k=rand(g.count, w.num_kv_heads, kv_len, w.head_dim),
                                 v=rand(g.count, w.num_kv_heads, kv_len, w.head_dim),
                                 q_len=g.q_len, kv_len=kv_len))
    return groups


def gather_sequence_kv(batch: PagedBatch, b: int, kv_len: int, page_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequence b's first kv_len keys and values, dequantized to fp32 with its descales: [kv_len, Hkv, D]."""
    n = -(-kv_len // page_size)
    ids = batch.block_table[b, :n].long()

    def take(cache, descale):
        x = cache[ids].reshape(n * page_size, *cache.shape[2:])[:kv_len].float()
        return x * descale[b][None, :, None] if descale is not None else x

    return take(batch.k_cache, batch.k_descale), take(batch.v_cache, batch.v_descale)
