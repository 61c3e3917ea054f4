"""The implementations compare.py times. Each prepare_* returns a Runner or raises Skip with the reason."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable

import torch

from .inputs import TORCH_KV_DTYPE, PagedBatch, make_dense, make_paged
from .workloads import Workload


class Skip(Exception):
    """This implementation cannot run this (workload, kv dtype) here; the message says why."""


@dataclass
class Runner:
    call: Callable[[], object]               # one complete forward, as timed
    paged: bool                              # True: bytes include the block table (and descales)
    batch: PagedBatch | None = None          # paged inputs, for the correctness check
    context: contextlib.AbstractContextManager = field(default_factory=contextlib.nullcontext)
    note: str = ""


def _varlen_call(fn, batch: PagedBatch, causal: bool, **extra):
    """vLLM's flash_attn_varlen_func convention (kvattn and vllm_flash_attn share it). Runs it once, so that
    batch.out holds a result, and returns the call to time (writing into batch.out when `out=` is accepted)."""
    kwargs = dict(seqused_k=batch.seqused_k, causal=causal, block_table=batch.block_table,
                  k_descale=batch.k_descale, v_descale=batch.v_descale, **extra)

    def call_with_out():
        return fn(batch.q, batch.k_cache, batch.v_cache, batch.max_seqlen_q, batch.cu_seqlens_q, batch.max_seqlen_k,
                  out=batch.out, **kwargs)

    def call_returning():
        return fn(batch.q, batch.k_cache, batch.v_cache, batch.max_seqlen_q, batch.cu_seqlens_q, batch.max_seqlen_k,
                  **kwargs)

    try:
        call, result = call_with_out, call_with_out()
    except TypeError:  # no `out=` keyword (a genuine dtype error raises again below)
        call, result = call_returning, call_returning()
    if result is not None and result.data_ptr() != batch.out.data_ptr():
        batch.out.copy_(result)
    return call


def prepare_kvattn(w: Workload, kv_dtype: str, device) -> Runner:
    try:
        import kvattn
    except Exception as e:  # noqa: BLE001 - any import failure means "not available here"
        raise Skip(f"kvattn not importable ({e})") from e
    batch = make_paged(w, kv_dtype, device)
    extra = {}
    if hasattr(kvattn, "get_workspace_size"):  # preallocated workspace, as a serving engine would keep
        cache_dtype = {"e4m3": "fp8_e4m3", "e5m2": "fp8_e5m2"}.get(kv_dtype)  # + the FP8 prewiden scratch
        nbytes = kvattn.get_workspace_size(batch.block_table.shape[0], w.num_q_heads, w.num_kv_heads, w.head_dim,
                                           batch.max_seqlen_q, batch.max_seqlen_k, kv_cache_dtype=cache_dtype)
        if nbytes > 0:
            extra["workspace"] = torch.empty(int(nbytes), dtype=torch.uint8, device=device)
    call = _varlen_call(kvattn.flash_attn_varlen_func, batch, w.causal, **extra)
    return Runner(call=call, paged=True, batch=batch)


def prepare_vllm_fa(w: Workload, kv_dtype: str, device) -> Runner:
    try:
        from vllm.vllm_flash_attn import flash_attn_varlen_func
    except Exception:  # noqa: BLE001
        try:
            from vllm_flash_attn import flash_attn_varlen_func
        except Exception as e:  # noqa: BLE001
            raise Skip(f"vllm_flash_attn not importable ({e})") from e
    batch = make_paged(w, kv_dtype, device)
    call = _varlen_call(flash_attn_varlen_func, batch, w.causal)
    return Runner(call=call, paged=True, batch=batch)


def prepare_flashinfer(w: Workload, kv_dtype: str, device) -> Runner:
    try:
        import flashinfer
    except Exception as e:  # noqa: BLE001
        raise Skip(f"flashinfer not importable ({e})") from e
    batch = make_paged(w, kv_dtype, device)
    blocks = (batch.seqused_k + w.page_size - 1) // w.page_size
    kv_indptr = torch.zeros(len(blocks) + 1, dtype=torch.int32, device=device)
    kv_indptr[1:] = torch.cumsum(blocks, 0)
    kv_indices = torch.cat([batch.block_table[b, :n] for b, n in enumerate(blocks.tolist())])
    last_page_len = (batch.seqused_k - 1) % w.page_size + 1
    workspace = torch.empty(256 << 20, dtype=torch.uint8, device=device)
    wrapper = flashinfer.BatchPrefillWithPagedKVCacheWrapper(workspace, "NHD")
    wrapper.plan(batch.cu_seqlens_q, kv_indptr, kv_indices, last_page_len, w.num_q_heads, w.num_kv_heads,
                 w.head_dim, w.page_size, causal=w.causal, q_data_type=torch.bfloat16,
                 kv_data_type=TORCH_KV_DTYPE[kv_dtype])
    note = ""
    k_scale = v_scale = None
    if batch.k_descale is not None:
        # FlashInfer takes one scale per tensor: time it with the mean (its output is then not checkable).
        k_scale, v_scale = float(batch.k_descale.mean()), float(batch.v_descale.mean())
        note = "per-tensor scale (no per-(seq, head) descales)"

    def call():
        return wrapper.run(batch.q, (batch.k_cache, batch.v_cache), k_scale=k_scale, v_scale=v_scale, out=batch.out)

    result = call()
    if result is not None and result.data_ptr() != batch.out.data_ptr():
        batch.out.copy_(result)
    return Runner(call=call, paged=True, batch=None if note else batch, note=note)


def _bottom_right_mask(q_len: int, kv_len: int, device) -> torch.Tensor:
    i = torch.arange(q_len, device=device)[:, None]
    j = torch.arange(kv_len, device=device)[None, :]
    return j <= i + (kv_len - q_len)


def _prepare_sdpa(backend_name: str, w: Workload, kv_dtype: str, device) -> Runner:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    if kv_dtype != "bf16":
        raise Skip("dense bf16 only (SDPA has no fp8 KV)")
    backend = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION}[backend_name]
    plan = []
    for g in make_dense(w, device):
        mask, is_causal = None, False
        if w.causal and g.q_len == g.kv_len:
            is_causal = True
        elif w.causal and g.q_len > 1:  # is_causal would be top-left aligned here: give the bottom-right mask
            if backend_name == "flash":
                raise Skip("flash backend takes no mask and rejects is_causal when q_len != kv_len")
            mask = _bottom_right_mask(g.q_len, g.kv_len, device)
        # (a single query row with bottom-right causal sees every key: no mask)
        plan.append((g, mask, is_causal))

    gqa = True  # read by run() at call time

    def run():
        for g, mask, is_causal in plan:
            sdpa(g.q, g.k, g.v, attn_mask=mask, is_causal=is_causal, enable_gqa=gqa)

    note = ""
    with sdpa_kernel([backend]):
        try:
            run()
        except RuntimeError:
            # This backend has no GQA: give it Hq K/V heads, expanded once here (not in the timed call).
            gqa = False
            group = w.num_q_heads // w.num_kv_heads
            for g, _, _ in plan:
                g.k, g.v = g.k.repeat_interleave(group, dim=1), g.v.repeat_interleave(group, dim=1)
            note = "K/V expanded to Hq heads (no GQA in this backend)"
            try:
                run()
            except RuntimeError as e:
                raise Skip(f"SDPA {backend_name} backend rejected the call: {str(e).splitlines()[0]}") from e
    return Runner(call=run, paged=False, context=sdpa_kernel([backend]), note=note)


def prepare_sdpa_cudnn(w: Workload, kv_dtype: str, device) -> Runner:
    return _prepare_sdpa("cudnn", w, kv_dtype, device)


def prepare_sdpa_flash(w: Workload, kv_dtype: str, device) -> Runner:
    return _prepare_sdpa("flash", w, kv_dtype, device)


IMPLS = {
    "kvattn": prepare_kvattn,
    "sdpa-cudnn": prepare_sdpa_cudnn,
    "sdpa-flash": prepare_sdpa_flash,
    "flashinfer": prepare_flashinfer,
    "vllm-fa": prepare_vllm_fa,
}
PEERS = [name for name in IMPLS if name != "kvattn"]
