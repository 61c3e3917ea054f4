"""Device-only torch tests: CUDA-graph capture of a decode step replayed with
changed sequence lengths, the vLLM-style serving step end to end (FP8 cache
write + mixed chunked-prefill/decode attention with expanded scales), and the
eager host overhead per call (reported, not asserted). Skipped without torch,
CUDA, or a CUDA-enabled kvattn build."""
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (these tests run on the device machine)")

import attn_cases  # noqa: E402
import attn_reference as ref  # noqa: E402
import kvattn  # noqa: E402
from torch_utils import to_numpy  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    pytest.mark.skipif(not kvattn.built_with_cuda(), reason="this kvattn build has no CUDA backend"),
]


def _paged_cache(gen, num_seqs, max_len, page, hkv, d, dtype):
    """Random fp8 (or bf16) pages and a shuffled block table wide enough for max_len."""
    width = -(-max_len // page)
    num_blocks = num_seqs * width + 2
    if dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
        kc = (4 * torch.randn(num_blocks, page, hkv, d, generator=gen, device="cuda")).to(dtype)
        vc = (4 * torch.randn(num_blocks, page, hkv, d, generator=gen, device="cuda")).to(dtype)
    else:
        kc = torch.randn(num_blocks, page, hkv, d, generator=gen, device="cuda").to(dtype)
        vc = torch.randn(num_blocks, page, hkv, d, generator=gen, device="cuda").to(dtype)
    perm = torch.randperm(num_blocks, generator=gen, device="cuda")[:num_seqs * width]
    table = perm.reshape(num_seqs, width).to(torch.int32)
    return kc, vc, table


def _gather(cache, table, lens, page):
    """Per-sequence [len, Hkv, D] numpy arrays of the stored values."""
    c = to_numpy(cache)
    t = table.cpu().numpy()
    return [np.stack([c[t[b, p // page], p % page] for p in range(n)]) if n else np.zeros((0,) + c.shape[2:])
            for b, n in enumerate(lens)]


def test_cuda_graph_decode_replay_with_changed_seqused_k():
    gen = torch.Generator(device="cuda").manual_seed(0)
    batch, hq, hkv, d, page, max_k = 6, 16, 2, 128, 16, 2048
    kc, vc, table = _paged_cache(gen, batch, max_k, page, hkv, d, torch.float8_e4m3fn)
    k_scale = torch.tensor([0.05], device="cuda")
    v_scale = torch.tensor([0.04], device="cuda")
    q = torch.empty((batch, hq, d), dtype=torch.bfloat16, device="cuda")
    cu_q = torch.arange(batch + 1, dtype=torch.int32, device="cuda")
    seqused = torch.ones(batch, dtype=torch.int32, device="cuda")
    out = torch.empty_like(q)
    lse = torch.empty((hq, batch), dtype=torch.float32, device="cuda")

    def step():
        # Workspace (split-KV) is allocated inside the call: from the graph's pool while capturing.
        o, l = kvattn.flash_attn_varlen_func(
            q, kc, vc, 1, cu_q, max_k, seqused_k=seqused, block_table=table, causal=True, out=out,
            return_softmax_lse=True, k_descale=k_scale.expand(batch, hkv), v_descale=v_scale.expand(batch, hkv))
        lse.copy_(l)

    q.copy_(torch.randn(q.shape, generator=gen, device="cuda"))
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()

    for lens in ([1, 17, 300, 2048, 5, 999], [2048, 2048, 1, 16, 33, 1500], [0, 64, 65, 700, 1, 2]):
        q.copy_(torch.randn(q.shape, generator=gen, device="cuda"))
        seqused.copy_(torch.tensor(lens, dtype=torch.int32))
        graph.replay()
        torch.cuda.synchronize()
        ref_out, ref_lse = ref.attention(to_numpy(q), _gather(kc, table, lens, page), _gather(vc, table, lens, page),
                                         [1] * batch, causal=True, k_descale=np.full((batch, hkv), 0.05),
                                         v_descale=np.full((batch, hkv), 0.04))
        attn_cases.check_output(to_numpy(out), ref_out, ref.BF16)
        attn_cases.check_lse(to_numpy(lse), ref_lse)


@pytest.mark.parametrize("kv_cache_dtype, torch_fp8", [("fp8", torch.float8_e4m3fn),
                                                      ("fp8_e5m2", torch.float8_e5m2)])
def test_vllm_style_serving_step(kv_cache_dtype, torch_fp8):
    """New tokens' K/V written with reshape_and_cache_flash into an FP8 cache
    (uint8 storage, k_scale / v_scale tensors), then one mixed batch: chunked
    prefills on cached context, decodes, and a fresh prefill, with
    k_descale=k_scale.expand(num_seqs, num_kv_heads) as vLLM passes it."""
    gen = torch.Generator(device="cuda").manual_seed(1)
    hq, hkv, d, page = 32, 8, 128, 16
    cached = [500, 0, 77, 1000, 31, 4095]
    new = [128, 200, 1, 1, 1, 1]
    num_seqs = len(cached)
    seq_lens = [c + n for c, n in zip(cached, new)]
    width = -(-max(seq_lens) // page)
    num_blocks = num_seqs * width + 3
    key_cache = torch.zeros((num_blocks, page, hkv, d), dtype=torch.uint8, device="cuda")
    value_cache = torch.zeros_like(key_cache)
    table = torch.randperm(num_blocks, generator=gen, device="cuda")[:num_seqs * width].reshape(num_seqs, width)
    table = table.to(torch.int32)
    t = table.cpu().numpy()

    def slots(b, positions):
        return [int(t[b, p // page]) * page + p % page for p in positions]

    all_k = [torch.randn((n, hkv, d), generator=gen, device="cuda", dtype=torch.float32).bfloat16()
             for n in seq_lens]
    all_v = [torch.randn((n, hkv, d), generator=gen, device="cuda", dtype=torch.float32).bfloat16()
             for n in seq_lens]
    k_scale = kvattn.compute_fp8_scales(torch.cat(all_k), fp8_dtype=kv_cache_dtype)
    v_scale = kvattn.compute_fp8_scales(torch.cat(all_v), fp8_dtype=kv_cache_dtype)
    # Earlier steps: the cached context.
    ctx_k = torch.cat([all_k[b][:cached[b]] for b in range(num_seqs)])
    ctx_v = torch.cat([all_v[b][:cached[b]] for b in range(num_seqs)])
    ctx_slots = torch.tensor(sum((slots(b, range(cached[b])) for b in range(num_seqs)), []), device="cuda")
    kvattn.reshape_and_cache_flash(ctx_k, ctx_v, key_cache, value_cache, ctx_slots, kv_cache_dtype, k_scale, v_scale)
    # This step: new tokens, vLLM-padded (slot_mapping shorter than key / value).
    new_k = torch.cat([all_k[b][cached[b]:] for b in range(num_seqs)] + [torch.zeros_like(all_k[0][:5])])
    new_v = torch.cat([all_v[b][cached[b]:] for b in range(num_seqs)] + [torch.zeros_like(all_v[0][:5])])
    new_slots = torch.tensor(sum((slots(b, range(cached[b], seq_lens[b])) for b in range(num_seqs)), []),
                             device="cuda")
    kvattn.reshape_and_cache_flash(new_k, new_v, key_cache, value_cache, new_slots, kv_cache_dtype, k_scale, v_scale)

    q = torch.randn((sum(new), hq, d), generator=gen, device="cuda").bfloat16()
    cu_q = torch.tensor(np.concatenate([[0], np.cumsum(new)]), dtype=torch.int32, device="cuda")
    seqused = torch.tensor(seq_lens, dtype=torch.int32, device="cuda")
    out = torch.empty_like(q)
    result, lse = kvattn.flash_attn_varlen_func(
        q=q, k=key_cache.view(torch_fp8), v=value_cache.view(torch_fp8), cu_seqlens_q=cu_q, max_seqlen_q=max(new),
        seqused_k=seqused, max_seqlen_k=max(seq_lens), softmax_scale=d ** -0.5, causal=True, window_size=(-1, -1),
        block_table=table, softcap=0.0, out=out, return_softmax_lse=True, fa_version=3, scheduler_metadata=None,
        q_descale=None, k_descale=k_scale.expand(num_seqs, hkv), v_descale=v_scale.expand(num_seqs, hkv),
        num_splits=0, s_aux=None)
    assert result is out

    fp8_k = key_cache.view(torch_fp8)
    fp8_v = value_cache.view(torch_fp8)
    ks, vs = float(k_scale.item()), float(v_scale.item())
    ref_out, ref_lse = ref.attention(to_numpy(q), _gather(fp8_k, table, seq_lens, page),
                                     _gather(fp8_v, table, seq_lens, page), new, causal=True,
                                     k_descale=np.full((num_seqs, hkv), ks), v_descale=np.full((num_seqs, hkv), vs))
    attn_cases.check_output(to_numpy(out), ref_out, ref.BF16)
    attn_cases.check_lse(to_numpy(lse), ref_lse)


def test_eager_host_overhead_per_decode_call(capsys):
    """Reports µs per eager decode-sized call (pytest -s shows it); not pass/fail."""
    batch, hq, hkv, d, page, kv_len = 8, 32, 8, 128, 16, 128
    gen = torch.Generator(device="cuda").manual_seed(2)
    kc, vc, table = _paged_cache(gen, batch, kv_len, page, hkv, d, torch.float8_e4m3fn)
    q = torch.randn((batch, hq, d), generator=gen, device="cuda").bfloat16()
    cu_q = torch.arange(batch + 1, dtype=torch.int32, device="cuda")
    seqused = torch.full((batch,), kv_len, dtype=torch.int32, device="cuda")
    k_scale = torch.tensor([0.05], device="cuda")
    out = torch.empty_like(q)
    descale = k_scale.expand(batch, hkv)

    def call_preallocated():
        kvattn.flash_attn_varlen_func(q, kc, vc, 1, cu_q, kv_len, seqused_k=seqused, block_table=table, causal=True,
                                      out=out, k_descale=descale, v_descale=descale)

    def call_allocating():
        kvattn.flash_attn_varlen_func(q, kc, vc, 1, cu_q, kv_len, seqused_k=seqused, block_table=table, causal=True,
                                      k_descale=descale, v_descale=descale)

    def measure(fn, n=1000):
        for _ in range(20):
            fn()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        enqueued = time.perf_counter()
        torch.cuda.synchronize()
        end = time.perf_counter()
        return (enqueued - start) / n * 1e6, (end - start) / n * 1e6

    results = {
        "flash_attn_varlen_func, out given": measure(call_preallocated),
        "flash_attn_varlen_func, allocating out": measure(call_allocating),
    }
    with capsys.disabled():
        print(f"\n[kvattn host overhead] decode B={batch} Hq={hq} Hkv={hkv} D={d} page={page} kv_len={kv_len}, "
              f"e4m3 KV, {torch.cuda.get_device_name()}")
        for name, (host, wall) in results.items():
            print(f"[kvattn host overhead]   {name}: {host:.1f} us/call enqueue, {wall:.1f} us/call wall "
                  "(1000 calls, sync around)")
