"""Builds attention test inputs (numpy, the layout vLLM hands to
flash_attn_varlen_func) and their float64 reference results. Shared by the
numpy CPU tests and the torch tests (which convert the arrays)."""
import dataclasses
import math

import ml_dtypes
import numpy as np

import attn_reference as ref

BF16 = ref.BF16
FP16 = np.dtype(np.float16)

# kv storage: "same" (q's dtype), ml_dtypes fp8 arrays, or uint8 bytes + kv_cache_dtype.
KV_FORMATS = ("same", "e4m3", "e5m2", "e4m3_bytes", "e5m2_bytes")
_FP8 = {"e4m3": ref.E4M3, "e5m2": ref.E5M2}
_KV_CACHE_DTYPE = {"e4m3_bytes": "fp8_e4m3", "e5m2_bytes": "fp8_e5m2"}

# (q_lens, kv_lens) patterns: decode, prefill, chunked prefill, mixed with empty
# sequences, and q_len > kv_len.
BATCHES = {
    "decode": ([1, 1, 1], [37, 1, 80]),
    "prefill": ([23, 9], [23, 9]),
    "chunked": ([16, 5], [52, 5 + 17]),
    "mixed": ([16, 1, 0, 1, 12], [40, 33, 20, 0, 12]),
    "short_kv": ([8, 0], [3, 0]),
}
# Not sampled by sampled_cases (too long for the matrix): rows long enough for the
# FP8 prewiden scratch on Hopper (max_seqlen_q >= 512), a decode row beside them.
EXTRA_BATCHES = {
    "long": ([600, 1, 520], [700, 50, 520]),
}


@dataclasses.dataclass
class AttnCase:
    batch: str = "mixed"
    num_q_heads: int = 4
    num_kv_heads: int = 2
    head_dim: int = 64
    q_dtype: np.dtype = BF16
    kv_format: str = "same"
    page_size: int = 16  # 0 = contiguous KV (cu_seqlens_k)
    causal: bool = False
    window: tuple = (-1, -1)
    softcap: float = 0.0
    sinks: str = "none"  # none | float32 | bfloat16
    descale: str = "none"  # none | tensor (stride-0 broadcast) | seq_head
    return_lse: bool = True
    pad_max_seqlen: int = 0  # max_seqlen_k / max_seqlen_q above the true maxima
    softmax_scale: float = None
    seed: int = 0

    @property
    def short_id(self):
        mask = "causal" if self.causal else "nomask"
        if self.window != (-1, -1):
            mask += f"-w{self.window[0]}_{self.window[1]}"
        layout = f"page{self.page_size}" if self.page_size else "contig"
        return (f"{self.batch}-h{self.num_q_heads}x{self.num_kv_heads}-d{self.head_dim}-"
                f"{np.dtype(self.q_dtype).name}-{self.kv_format}-{layout}-{mask}-cap{self.softcap:g}-"
                f"sink_{self.sinks}-desc_{self.descale}-s{self.seed}")

    def __str__(self):
        fields = dataclasses.asdict(self)
        fields["q_dtype"] = np.dtype(self.q_dtype).name
        return "-".join(f"{k}={v}" for k, v in fields.items())


@dataclasses.dataclass
class AttnInputs:
    kwargs: dict  # flash_attn_varlen_func keyword arguments (numpy)
    ref_out: np.ndarray
    ref_lse: np.ndarray
    q_lens: list
    kv_lens: list


def kv_storage_dtype(case):
    return _FP8.get(case.kv_format.replace("_bytes", ""), np.dtype(case.q_dtype))


