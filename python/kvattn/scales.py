"""FP8 scales from data, for users without calibrated scales.

The cache stores enc(x / scale) (docs/semantics.md S6) and attention multiplies
back by the descale, so scale = amax / fp8_max uses the whole fp8 range.
vLLM's own default when it calibrates on the fly is coarser and leaves
headroom for later tokens: k_scale = amax(k) / 200 and v_scale = amax(v) / 100
(its K_SCALE_CONSTANT / V_SCALE_CONSTANT); pass divisor=200 or divisor=100 for
that. Scales are computed on the array's device; nothing is copied to the host."""
import numpy as np

FP8_MAX = {"e4m3": 448.0, "e5m2": 57344.0}
_FORMAT_ALIASES = {
    "e4m3": "e4m3", "fp8": "e4m3", "fp8_e4m3": "e4m3", "float8_e4m3fn": "e4m3",
    "e5m2": "e5m2", "fp8_e5m2": "e5m2", "float8_e5m2": "e5m2",
}
VLLM_K_DIVISOR = 200.0
VLLM_V_DIVISOR = 100.0


def compute_fp8_scales(x, fp8_dtype="e4m3", per_head=False, margin=1.0, divisor=None):
    """fp32 scale(s) for quantizing x ([..., Hkv, D]: new K or V tokens, or a cache).

    Returns shape [1] (per tensor) or [Hkv] (per_head=True, heads on dim -2),
    usable as reshape_and_cache_flash's k_scale / v_scale and, expanded to
    [num_seqs, Hkv], as flash_attn_varlen_func's k_descale / v_descale.
    scale = amax * margin / fp8_max (margin > 1 leaves headroom), or
    amax / divisor when divisor is given (vLLM: 200 for K, 100 for V).
    An all-zero tensor (or head) gets scale 1."""
    fmt = _FORMAT_ALIASES.get(fp8_dtype)
    if fmt is None:
        raise ValueError(f"kvattn: fp8_dtype: expected one of {sorted(_FORMAT_ALIASES)}, got {fp8_dtype!r}")
    if not margin > 0:
        raise ValueError(f"kvattn: margin: expected a value > 0, got {margin!r}")
    if divisor is not None and not divisor > 0:
        raise ValueError(f"kvattn: divisor: expected a value > 0 or None, got {divisor!r}")
    ndim = len(getattr(x, "shape", ()))
    if ndim < (2 if per_head else 1):
        raise ValueError(f"kvattn: x: expected an array of shape [..., Hkv, D], got {type(x).__name__} "
                         f"of rank {ndim}")
    # scale = amax * numerator / denominator, the division last so that the
    # plain case (numerator 1) is exactly amax / fp8_max.
    numerator, denominator = (1.0, float(divisor)) if divisor is not None else (float(margin), FP8_MAX[fmt])
    if type(x).__module__.startswith("torch"):
        return _torch_scales(x, per_head, numerator, denominator)
    return _array_scales(x, per_head, numerator, denominator)


def _torch_scales(x, per_head, numerator, denominator):
    import torch

    a = x.detach().abs().to(torch.float32)
    if per_head:
        amax = a.movedim(-2, 0).reshape(a.shape[-2], -1).amax(dim=1) if a.numel() else a.new_zeros(a.shape[-2])
    else:
        amax = a.amax().reshape(1) if a.numel() else a.new_zeros(1)
    scale = amax * numerator / denominator
    return torch.where(scale > 0, scale, torch.ones_like(scale))


def _array_scales(x, per_head, numerator, denominator):
    if isinstance(x, np.ndarray):
        xp = np
    else:  # CuPy or another array-API library
        xp = x.__array_namespace__() if hasattr(x, "__array_namespace__") else np
    a = xp.abs(xp.asarray(x).astype(xp.float32))
    if per_head:
        heads = a.shape[-2]
        amax = xp.moveaxis(a, -2, 0).reshape(heads, -1).max(axis=1) if a.size else xp.zeros(heads, xp.float32)
    else:
        amax = a.max().reshape(1) if a.size else xp.zeros(1, xp.float32)
    amax = amax.astype(xp.float32)
    scale = amax * xp.float32(numerator) / xp.float32(denominator)
    return xp.where(scale > 0, scale, xp.ones_like(scale))
