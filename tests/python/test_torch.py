"""torch tensors (CPU always, CUDA when present) through the public functions
and the torch custom ops, against the float64 reference; torch.compile with
fullgraph=True. Skipped when torch is not installed."""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (the torch tests run on the device machine)")

import attn_cases  # noqa: E402
import attn_reference as ref  # noqa: E402
import kvattn  # noqa: E402
from attn_cases import AttnCase  # noqa: E402
from torch_utils import DEVICES, kwargs_to_torch, to_numpy, to_torch  # noqa: E402

from kvattn import _torch_ops  # noqa: E402

CASES = attn_cases.sampled_cases(24)


def _needs_backend(device):
    if device == "cuda" and not kvattn.built_with_cuda():
        pytest.skip("this kvattn build has no CUDA backend")


def _run_attention(case, device, **overrides):
    inputs = attn_cases.build(case)
    kwargs = dict(kwargs_to_torch(inputs.kwargs, device), **overrides)
    result = kvattn.flash_attn_varlen_func(**kwargs)
    out, lse = result if kwargs["return_softmax_lse"] else (result, None)
    assert isinstance(out, torch.Tensor) and out.device.type == device
    attn_cases.check_output(to_numpy(out), inputs.ref_out, case.q_dtype)
    if lse is not None:
        assert lse.dtype == torch.float32 and lse.device.type == device
        attn_cases.check_lse(to_numpy(lse), inputs.ref_lse)
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=[c.short_id for c in CASES])
def test_matrix(device, case):
    _needs_backend(device)
    _run_attention(case, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("direct", [True, False], ids=["eager_direct", "through_torch_ops"])
def test_direct_call_and_op_dispatch_agree(device, direct, monkeypatch):
    _needs_backend(device)
    monkeypatch.setattr(_torch_ops, "eager_direct_calls", direct)
    _run_attention(AttnCase(batch="mixed", kv_format="e4m3", descale="tensor", sinks="float32", causal=True), device)


@pytest.mark.parametrize("device", DEVICES)
def test_fp8_as_bytes_for_torch_without_fp8_dlpack(device, monkeypatch):
    """Older torch cannot export fp8 through DLPack: fp8 tensors then travel as uint8 + a dtype code."""
    _needs_backend(device)
    monkeypatch.setattr(_torch_ops, "_FP8_AS_BYTES", dict(_torch_ops._FP8_CODES))
    _run_attention(AttnCase(batch="mixed", kv_format="e4m3", descale="tensor", causal=True), device)
    _run_attention(AttnCase(batch="decode", kv_format="e5m2", descale="seq_head"), device)


@pytest.mark.parametrize("device", DEVICES)
def test_uint8_cache_with_kv_cache_dtype(device):
    _needs_backend(device)
    _run_attention(AttnCase(batch="decode", kv_format="e5m2_bytes", descale="seq_head"), device)


@pytest.mark.parametrize("device", DEVICES)
def test_cuda_splits_with_explicit_workspace(device):
    _needs_backend(device)
    case = AttnCase(batch="decode", num_q_heads=8, num_kv_heads=2, kv_format="e4m3", descale="tensor")
    inputs = attn_cases.build(case)
    kw = kwargs_to_torch(inputs.kwargs, device)
    batch = kw["cu_seqlens_q"].shape[0] - 1
    size = kvattn.get_workspace_size(batch, 8, 2, case.head_dim, kw["max_seqlen_q"], kw["max_seqlen_k"], 4,
                                     device=device)
    workspace = torch.empty(max(size, 1), dtype=torch.uint8, device=device)
    out, lse = kvattn.flash_attn_varlen_func(**dict(kw, num_splits=4), workspace=workspace)
    attn_cases.check_output(to_numpy(out), inputs.ref_out, case.q_dtype)
    attn_cases.check_lse(to_numpy(lse), inputs.ref_lse)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kv_format", ["e4m3", "e5m2"])
def test_fp8_long_rows_with_and_without_the_prewiden_scratch(device, kv_format):
    """Long FP8 rows: the default workspace (allocated per call) holds the prewiden scratch on a
    Hopper GPU; a split-only workspace makes the kernels widen per tile. Both match the reference."""
    _needs_backend(device)
    case = AttnCase(batch="long", num_q_heads=8, num_kv_heads=2, head_dim=128, kv_format=kv_format,
                    descale="seq_head", causal=True)
    inputs = attn_cases.build(case)
    kw = kwargs_to_torch(inputs.kwargs, device)
    batch = kw["cu_seqlens_q"].shape[0] - 1
    sizes = [kvattn.get_workspace_size(batch, 8, 2, 128, kw["max_seqlen_q"], kw["max_seqlen_k"], device=device,
                                       kv_cache_dtype=dtype) for dtype in (None, "fp8_" + kv_format)]
    hopper = (device == "cuda" and kvattn.built_with_hopper_kernels() and torch.cuda.get_device_capability()[0] == 9
              and os.environ.get("KVATTN_HOPPER_PREWIDEN") != "0")
    if hopper:
        assert sizes[1] >= sizes[0] + 4 * batch * kw["max_seqlen_k"] * 2 * 128
    else:
        assert sizes[1] == sizes[0]
    for size in sizes:
        workspace = torch.empty(max(size, 1), dtype=torch.uint8, device=device)
        out, lse = kvattn.flash_attn_varlen_func(**kw, workspace=workspace)
        attn_cases.check_output(to_numpy(out), inputs.ref_out, case.q_dtype)
        attn_cases.check_lse(to_numpy(lse), inputs.ref_lse)
    _run_attention(case, device)  # the workspace allocated per call


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kv_cache_dtype", ["auto", "fp8", "fp8_e5m2"])
@pytest.mark.parametrize("cache_form", ["typed", "uint8"])
def test_cache_write(device, kv_cache_dtype, cache_form):
    _needs_backend(device)
    rng = np.random.default_rng(7)
    hkv, d, page, blocks = 2, 64, 16, 4
    key = rng.standard_normal((9, hkv, d)).astype(ref.BF16)
    value = rng.standard_normal((9, hkv, d)).astype(ref.BF16)
    slots = rng.permutation(blocks * page)[:9].astype(np.int64)
    slots[4] = -1
    fp8 = {"auto": None, "fp8": ref.E4M3, "fp8_e5m2": ref.E5M2}[kv_cache_dtype]
    cache_np = np.zeros((blocks, page, hkv, d), ref.BF16 if fp8 is None else fp8)
    k_scale = np.array([0.03], np.float32)
    v_scale = np.array([0.05, 0.02], np.float32)  # per head
    want_k, want_v = ref.cache_write(key, value, cache_np, cache_np, slots, fp8, k_scale, v_scale)
    kc, vc = to_torch(cache_np, device), to_torch(cache_np, device)
    if fp8 is not None and cache_form == "uint8":  # how vLLM allocates fp8 caches
        kc, vc = kc.view(torch.uint8), vc.view(torch.uint8)
    kvattn.reshape_and_cache_flash(to_torch(key, device), to_torch(value, device), kc, vc,
                                   to_torch(slots, device), kv_cache_dtype, to_torch(k_scale, device),
                                   to_torch(v_scale, device))
    np.testing.assert_array_equal(to_numpy(kc.view(torch.uint8)), np.ascontiguousarray(want_k).view(np.uint8))
    np.testing.assert_array_equal(to_numpy(vc.view(torch.uint8)), np.ascontiguousarray(want_v).view(np.uint8))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_merge(device, dtype):
    _needs_backend(device)
    rng = np.random.default_rng(3)
    t, h, d = 7, 3, 128
    np_dtype = np.float32 if dtype == torch.float32 else ref.BF16
    prefix = rng.standard_normal((t, h, d)).astype(np_dtype)
    suffix = rng.standard_normal((t, h, d)).astype(np_dtype)
    lp = rng.uniform(-2, 2, (h, t)).astype(np.float32)
    ls = rng.uniform(-2, 2, (h, t)).astype(np.float32)
    lp[0, 1], ls[0, 1] = -np.inf, -np.inf
    ls[2, 3] = np.inf
    output = torch.empty((t, h, d), dtype=dtype, device=device)
    output_lse = torch.empty((h, t), dtype=torch.float32, device=device)
    kvattn.merge_attn_states(output, to_torch(prefix, device), to_torch(lp, device), to_torch(suffix, device),
                             to_torch(ls, device), output_lse)
    want_out, want_lse = ref.merge(prefix, lp, suffix, ls)
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    np.testing.assert_allclose(to_numpy(output), want_out, atol=tol, rtol=tol)
    np.testing.assert_allclose(to_numpy(output_lse), want_lse, atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_mixing_array_libraries_names_the_argument(device):
    inputs = attn_cases.build(AttnCase(batch="decode"))
    kw = kwargs_to_torch(inputs.kwargs, device)
    with pytest.raises(ValueError, match="block_table"):
        kvattn.flash_attn_varlen_func(**dict(kw, block_table=inputs.kwargs["block_table"]))
    with pytest.raises(ValueError, match="k"):
        kvattn.flash_attn_varlen_func(**dict(kw, k=inputs.kwargs["k"]))
    if device == "cuda":
        _needs_backend(device)
        # A numpy q with a CUDA k: the device check names k.
        with pytest.raises(ValueError, match="k"):
            kvattn.flash_attn_varlen_func(**dict(inputs.kwargs, k=kw["k"], v=kw["v"]))


@pytest.mark.parametrize("device", DEVICES)
def test_errors_keep_their_python_types(device):
    _needs_backend(device)
    kw = kwargs_to_torch(attn_cases.build(AttnCase(batch="decode")).kwargs, device)
    with pytest.raises(NotImplementedError, match="dropout_p"):
        kvattn.flash_attn_varlen_func(**kw, dropout_p=0.5)
    with pytest.raises(TypeError, match="cu_seqlens_q"):
        kvattn.flash_attn_varlen_func(**dict(kw, cu_seqlens_q=kw["cu_seqlens_q"].long()))
    with pytest.raises(ValueError, match="seqused_k"):
        kvattn.flash_attn_varlen_func(**dict(kw, seqused_k=kw["seqused_k"][:-1]))
    with pytest.raises(TypeError, match="kv_cache_dtype"):
        kvattn.flash_attn_varlen_func(**dict(kw, k=kw["k"].view(torch.uint8), v=kw["v"].view(torch.uint8)))


def test_ops_are_registered():
    for name in ("varlen_attention", "reshape_and_cache_flash", "merge_attn_states"):
        assert hasattr(torch.ops.kvattn, name)
    import re

    schema = str(torch.ops.kvattn.varlen_attention.default._schema)
    for mutated in ("out", "softmax_lse", "workspace"):
        assert re.search(rf"Tensor\(a\d*!\)\?? {mutated}\b", schema), schema
    cache_schema = str(torch.ops.kvattn.reshape_and_cache_flash.default._schema)
    assert re.search(r"Tensor\(a\d*!\) key_cache", cache_schema), cache_schema


def test_fake_tensor_propagation():
    """The fake (meta) implementations let FakeTensorMode run the ops without data."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    inputs = attn_cases.build(AttnCase(batch="decode", kv_format="e4m3"))
    with FakeTensorMode() as mode:
        kw = {k: mode.from_tensor(v) if isinstance(v, torch.Tensor) else v
              for k, v in kwargs_to_torch(inputs.kwargs, "cpu").items()}
        out, lse = kvattn.flash_attn_varlen_func(**kw)
        assert out.shape == kw["q"].shape and lse.shape == (kw["q"].shape[1], kw["q"].shape[0])


def _compile_backend(device):
    # inductor on CUDA (what serving uses); aot_eager on CPU keeps the test fast
    # while still running functionalization and the fake implementations.
    return "inductor" if device == "cuda" or os.environ.get("KVATTN_TEST_INDUCTOR_CPU") else "aot_eager"


@pytest.mark.parametrize("device", DEVICES)
def test_torch_compile_fullgraph_cache_write_and_attention(device):
    _needs_backend(device)
    torch._dynamo.reset()
    rng = np.random.default_rng(11)
    hq, hkv, d, page, blocks = 8, 2, 128, 16, 8
    cached = np.array([20, 35], np.int32)
    new = np.array([5, 1], np.int32)
    tables = np.arange(blocks, dtype=np.int32).reshape(2, 4)[:, ::-1].copy()
    seq_lens = cached + new
    slots = np.concatenate([[tables[b, p // page] * page + p % page for p in range(cached[b], seq_lens[b])]
                            for b in range(2)]).astype(np.int64)
    key_cache = torch.zeros((blocks, page, hkv, d), dtype=torch.uint8, device=device)
    value_cache = torch.zeros_like(key_cache)
    k_scale = torch.tensor([0.02], device=device)
    v_scale = torch.tensor([0.03], device=device)
    # Earlier tokens, written eagerly.
    old_k = torch.randn((int(cached.sum()), hkv, d), dtype=torch.bfloat16, device=device)
    old_v = torch.randn_like(old_k)
    old_slots = np.concatenate([[tables[b, p // page] * page + p % page for p in range(cached[b])]
                                for b in range(2)]).astype(np.int64)
    kvattn.reshape_and_cache_flash(old_k, old_v, key_cache, value_cache, torch.from_numpy(old_slots).to(device),
                                   "fp8", k_scale, v_scale)

    def step(q, key, value, key_cache, value_cache, slot_mapping, cu_q, seqused_k, block_table):
        kvattn.reshape_and_cache_flash(key, value, key_cache, value_cache, slot_mapping, "fp8", k_scale, v_scale)
        return kvattn.flash_attn_varlen_func(
            q, key_cache.view(torch.float8_e4m3fn), value_cache.view(torch.float8_e4m3fn), 5, cu_q, 40,
            seqused_k=seqused_k, block_table=block_table, causal=True, return_softmax_lse=True,
            k_descale=k_scale.expand(2, hkv), v_descale=v_scale.expand(2, hkv))

    compiled = torch.compile(step, fullgraph=True, backend=_compile_backend(device))
    q = to_torch(rng.standard_normal((int(new.sum()), hq, d)).astype(ref.BF16), device)
    key = to_torch(rng.standard_normal((int(new.sum()), hkv, d)).astype(ref.BF16), device)
    value = to_torch(rng.standard_normal((int(new.sum()), hkv, d)).astype(ref.BF16), device)
    args = (to_torch(slots, device), to_torch(np.array([0, 5, 6], np.int32), device), to_torch(seq_lens, device),
            to_torch(tables, device))
    eager_k, eager_v = key_cache.clone(), value_cache.clone()
    eager_out, eager_lse = step(q, key, value, eager_k, eager_v, *args)
    out, lse = compiled(q, key, value, key_cache, value_cache, *args)
    # The compiled graph mutated the caches in place, exactly as eager did.
    assert torch.equal(key_cache, eager_k) and torch.equal(value_cache, eager_v)
    assert torch.equal(out, eager_out) and torch.equal(lse, eager_lse)

    # And both match the reference on the stored fp8 codes.
    kc = to_numpy(key_cache.view(torch.float8_e4m3fn))
    vc = to_numpy(value_cache.view(torch.float8_e4m3fn))
    k_seqs = [np.stack([kc[tables[b, p // page], p % page] for p in range(seq_lens[b])]) for b in range(2)]
    v_seqs = [np.stack([vc[tables[b, p // page], p % page] for p in range(seq_lens[b])]) for b in range(2)]
    descale = lambda s: np.full((2, hkv), s, np.float64)  # noqa: E731
    ref_out, ref_lse = ref.attention(to_numpy(q), k_seqs, v_seqs, list(new), causal=True,
                                     k_descale=descale(0.02), v_descale=descale(0.03))
    attn_cases.check_output(to_numpy(out), ref_out, ref.BF16)
    attn_cases.check_lse(to_numpy(lse), ref_lse)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_compile_merge(device):
    _needs_backend(device)
    torch._dynamo.reset()

    def merge(prefix, lp, suffix, ls):
        out = torch.empty_like(prefix)
        out_lse = torch.empty_like(lp)
        kvattn.merge_attn_states(out, prefix, lp, suffix, ls, out_lse)
        return out, out_lse

    prefix = torch.randn(4, 2, 64, device=device)
    suffix = torch.randn(4, 2, 64, device=device)
    lp = torch.randn(2, 4, device=device)
    ls = torch.randn(2, 4, device=device)
    out, out_lse = torch.compile(merge, fullgraph=True, backend=_compile_backend(device))(prefix, lp, suffix, ls)
    want_out, want_lse = ref.merge(to_numpy(prefix), to_numpy(lp), to_numpy(suffix), to_numpy(ls))
    np.testing.assert_allclose(to_numpy(out), want_out, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(out_lse), want_lse, atol=1e-5, rtol=1e-6)


def test_compute_fp8_scales_torch():
    x = torch.randn(6, 3, 64)
    x[2, 1, 7] = 99.0
    s = kvattn.compute_fp8_scales(x)
    assert s.shape == (1,) and s.dtype == torch.float32 and s.device == x.device
    assert s.item() == pytest.approx(99.0 / 448.0)
    per_head = kvattn.compute_fp8_scales(x, per_head=True, divisor=kvattn.VLLM_K_DIVISOR)
    assert per_head.shape == (3,)
    assert per_head[1].item() == pytest.approx(99.0 / 200.0)