def _random_paged(rng, k_seqs, v_seqs, page_size, dtype, garbage):
    """Scatters per-sequence [len, Hkv, D] K and V rows into shuffled pages
    (one table for both) whose unused slots hold finite garbage."""
    num_kv_heads, head_dim = k_seqs[0].shape[1:]
    blocks_per_seq = [max(1, math.ceil(s.shape[0] / page_size)) for s in k_seqs]
    num_blocks = sum(blocks_per_seq) + 3  # a few blocks nobody owns
    shape = (num_blocks, page_size, num_kv_heads, head_dim)
    k_cache = (garbage * rng.standard_normal(shape)).clip(-8 * garbage, 8 * garbage).astype(dtype)
    v_cache = (garbage * rng.standard_normal(shape)).clip(-8 * garbage, 8 * garbage).astype(dtype)
    ids = rng.permutation(num_blocks)
    tables, at = [], 0
    for k, v, n in zip(k_seqs, v_seqs, blocks_per_seq):
        table = ids[at:at + n]
        at += n
        for pos in range(k.shape[0]):
            k_cache[table[pos // page_size], pos % page_size] = k[pos]
            v_cache[table[pos // page_size], pos % page_size] = v[pos]
        tables.append(table)
    return k_cache, v_cache, tables


def build(case, make_lse_reference=True):
    rng = np.random.default_rng(case.seed)
    q_lens, kv_lens = (list(x) for x in {**BATCHES, **EXTRA_BATCHES}[case.batch])
    batch = len(q_lens)
    hq, hkv, d = case.num_q_heads, case.num_kv_heads, case.head_dim
    kv_dtype = kv_storage_dtype(case)
    fp8 = kv_dtype in (ref.E4M3, ref.E5M2)
    kv_magnitude = 4.0 if fp8 else 1.0

    q = rng.standard_normal((sum(q_lens), hq, d)).astype(case.q_dtype)
    k_seqs = [(kv_magnitude * rng.standard_normal((n, hkv, d))).astype(kv_dtype) for n in kv_lens]
    v_seqs = [(kv_magnitude * rng.standard_normal((n, hkv, d))).astype(kv_dtype) for n in kv_lens]

    cu_q = np.concatenate([[0], np.cumsum(q_lens)]).astype(np.int32)
    kwargs = dict(q=q, max_seqlen_q=max(q_lens) + case.pad_max_seqlen, cu_seqlens_q=cu_q,
                  max_seqlen_k=max(kv_lens) + case.pad_max_seqlen, causal=case.causal,
                  window_size=None if case.window == (-1, -1) else case.window, softcap=case.softcap,
                  return_softmax_lse=case.return_lse, softmax_scale=case.softmax_scale)

    if case.page_size:
        k_cache, v_cache, tables = _random_paged(rng, k_seqs, v_seqs, case.page_size, kv_dtype, 6.0)
        width = math.ceil(kwargs["max_seqlen_k"] / case.page_size) + 1
        block_table = np.zeros((batch, width), np.int32)
        for b, table in enumerate(tables):
            block_table[b, :len(table)] = table
        kwargs.update(k=k_cache, v=v_cache, block_table=block_table, seqused_k=np.array(kv_lens, np.int32))
    else:
        kwargs.update(k=np.concatenate(k_seqs), v=np.concatenate(v_seqs),
                      cu_seqlens_k=np.concatenate([[0], np.cumsum(kv_lens)]).astype(np.int32))

    if case.kv_format.endswith("_bytes"):
        kwargs["k"] = kwargs["k"].view(np.uint8)
        kwargs["v"] = kwargs["v"].view(np.uint8)
        kwargs["kv_cache_dtype"] = _KV_CACHE_DTYPE[case.kv_format]

    descales = {}
    if case.descale == "tensor":
        for name in ("q_descale", "k_descale", "v_descale"):
            one = np.array([rng.uniform(0.2, 0.6)], np.float32)
            descales[name] = np.broadcast_to(one.reshape(1, 1), (batch, hkv))  # stride 0, read-only
    elif case.descale == "seq_head":
        for name in ("q_descale", "k_descale", "v_descale"):
            descales[name] = rng.uniform(0.2, 0.6, (batch, hkv)).astype(np.float32)
    kwargs.update(descales)

    sinks = None
    if case.sinks != "none":
        sinks = rng.uniform(-2.0, 2.0, hq).astype(np.float32 if case.sinks == "float32" else BF16)
        kwargs["s_aux"] = sinks

    out, lse = ref.attention(q, k_seqs, v_seqs, q_lens, softmax_scale=case.softmax_scale, causal=case.causal,
                             window=case.window, softcap=case.softcap, sinks=sinks, **descales)
    return AttnInputs(kwargs=kwargs, ref_out=out, ref_lse=lse, q_lens=q_lens, kv_lens=kv_lens)


def check_output(out, ref_out, q_dtype):
    got = ref.f64(out)
    tol = 2.5e-2 if np.dtype(q_dtype) == BF16 else 1e-2
    scale = max(1.0, float(np.abs(ref_out).max(initial=0.0)))
    err = np.abs(got - ref_out)
    bound = tol * scale * 0.5 + tol * np.abs(ref_out)
    bad = ~(err <= bound)
    assert not bad.any(), (f"{bad.sum()} of {bad.size} outputs off; worst |err| {err.max():.4g} at "
                           f"{np.unravel_index(np.argmax(np.where(np.isnan(err), np.inf, err)), err.shape)}")


def check_lse(lse, ref_lse):
    got = np.asarray(lse, np.float64)
    assert got.shape == ref_lse.shape
    empty = np.isneginf(ref_lse)
    assert np.array_equal(np.isneginf(got), empty), "rows with no visible key must have lse = -inf"
    err = np.abs(got[~empty] - ref_lse[~empty])
    assert (err <= 5e-3 + 1e-3 * np.abs(ref_lse[~empty])).all(), f"lse off by up to {err.max(initial=0):.4g}"


# The sampled matrix: each parameter cycles through its values with its own
# stride, so every value appears and combinations vary; the seed fixes the rest.
_AXES = dict(
    batch=list(BATCHES),
    heads=[(4, 4), (8, 2), (6, 1), (71, 1), (2, 1), (16, 2)],
    head_dim=[64, 128, 96, 256, 192],
    q_dtype=[BF16, FP16],
    kv_format=list(KV_FORMATS),
    page_size=[16, 1, 7, 0, 5],
    mask=[("none", (-1, -1)), ("causal", (-1, -1)), ("window", (5, -1)), ("causal", (7, -1)), ("window", (4, 3)),
          ("window", (-1, 2))],
    softcap=[0.0, 0.0, 30.0],
    sinks=["none", "float32", "none", "bfloat16"],
    descale=["none", "tensor", "seq_head"],
    return_lse=[True, False, True],
    pad_max_seqlen=[0, 0, 5],
)
_STRIDES = dict(batch=1, heads=5, head_dim=3, q_dtype=7, kv_format=2, page_size=3, mask=5, softcap=1, sinks=3,
                descale=5, return_lse=1, pad_max_seqlen=1)


def sampled_cases(count):
    cases = []
    for i in range(count):
        pick = {axis: values[(i * _STRIDES[axis] + i // len(values)) % len(values)] for axis, values in _AXES.items()}
        hq, hkv = pick["heads"]
        mask_kind, window = pick["mask"]
        # Keep the 71-head and big-head-dim cases cheap on a 2-core machine.
        head_dim = 64 if hq > 16 else pick["head_dim"]
        cases.append(AttnCase(batch=pick["batch"], num_q_heads=hq, num_kv_heads=hkv, head_dim=head_dim,
                              q_dtype=pick["q_dtype"], kv_format=pick["kv_format"], page_size=pick["page_size"],
                              causal=mask_kind == "causal", window=window, softcap=pick["softcap"],
                              sinks=pick["sinks"], descale=pick["descale"], return_lse=pick["return_lse"],
                              pad_max_seqlen=pick["pad_max_seqlen"], seed=1000 + i))
    return cases


def fp8_dtype_of(kv_format):
    return {"e4m3": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2}[kv_format.replace("_bytes", "")]
