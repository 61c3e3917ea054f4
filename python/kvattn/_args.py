"""Argument rules shared by every array library (vLLM's flash_attn_varlen_func
conventions). Plain Python only: torch.compile traces this code."""
from ._native import BACKEND, DTYPE

# kv_cache_dtype spellings (vLLM's cache dtypes and the fp8 dtype names) -> the
# fp8 format that raw uint8 K/V bytes hold.
FP8_CODE_BY_NAME = {
    "fp8": DTYPE["float8_e4m3fn"],
    "fp8_e4m3": DTYPE["float8_e4m3fn"],
    "float8_e4m3fn": DTYPE["float8_e4m3fn"],
    "fp8_e5m2": DTYPE["float8_e5m2"],
    "float8_e5m2": DTYPE["float8_e5m2"],
}
NO_OVERRIDE = -1


def check_unsupported(dropout_p, alibi_slopes, return_attn_probs, q_v):
    if dropout_p:
        raise NotImplementedError(f"kvattn: dropout_p: only 0.0 is supported (inference kernels), got {dropout_p}")
    if alibi_slopes is not None:
        raise NotImplementedError("kvattn: alibi_slopes: ALiBi is not supported yet; pass None")
    if return_attn_probs:
        raise NotImplementedError("kvattn: return_attn_probs: attention probabilities are never materialized; "
                                  "use return_softmax_lse=True for the LSE")
    if q_v is not None:
        raise NotImplementedError("kvattn: q_v: a separate query for V (MLA) is not supported; pass None")


def parse_window(window_size):
    """(left, right) with -1 = unbounded; None = (-1, -1)."""
    if window_size is None:
        return -1, -1
    try:
        left, right = window_size
    except (TypeError, ValueError):
        raise ValueError(f"kvattn: window_size: expected None or a pair (left, right) with -1 = unbounded, "
                         f"got {window_size!r}") from None
    return int(left), int(right)


def backend_code(backend):
    if backend is None:
        return BACKEND["auto"]
    code = BACKEND.get(backend)
    if code is None:
        raise ValueError(f"kvattn: backend: expected one of {sorted(BACKEND)} or None, got {backend!r}")
    return code


def raw_kv_code(kv_cache_dtype, argument="kv_cache_dtype"):
    """The fp8 dtype code uint8 K/V bytes are read as."""
    code = FP8_CODE_BY_NAME.get(kv_cache_dtype)
    if code is None:
        raise TypeError(f"kvattn: {argument}: uint8 K/V holds fp8 codes, so kv_cache_dtype must name the format: "
                        f"one of {sorted(FP8_CODE_BY_NAME)}, got {kv_cache_dtype!r}")
    return code


def check_kv_cache_dtype_matches(kv_cache_dtype, k_code):
    """An fp8-typed K (code) given together with kv_cache_dtype must agree with it."""
    if kv_cache_dtype is None or kv_cache_dtype == "auto":
        return
    wanted = FP8_CODE_BY_NAME.get(kv_cache_dtype)
    if wanted is None:
        raise ValueError(f"kvattn: kv_cache_dtype: expected None, 'auto' or one of {sorted(FP8_CODE_BY_NAME)}, "
                         f"got {kv_cache_dtype!r}")
    if k_code != wanted:
        raise TypeError(f"kvattn: k: kv_cache_dtype={kv_cache_dtype!r} but k's dtype differs; "
                        "pass matching fp8 data or uint8 bytes")
