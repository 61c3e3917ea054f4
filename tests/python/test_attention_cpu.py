"""flash_attn_varlen_func with numpy arrays on the CPU backend against the
float64 reference (attn_reference.py), over a sampled matrix of head dims, GQA
ratios, page sizes, KV formats, masks, softcap, sinks, descales and batches."""
import ml_dtypes
import numpy as np
import pytest

import attn_cases
import attn_reference as ref
import kvattn
from attn_cases import BF16, AttnCase

CASES = attn_cases.sampled_cases(96)


def run_case(case, **overrides):
    inputs = attn_cases.build(case)
    kwargs = dict(inputs.kwargs, **overrides)
    result = kvattn.flash_attn_varlen_func(**kwargs)
    out, lse = result if kwargs["return_softmax_lse"] else (result, None)
    assert out.shape == inputs.ref_out.shape and out.dtype == np.dtype(case.q_dtype)
    attn_cases.check_output(out, inputs.ref_out, case.q_dtype)
    if lse is not None:
        assert lse.dtype == np.float32
        attn_cases.check_lse(lse, inputs.ref_lse)
    return inputs, out, lse


@pytest.mark.parametrize("case", CASES, ids=[c.short_id for c in CASES])
def test_matrix(case):
    run_case(case)


@pytest.mark.parametrize("head_dim", [64, 96, 128, 192, 256])
def test_every_head_dim(head_dim):
    run_case(AttnCase(batch="chunked", head_dim=head_dim, causal=True, seed=head_dim))


@pytest.mark.parametrize("kv_format", attn_cases.KV_FORMATS)
@pytest.mark.parametrize("q_dtype", [BF16, np.dtype(np.float16)], ids=["bf16", "fp16"])
def test_every_kv_format(kv_format, q_dtype):
    run_case(AttnCase(batch="mixed", kv_format=kv_format, q_dtype=q_dtype, descale="seq_head", causal=True))


@pytest.mark.parametrize("page_size", [1, 16, 7, 0], ids=["page1", "page16", "page7", "contiguous"])
def test_every_page_size(page_size):
    run_case(AttnCase(batch="mixed", page_size=page_size, kv_format="e4m3", descale="tensor", causal=True))


def test_gqa_71_to_1():
    run_case(AttnCase(batch="mixed", num_q_heads=71, num_kv_heads=1, kv_format="e4m3_bytes", causal=True,
                      descale="tensor", sinks="float32"))


def test_empty_rows_have_zero_output_and_neg_inf_lse():
    # "short_kv": a sequence of 8 queries on 3 keys (causal: the first 5 see nothing) and an empty one.
    inputs, out, lse = run_case(AttnCase(batch="short_kv", causal=True, sinks="float32"))
    assert np.all(ref.f64(out[:5]) == 0.0)
    assert np.all(np.isneginf(lse[:, :5]))


def test_explicit_softmax_scale():
    run_case(AttnCase(batch="prefill", softmax_scale=0.03, causal=True))


def test_preallocated_strided_out_and_q():
    case = AttnCase(batch="mixed", num_q_heads=4, num_kv_heads=2, causal=True)
    inputs = attn_cases.build(case)
    q = inputs.kwargs["q"]
    # q as a slice of a packed qkv buffer; out as a slice of a wider buffer: both strided.
    qkv = np.zeros((q.shape[0], q.shape[1] + 4, q.shape[2]), q.dtype)
    qkv[:, :q.shape[1]] = q
    wide = np.full((q.shape[0], q.shape[1] * 2, q.shape[2]), 7, q.dtype)
    out = wide[:, ::2]
    kwargs = dict(inputs.kwargs, q=qkv[:, :q.shape[1]], out=out, return_softmax_lse=False)
    result = kvattn.flash_attn_varlen_func(**kwargs)
    assert result is out
    attn_cases.check_output(out, inputs.ref_out, case.q_dtype)
    assert np.all(ref.f64(wide[:, 1::2]) == 7), "out's neighbours must be untouched"


def test_descale_stride_zero_matches_materialized():
    case = AttnCase(batch="decode", kv_format="e4m3", descale="tensor", seed=5)
    inputs = attn_cases.build(case)
    strided = kvattn.flash_attn_varlen_func(**dict(inputs.kwargs, return_softmax_lse=False))
    dense = {n: np.ascontiguousarray(inputs.kwargs[n]) for n in ("q_descale", "k_descale", "v_descale")}
    materialized = kvattn.flash_attn_varlen_func(**dict(inputs.kwargs, return_softmax_lse=False, **dense))
    assert np.array_equal(strided.view(np.uint16), materialized.view(np.uint16))


def test_kv_bytes_match_typed_fp8():
    typed = attn_cases.build(AttnCase(batch="mixed", kv_format="e5m2", seed=9))
    raw = attn_cases.build(AttnCase(batch="mixed", kv_format="e5m2_bytes", seed=9))
    a = kvattn.flash_attn_varlen_func(**dict(typed.kwargs, return_softmax_lse=False))
    b = kvattn.flash_attn_varlen_func(**dict(raw.kwargs, return_softmax_lse=False))
    assert np.array_equal(a.view(np.uint16), b.view(np.uint16))


def test_accepted_and_ignored_parameters():
    case = AttnCase(batch="chunked", causal=True)
    inputs = attn_cases.build(case)
    plain = kvattn.flash_attn_varlen_func(**dict(inputs.kwargs, return_softmax_lse=False))
    extra = kvattn.flash_attn_varlen_func(**dict(inputs.kwargs, return_softmax_lse=False), deterministic=True,
                                          scheduler_metadata=object(), fa_version=2, num_splits=4)
    assert np.array_equal(plain.view(np.uint16), extra.view(np.uint16))


def test_repeated_calls_are_deterministic():
    inputs = attn_cases.build(AttnCase(batch="mixed", kv_format="e4m3", sinks="float32", causal=True))
    first = kvattn.flash_attn_varlen_func(**dict(inputs.kwargs, return_softmax_lse=False))
    for _ in range(3):
        again = kvattn.flash_attn_varlen_func(**dict(inputs.kwargs, return_softmax_lse=False))
        assert np.array_equal(first.view(np.uint16), again.view(np.uint16))


def test_cpu_backend_forced():
    run_case(AttnCase(batch="decode"), backend="cpu")


def test_positional_vllm_signature():
    case = AttnCase(batch="prefill", causal=True, return_lse=False)
    kw = attn_cases.build(case).kwargs
    out = kvattn.flash_attn_varlen_func(kw["q"], kw["k"], kw["v"], kw["max_seqlen_q"], kw["cu_seqlens_q"],
                                        kw["max_seqlen_k"], None, kw["seqused_k"], None, 0.0, None, True, None,
                                        0.0, None, False, False, kw["block_table"])
    ref_out = attn_cases.build(case).ref_out
    attn_cases.check_output(out, ref_out, case.q_dtype)


def test_float32_sinks_and_bf16_sinks_agree():
    a = attn_cases.build(AttnCase(batch="decode", sinks="bfloat16", seed=3))
    sinks32 = a.kwargs["s_aux"].astype(np.float32)
    out_bf16 = kvattn.flash_attn_varlen_func(**dict(a.kwargs, return_softmax_lse=False))
    out_f32 = kvattn.flash_attn_varlen_func(**dict(a.kwargs, return_softmax_lse=False, s_aux=sinks32))
    assert np.array_equal(out_bf16.view(np.uint16), out_f32.view(np.uint16))
    assert a.kwargs["s_aux"].dtype == np.dtype(ml_dtypes.bfloat16)
