"""compute_fp8_scales: amax-based fp32 scales, per tensor and per KV head."""
import numpy as np
import pytest

import attn_reference as ref
import kvattn


def test_per_tensor_scale_is_amax_over_fp8_max(rng):
    x = rng.standard_normal((9, 4, 64)).astype(np.float32)
    x[3, 2, 5] = -37.0
    s = kvattn.compute_fp8_scales(x)
    assert s.shape == (1,) and s.dtype == np.float32
    assert s[0] == np.float32(37.0 / 448.0)
    assert kvattn.compute_fp8_scales(x, fp8_dtype="fp8_e5m2")[0] == np.float32(37.0 / 57344.0)


def test_per_head_scales(rng):
    x = rng.standard_normal((5, 3, 64)).astype(ref.BF16)
    s = kvattn.compute_fp8_scales(x, per_head=True, margin=2.0)
    amax = np.abs(x.astype(np.float32)).max(axis=(0, 2))
    np.testing.assert_allclose(s, amax * 2.0 / 448.0, rtol=1e-6)
    assert s.shape == (3,)


def test_vllm_divisors(rng):
    k = rng.standard_normal((7, 2, 64)).astype(np.float32)
    amax = np.abs(k).max()
    assert kvattn.compute_fp8_scales(k, divisor=kvattn.VLLM_K_DIVISOR)[0] == pytest.approx(amax / 200.0)
    assert kvattn.compute_fp8_scales(k, divisor=kvattn.VLLM_V_DIVISOR)[0] == pytest.approx(amax / 100.0)


def test_zero_data_gets_scale_one():
    x = np.zeros((2, 3, 64), np.float32)
    x[:, 1] = 4.0
    assert kvattn.compute_fp8_scales(np.zeros((2, 3, 64), np.float32))[0] == 1.0
    want = np.array([1.0, np.float32(4.0) / np.float32(448.0), 1.0], np.float32)
    np.testing.assert_array_equal(kvattn.compute_fp8_scales(x, per_head=True), want)


@pytest.mark.parametrize("kv_cache_dtype, fp8", [("fp8_e4m3", ref.E4M3), ("fp8_e5m2", ref.E5M2)])
@pytest.mark.parametrize("per_head", [False, True])
def test_scales_use_the_range_without_saturating(rng, kv_cache_dtype, fp8, per_head):
    key = (rng.standard_normal((16, 2, 64)) * np.array([1.0, 50.0])[None, :, None]).astype(np.float32)
    scale = kvattn.compute_fp8_scales(key, fp8_dtype=kv_cache_dtype, per_head=per_head)
    cache = np.zeros((1, 16, 2, 64), np.uint8)
    kvattn.reshape_and_cache_flash(key, key, cache, cache.copy(), np.arange(16, dtype=np.int64), kv_cache_dtype,
                                   scale, scale)
    decoded = cache.view(fp8)[0].astype(np.float64)
    limit = ref.FP8_MAX[fp8]
    assert np.abs(decoded).max() == limit  # the largest value maps to the fp8 maximum
    restored = decoded * np.asarray(scale, np.float64).reshape(1, -1, 1)
    # Half an ulp relative (3 / 2 mantissa bits), or half the smallest subnormal times the scale.
    rel, min_subnormal = (2.0 ** -4, 2.0 ** -9) if fp8 == ref.E4M3 else (2.0 ** -3, 2.0 ** -16)
    bound = rel * np.abs(key) + 0.5 * min_subnormal * np.asarray(scale, np.float64).reshape(1, -1, 1)
    assert np.all(np.abs(restored - key) <= bound * (1 + 1e-6))
