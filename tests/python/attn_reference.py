"""Independent float64 numpy reference for the Python tests (docs/semantics.md
S1-S7). Written from the semantics document only; it imports nothing from
kvattn. ml_dtypes supplies the bf16 / fp8 number formats."""
import ml_dtypes
import numpy as np

BF16 = np.dtype(ml_dtypes.bfloat16)
E4M3 = np.dtype(ml_dtypes.float8_e4m3fn)
E5M2 = np.dtype(ml_dtypes.float8_e5m2)
FP8_MAX = {E4M3: 448.0, E5M2: 57344.0}


def f64(x):
    """Exact float64 values of an array stored in any float format."""
    return np.asarray(x).astype(np.float64)


def attention(q, k_seqs, v_seqs, q_lens, softmax_scale=None, causal=False, window=(-1, -1), softcap=0.0,
              sinks=None, q_descale=None, k_descale=None, v_descale=None):
    """out [total_q, Hq, D] and lse [Hq, total_q] in float64.

    q: [total_q, Hq, D]; k_seqs / v_seqs: per-sequence [kv_len, Hkv, D] stored
    values; q_lens: per-sequence query lengths; descales: [B, Hkv] or None."""
    q = f64(q)
    total_q, num_q_heads, head_dim = q.shape
    num_kv_heads = k_seqs[0].shape[1] if k_seqs else 1
    group = num_q_heads // num_kv_heads
    scale = head_dim ** -0.5 if softmax_scale is None else softmax_scale
    left, right = window
    if causal:
        right = 0
    out = np.zeros((total_q, num_q_heads, head_dim))
    lse = np.full((num_q_heads, total_q), -np.inf)
    start = 0
    for b, q_len in enumerate(q_lens):
        k = f64(k_seqs[b])
        v = f64(v_seqs[b])
        kv_len = k.shape[0]
        rows = slice(start, start + q_len)
        start += q_len
        if q_len == 0 or kv_len == 0:
            continue
        i = np.arange(q_len)[:, None]
        j = np.arange(kv_len)[None, :]
        off = kv_len - q_len
        visible = np.ones((q_len, kv_len), bool)
        if left >= 0:
            visible &= j >= i + off - left
        if right >= 0:
            visible &= j <= i + off + right
        for h in range(num_q_heads):
            kvh = h // group
            qd = 1.0 if q_descale is None else float(q_descale[b, kvh])
            kd = 1.0 if k_descale is None else float(k_descale[b, kvh])
            vd = 1.0 if v_descale is None else float(v_descale[b, kvh])
            s = q[rows, h, :] @ k[:, kvh, :].T * (scale * qd * kd)
            if softcap > 0:
                s = softcap * np.tanh(s / softcap)
            s = np.where(visible, s, -np.inf)
            m = s.max(axis=1, keepdims=True)
            sink = None if sinks is None else float(f64(sinks)[h])
            if sink is not None:
                m = np.maximum(m, sink)
            finite = np.isfinite(m[:, 0]) & visible.any(axis=1)
            m = np.where(np.isfinite(m), m, 0.0)
            e = np.exp(s - m)
            denom = e.sum(axis=1, keepdims=True)
            if sink is not None:
                denom = denom + np.exp(sink - m)
            with np.errstate(divide="ignore", invalid="ignore"):
                p = e / denom
                row_out = vd * (p @ v[:, kvh, :])
                row_lse = (m + np.log(denom))[:, 0]
            # A row that sees no key writes zeros and -inf, even with a sink (S4).
            out[rows, h, :] = np.where(finite[:, None], row_out, 0.0)
            lse[h, rows] = np.where(finite, row_lse, -np.inf)
    return out, lse


def fp8_encode_saturating(x, fp8_dtype):
    """Round to nearest even, finite overflow and +-inf clamp to +-max, NaN stays NaN (S5)."""
    limit = FP8_MAX[np.dtype(fp8_dtype)]
    x = np.asarray(x, np.float32)
    return np.clip(x, -limit, limit).astype(fp8_dtype)


def cache_write(key, value, key_cache, value_cache, slot_mapping, fp8_dtype=None, k_scale=None, v_scale=None):
    """Applies S6 to copies of the caches and returns them."""
    key_cache = key_cache.copy()
    value_cache = value_cache.copy()
    page_size = key_cache.shape[1]
    for t, slot in enumerate(np.asarray(slot_mapping)):
        if slot < 0:
            continue
        block, off = divmod(int(slot), page_size)
        for src, cache, scale in ((key, key_cache, k_scale), (value, value_cache, v_scale)):
            row = np.asarray(src[t]).astype(np.float32)
            if fp8_dtype is None:
                cache[block, off] = np.asarray(src[t])
            else:
                s = np.broadcast_to(np.asarray(scale, np.float32).reshape(-1, 1), (row.shape[0], 1))
                cache[block, off] = fp8_encode_saturating(row / s, fp8_dtype)
    return key_cache, value_cache


def merge(prefix_output, prefix_lse, suffix_output, suffix_lse):
    """S7 in float64: (out [T, H, D], lse [H, T])."""
    lp = f64(prefix_lse)
    ls = f64(suffix_lse)
    lp = np.where(lp == np.inf, -np.inf, lp)
    ls = np.where(ls == np.inf, -np.inf, ls)
    m = np.maximum(lp, ls)
    empty = m == -np.inf
    m_safe = np.where(empty, 0.0, m)
    wp = np.exp(lp - m_safe)
    ws = np.exp(ls - m_safe)
    total = wp + ws
    with np.errstate(divide="ignore", invalid="ignore"):
        wp_t = (wp / total).T[:, :, None]
        ws_t = (ws / total).T[:, :, None]
        out = wp_t * f64(prefix_output) + ws_t * f64(suffix_output)
        lse = m_safe + np.log(total)
    out = np.where(empty.T[:, :, None], 0.0, out)
    lse = np.where(empty, -np.inf, lse)
    return out, lse
