"""reshape_and_cache_flash and merge_attn_states with numpy arrays on the CPU
backend against the float64 reference (docs/semantics.md S6, S7)."""
import ml_dtypes
import numpy as np
import pytest

import attn_reference as ref
import kvattn

BF16 = ref.BF16
FP8 = {"fp8": ref.E4M3, "fp8_e4m3": ref.E4M3, "fp8_e5m2": ref.E5M2}


def _cache_inputs(rng, src_dtype, cache_dtype, num_tokens=13, hkv=3, d=64, page_size=5, num_blocks=6):
    # key/value as slices of a packed [T, 3*Hkv, D] buffer: strided rows.
    packed = (3.0 * rng.standard_normal((num_tokens, 3 * hkv, d))).astype(src_dtype)
    key, value = packed[:, :hkv], packed[:, hkv:2 * hkv]
    key_cache = (rng.standard_normal((num_blocks, page_size, hkv, d))).astype(cache_dtype)
    value_cache = (rng.standard_normal((num_blocks, page_size, hkv, d))).astype(cache_dtype)
    slots = rng.permutation(num_blocks * page_size)[:num_tokens].astype(np.int64)
    slots[[1, num_tokens - 2]] = -1  # padding tokens are skipped
    return key, value, key_cache, value_cache, slots


def _same_bits(a, b):
    a8, b8 = np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8)
    return np.array_equal(a8, b8)


@pytest.mark.parametrize("src_dtype", [np.float32, np.float16, BF16], ids=["fp32", "fp16", "bf16"])
def test_auto_is_a_plain_copy(rng, src_dtype):
    key, value, kc, vc, slots = _cache_inputs(rng, src_dtype, src_dtype)
    want_k, want_v = ref.cache_write(key, value, kc, vc, slots)
    kvattn.reshape_and_cache_flash(key, value, kc, vc, slots, "auto", None, None)
    assert _same_bits(kc, want_k) and _same_bits(vc, want_v)


