"""Checks a paged implementation's output on a few rows against an fp32 torch reference (docs/semantics.md S1-S4)."""
from __future__ import annotations

import math

import torch

from .inputs import PagedBatch, gather_sequence_kv
from .workloads import Workload

CHECK_ROWS = 32
TOLERANCE = 2e-2


def reference_rows(w: Workload, batch: PagedBatch, b: int, row0: int, rows: int) -> torch.Tensor:
    """fp32 attention output [rows, Hq, D] for query rows [row0, row0 + rows) of sequence b."""
    cu = batch.cu_seqlens_q.tolist()
    q_len, kv_len = cu[b + 1] - cu[b], int(batch.seqused_k[b])
    k, v = gather_sequence_kv(batch, b, kv_len, w.page_size)
    group = w.num_q_heads // w.num_kv_heads
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)  # [kv_len, Hq, D]
    q = batch.q[cu[b] + row0: cu[b] + row0 + rows].float()
    s = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(w.head_dim)
    if w.causal:  # bottom-right: row i sees keys j <= i + kv_len - q_len
        i = torch.arange(row0, row0 + rows, device=q.device)[:, None]
        j = torch.arange(kv_len, device=q.device)[None, :]
        s = s.masked_fill(j > i + (kv_len - q_len), float("-inf"))
    p = torch.softmax(s, dim=-1).nan_to_num(0.0)  # rows that see nothing give zeros
    return torch.einsum("hqk,khd->qhd", p, v)


def max_rel_l2(w: Workload, batch: PagedBatch, out: torch.Tensor) -> float:
    """Worst per-head relative L2 error over the last CHECK_ROWS rows of sequences 0, B/2 and B-1."""
    cu = batch.cu_seqlens_q.tolist()
    batch_size = len(cu) - 1
    worst = 0.0
    for b in sorted({0, batch_size // 2, batch_size - 1}):
        q_len = cu[b + 1] - cu[b]
        rows = min(CHECK_ROWS, q_len)
        if rows == 0:
            continue
        ref = reference_rows(w, batch, b, q_len - rows, rows)
        got = out[cu[b] + q_len - rows: cu[b] + q_len].float()
        err = ((got - ref).pow(2).sum(dim=(0, 2)) / ref.pow(2).sum(dim=(0, 2)).clamp_min(1e-30)).sqrt()
        worst = max(worst, float(err.max())) if not torch.isnan(err).any() else float("nan")
        if math.isnan(worst):
            break
    return worst