@pytest.mark.parametrize("kv_cache_dtype", ["fp8", "fp8_e4m3", "fp8_e5m2"])
@pytest.mark.parametrize("src_dtype", [np.float32, np.float16, BF16], ids=["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("scale_form", ["one", "per_head", "float", "rank0"])
@pytest.mark.parametrize("cache_form", ["typed", "uint8"])
def test_fp8_quantizing_write(rng, kv_cache_dtype, src_dtype, scale_form, cache_form):
    fp8 = FP8[kv_cache_dtype]
    key, value, kc, vc, slots = _cache_inputs(rng, src_dtype, fp8)
    hkv = key.shape[1]
    if scale_form == "one":
        k_scale, v_scale = np.array([0.05], np.float32), np.array([0.02], np.float32)
    elif scale_form == "per_head":
        k_scale = rng.uniform(0.01, 0.1, hkv).astype(np.float32)
        v_scale = rng.uniform(0.01, 0.1, hkv).astype(np.float32)
    elif scale_form == "rank0":
        k_scale, v_scale = np.array(0.05, np.float32), np.array(0.02, np.float32)
    else:
        k_scale, v_scale = 0.05, 0.02
    want_k, want_v = ref.cache_write(key, value, kc, vc, slots, fp8, k_scale, v_scale)
    if cache_form == "uint8":
        kv8, vv8 = kc.view(np.uint8), vc.view(np.uint8)
        kvattn.reshape_and_cache_flash(key, value, kv8, vv8, slots, kv_cache_dtype, k_scale, v_scale)
    else:
        kvattn.reshape_and_cache_flash(key, value, kc, vc, slots, kv_cache_dtype, k_scale, v_scale)
    assert _same_bits(kc, want_k) and _same_bits(vc, want_v)


@pytest.mark.parametrize("kv_cache_dtype", ["fp8_e4m3", "fp8_e5m2"])
def test_fp8_saturates_and_keeps_nan(rng, kv_cache_dtype):
    fp8 = FP8[kv_cache_dtype]
    key, value, kc, vc, slots = _cache_inputs(rng, np.float32, fp8, num_tokens=4, page_size=4, num_blocks=2)
    slots[:] = [0, 1, 2, 3]
    key[0, 0, :4] = [np.inf, -np.inf, 1e30, np.nan]
    value[1, 1, :2] = [-1e30, 65504.0]
    kvattn.reshape_and_cache_flash(key, value, kc, vc, slots, kv_cache_dtype, 1.0, 1.0)
    limit = ref.FP8_MAX[fp8]
    got = ref.f64(kc[0, 0, 0, :4])
    assert got[0] == limit and got[1] == -limit and got[2] == limit and np.isnan(got[3])
    assert ref.f64(vc[0, 1, 1, 0]) == -limit
    want_k, want_v = ref.cache_write(key, value, kc, vc, slots, fp8, 1.0, 1.0)
    assert _same_bits(np.nan_to_num(ref.f64(kc)), np.nan_to_num(ref.f64(want_k)))
    assert _same_bits(vc, want_v)


def test_slot_mapping_shorter_than_tokens(rng):
    key, value, kc, vc, slots = _cache_inputs(rng, BF16, BF16)
    short = slots[:5].copy()  # vLLM pads key/value; only len(slot_mapping) tokens are written
    want_k, want_v = ref.cache_write(key[:5], value[:5], kc, vc, short)
    kvattn.reshape_and_cache_flash(key, value, kc, vc, short, "auto", None, None)
    assert _same_bits(kc, want_k) and _same_bits(vc, want_v)


def _merge_inputs(rng, dtype, t=9, h=3, d=64):
    prefix = rng.standard_normal((t, h, d)).astype(dtype)
    suffix = rng.standard_normal((t, h, d)).astype(dtype)
    lp = rng.uniform(-3, 3, (h, t)).astype(np.float32)
    ls = rng.uniform(-3, 3, (h, t)).astype(np.float32)
    lp[0, 0] = -np.inf  # prefix empty
    ls[1, 1] = -np.inf  # suffix empty
    lp[2, 2], ls[2, 2] = -np.inf, -np.inf  # both empty: zeros and -inf
    lp[0, 3] = np.inf  # +inf counts as -inf
    lp[1, 4], ls[1, 4] = 80.0, 80.5  # large values: no overflow
    return prefix, lp, suffix, ls


@pytest.mark.parametrize("dtype", [np.float32, np.float16, BF16], ids=["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("with_lse", [True, False])
def test_merge_matches_reference(rng, dtype, with_lse):
    prefix, lp, suffix, ls = _merge_inputs(rng, dtype)
    output = np.full(prefix.shape, 9, dtype)
    output_lse = np.full(lp.shape, 9, np.float32) if with_lse else None
    kvattn.merge_attn_states(output, prefix, lp, suffix, ls, output_lse)
    want_out, want_lse = ref.merge(prefix, lp, suffix, ls)
    tol = 1e-5 if dtype == np.float32 else 1e-2
    np.testing.assert_allclose(ref.f64(output), want_out, atol=tol, rtol=tol)
    assert np.all(ref.f64(output[2, 2]) == 0)
    if with_lse:
        assert np.isneginf(output_lse[2, 2]) and np.isneginf(want_lse[2, 2])
        np.testing.assert_allclose(output_lse, want_lse, atol=1e-5, rtol=1e-6)


def test_merge_strided_views(rng):
    prefix, lp, suffix, ls = _merge_inputs(rng, np.float32)
    wide = np.zeros((prefix.shape[0], prefix.shape[1] * 2, prefix.shape[2]), np.float32)
    wide[:, ::2] = prefix
    lse_t = np.ascontiguousarray(lp.T)  # [T, H] storage, passed as a transposed [H, T] view
    output = np.zeros((prefix.shape[1], prefix.shape[0], prefix.shape[2]), np.float32).transpose(1, 0, 2)
    kvattn.merge_attn_states(output, wide[:, ::2], lse_t.T, suffix, ls)
    want_out, _ = ref.merge(prefix, lp, suffix, ls)
    np.testing.assert_allclose(output, want_out, atol=1e-5, rtol=1e-5)


def test_cache_write_then_attention_end_to_end(rng):
    """vLLM-style step on CPU: quantize new tokens into an e4m3 uint8 cache with
    k_scale / v_scale, then a mixed chunked-prefill + decode batch reads it with
    k_descale = k_scale expanded to [num_seqs, Hkv] (stride 0)."""
    hq, hkv, d, page = 8, 2, 128, 16
    cached = [30, 47, 0]  # tokens already in the cache per sequence
    new = [12, 1, 5]  # this step: chunked prefill, decode, fresh prefill
    num_blocks = 12
    key_cache = np.zeros((num_blocks, page, hkv, d), np.uint8)
    value_cache = np.zeros_like(key_cache)
    tables = np.array(rng.permutation(num_blocks)[:3 * 4].reshape(3, 4), np.int32)
    k_scale = np.array([0.02], np.float32)
    v_scale = np.array([0.01], np.float32)

    def slots(b, positions):
        return np.array([tables[b, p // page] * page + p % page for p in positions], np.int64)

    full_k = [rng.standard_normal((c + n, hkv, d)).astype(np.float32) for c, n in zip(cached, new)]
    full_v = [rng.standard_normal((c + n, hkv, d)).astype(np.float32) for c, n in zip(cached, new)]
    for b in range(3):  # the earlier steps
        if cached[b]:
            kvattn.reshape_and_cache_flash(full_k[b][:cached[b]], full_v[b][:cached[b]], key_cache, value_cache,
                                           slots(b, range(cached[b])), "fp8", k_scale, v_scale)
    # This step: the new tokens of every sequence in one call, as vLLM does.
    new_k = np.concatenate([full_k[b][cached[b]:] for b in range(3)]).astype(BF16)
    new_v = np.concatenate([full_v[b][cached[b]:] for b in range(3)]).astype(BF16)
    step_slots = np.concatenate([slots(b, range(cached[b], cached[b] + new[b])) for b in range(3)])
    kvattn.reshape_and_cache_flash(new_k, new_v, key_cache, value_cache, step_slots, "fp8", k_scale, v_scale)

    q = rng.standard_normal((sum(new), hq, d)).astype(BF16)
    seq_lens = np.array([c + n for c, n in zip(cached, new)], np.int32)
    cu_q = np.concatenate([[0], np.cumsum(new)]).astype(np.int32)
    out, lse = kvattn.flash_attn_varlen_func(
        q, key_cache, value_cache, max(new), cu_q, int(seq_lens.max()), seqused_k=seq_lens, causal=True,
        block_table=tables, return_softmax_lse=True, k_descale=np.broadcast_to(k_scale, (3, hkv)),
        v_descale=np.broadcast_to(v_scale, (3, hkv)), kv_cache_dtype="fp8")

    # Reference: the stored fp8 codes of each sequence, descaled by the scales.
    e4m3 = key_cache.view(ref.E4M3)
    v4m3 = value_cache.view(ref.E4M3)
    k_seqs = [np.stack([e4m3[tables[b, p // page], p % page] for p in range(seq_lens[b])]) for b in range(3)]
    v_seqs = [np.stack([v4m3[tables[b, p // page], p % page] for p in range(seq_lens[b])]) for b in range(3)]
    ref_out, ref_lse = ref.attention(q, k_seqs, v_seqs, new, causal=True,
                                     k_descale=np.broadcast_to(k_scale, (3, hkv)),
                                     v_descale=np.broadcast_to(v_scale, (3, hkv)))
    import attn_cases

    attn_cases.check_output(out, ref_out, BF16)
    attn_cases.check_lse(lse, ref_lse)
    # And the quantized cache is close to the unquantized data (e4m3: 3 mantissa bits).
    dequant = ref.f64(k_seqs[0]) * 0.02
    np.testing.assert_allclose(dequant, full_k[0].astype(BF16).astype(np.float64), atol=0.02, rtol=0.07)
