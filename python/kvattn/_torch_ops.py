"""torch integration: the kvattn operations as torch custom ops (namespace
`kvattn`) with fake implementations and declared mutated arguments, so
torch.compile(fullgraph=True) traces them without graph breaks and CUDA graphs
capture them; plus the torch paths of the public functions.

Eager calls skip the dispatcher and run the op's implementation directly (same
code, less host overhead) when nothing needs to see the op: not compiling, a
plain torch.Tensor, no dispatch mode active. Set `eager_direct_calls = False`
to always go through torch.ops.kvattn.*.

Only imported when torch is importable."""
from typing import Optional

import torch
from torch import Tensor

from . import _args
from ._native import DEVICE_CUDA, DTYPE, ext, workspace_bytes

eager_direct_calls = True

_to_dlpack = torch.utils.dlpack.to_dlpack  # C function: no stream sync, ~1 us
_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)
_current_device = getattr(torch._C, "_cuda_getDevice", None)
_dispatch_depth = getattr(torch._C, "_len_torch_dispatch_stack", lambda: 0)
_is_compiling = torch.compiler.is_compiling

_FP8_CODES = {
    torch.float8_e4m3fn: DTYPE["float8_e4m3fn"],
    torch.float8_e5m2: DTYPE["float8_e5m2"],
}
_DTYPE_CODES = {
    torch.float32: DTYPE["float32"],
    torch.float16: DTYPE["float16"],
    torch.bfloat16: DTYPE["bfloat16"],
    torch.int32: DTYPE["int32"],
    torch.int64: DTYPE["int64"],
    torch.uint8: DTYPE["uint8"],
    **_FP8_CODES,
}


def _dlpack_carries_fp8():
    try:
        _to_dlpack(torch.empty(1, dtype=torch.float8_e4m3fn))
        return True
    except Exception:  # older torch: "fp8 is not supported by DLPack"
        return False


# fp8 dtypes that must travel as uint8 bits plus a dtype code (empty when
# this torch's DLPack knows fp8).
_FP8_AS_BYTES = {} if _dlpack_carries_fp8() else dict(_FP8_CODES)


def _arr(t):
    """Binding argument for an optional tensor."""
    if t is None:
        return None
    if _FP8_AS_BYTES:
        code = _FP8_AS_BYTES.get(t.dtype)
        if code is not None:
            return (_to_dlpack(t.view(torch.uint8)), code)
    return _to_dlpack(t)


def _bytes_as(t, code):
    """uint8 bytes read as the fp8 format `code` (code < 0: as the tensor is)."""
    if code < 0:
        return _arr(t)
    return (_to_dlpack(t), code)


def _stream(idx):
    if _raw_stream is not None:
        return _raw_stream(idx)
    return torch.cuda.current_stream(idx).cuda_stream


def _on_device(idx, fn, *args):
    """Runs fn with CUDA device idx current (the launch targets the current device)."""
    if _current_device is None or _current_device() == idx:
        return fn(*args)
    with torch.cuda.device(idx):
        return fn(*args)


def _use_direct_call(t):
    return eager_direct_calls and type(t) is Tensor and _dispatch_depth() == 0


def _run(op, impl, first, call, named):
    """Runs one operation: through torch.ops while compiling (or whenever a mode
    or subclass must see it), else the implementation directly. `named` builds
    the arguments to check when something is not a tensor (only on failure on
    the direct path, to keep the eager path short)."""
    if _is_compiling():
        op(*call)
    elif _use_direct_call(first):
        try:
            impl(*call)
        except (TypeError, AttributeError):
            _require_tensors(**named())
            raise
    else:
        _require_tensors(**named())
        op(*call)


def _require_tensors(**named):
    """Names the first argument that is not a torch tensor (mixing array libraries)."""
    for name, t in named.items():
        if t is not None and not isinstance(t, Tensor):
            raise ValueError(f"kvattn: {name}: expected a torch.Tensor like the other arguments, got "
                             f"{type(t).__module__}.{type(t).__name__}; do not mix array libraries in one call")


# ---------------------------------------------------------------- attention

def _varlen_impl(q, k, v, cu_seqlens_q, cu_seqlens_k, seqused_k, block_table, max_seqlen_q, max_seqlen_k,
                 q_descale, k_descale, v_descale, softmax_scale, causal, window_left, window_right, softcap, sinks,
                 out, softmax_lse, num_splits, workspace, kv_dtype_code, backend):
    idx = q.get_device()
    if idx < 0:
        stream = 0
    else:
        stream = _stream(idx)
        # Split-KV partials and the FP8 prewiden scratch, allocated per call from
        # torch's caching allocator (inside a CUDA graph capture: the graph's pool).
        if workspace is None and q.dim() == 3 and k.dim() >= 2 and cu_seqlens_q is not None:
            kv_code = kv_dtype_code if kv_dtype_code >= 0 else _DTYPE_CODES.get(k.dtype, -1)
            nbytes = workspace_bytes(cu_seqlens_q.shape[0] - 1, q.shape[1], k.shape[-2], q.shape[2], max_seqlen_q,
                                     max_seqlen_k, num_splits, DEVICE_CUDA, idx, kv_code)
            if nbytes:
                workspace = torch.empty(nbytes, dtype=torch.uint8, device=q.device)
    call = (_arr(q), _bytes_as(k, kv_dtype_code), _bytes_as(v, kv_dtype_code), _arr(cu_seqlens_q),
            _arr(cu_seqlens_k), _arr(seqused_k), _arr(block_table), max_seqlen_q, max_seqlen_k, _arr(q_descale),
            _arr(k_descale), _arr(v_descale), softmax_scale, causal, window_left, window_right, softcap, _arr(sinks),
            _arr(out), _arr(softmax_lse), num_splits, _arr(workspace), backend, stream)
    if idx < 0:
        ext.varlen_attention(*call)
    else:
        _on_device(idx, ext.varlen_attention, *call)


@torch.library.custom_op("kvattn::varlen_attention", mutates_args=("out", "softmax_lse", "workspace"))
def varlen_attention(q: Tensor, k: Tensor, v: Tensor, cu_seqlens_q: Tensor, cu_seqlens_k: Optional[Tensor],
                     seqused_k: Optional[Tensor], block_table: Optional[Tensor], max_seqlen_q: int, max_seqlen_k: int,
                     q_descale: Optional[Tensor], k_descale: Optional[Tensor], v_descale: Optional[Tensor],
                     softmax_scale: float, causal: bool, window_left: int, window_right: int, softcap: float,
                     sinks: Optional[Tensor], out: Tensor, softmax_lse: Optional[Tensor], num_splits: int,
                     workspace: Optional[Tensor], kv_dtype_code: int, backend: int) -> None:
    """Writes attention into out (and softmax_lse). kv_dtype_code >= 0 reads uint8 k/v as that fp8 format."""
    _varlen_impl(q, k, v, cu_seqlens_q, cu_seqlens_k, seqused_k, block_table, max_seqlen_q, max_seqlen_k, q_descale,
                 k_descale, v_descale, softmax_scale, causal, window_left, window_right, softcap, sinks, out,
                 softmax_lse, num_splits, workspace, kv_dtype_code, backend)


@varlen_attention.register_fake
def _(q, k, v, cu_seqlens_q, cu_seqlens_k, seqused_k, block_table, max_seqlen_q, max_seqlen_k, q_descale, k_descale,
      v_descale, softmax_scale, causal, window_left, window_right, softcap, sinks, out, softmax_lse, num_splits,
      workspace, kv_dtype_code, backend):
    return None


def _kv_dtype_code(k, kv_cache_dtype):
    """-1 when k's own dtype says it all, else the fp8 code uint8 bytes are read as."""
    if k.dtype == torch.uint8:
        return _args.raw_kv_code(kv_cache_dtype)
    if kv_cache_dtype is not None:
        _args.check_kv_cache_dtype_matches(kv_cache_dtype, _DTYPE_CODES.get(k.dtype, -1))
    return -1


def flash_attn_varlen_func(q, k, v, max_seqlen_q, cu_seqlens_q, max_seqlen_k, cu_seqlens_k, seqused_k, q_v,
                           dropout_p, softmax_scale, causal, window_size, softcap, alibi_slopes, return_attn_probs,
                           block_table, return_softmax_lse, out, q_descale, k_descale, v_descale, num_splits, s_aux,
                           kv_cache_dtype, workspace, backend):
    _args.check_unsupported(dropout_p, alibi_slopes, return_attn_probs, q_v)
    window_left, window_right = _args.parse_window(window_size)
    backend_code = _args.backend_code(backend)
    if q.dim() != 3:
        raise ValueError(f"kvattn: q: expected rank 3 [total_q, Hq, D], got shape {tuple(q.shape)}")
    kv_code = _kv_dtype_code(k, kv_cache_dtype)
    if out is None:
        out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = None
    if return_softmax_lse:
        lse = torch.empty((q.shape[1], q.shape[0]), dtype=torch.float32, device=q.device)
    scale = 0.0 if softmax_scale is None else float(softmax_scale)
    call = (q, k, v, cu_seqlens_q, cu_seqlens_k, seqused_k, block_table, max_seqlen_q, max_seqlen_k, q_descale,
            k_descale, v_descale, scale, bool(causal), window_left, window_right, float(softcap), s_aux, out, lse,
            num_splits, workspace, kv_code, backend_code)
    _run(torch.ops.kvattn.varlen_attention, _varlen_impl, q, call, lambda: dict(
        k=k, v=v, cu_seqlens_q=cu_seqlens_q, cu_seqlens_k=cu_seqlens_k, seqused_k=seqused_k, block_table=block_table,
        out=out, q_descale=q_descale, k_descale=k_descale, v_descale=v_descale, s_aux=s_aux, workspace=workspace))
    return (out, lse) if return_softmax_lse else out


# ---------------------------------------------------------------- cache write

def _cache_write_impl(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale,
                      cache_dtype_code, backend):
    idx = key.get_device()
    call = (_arr(key), _arr(value), _bytes_as(key_cache, cache_dtype_code), _bytes_as(value_cache, cache_dtype_code),
            _arr(slot_mapping), kv_cache_dtype, _arr(k_scale), _arr(v_scale), backend,
            0 if idx < 0 else _stream(idx))
    if idx < 0:
        ext.reshape_and_cache_flash(*call)
    else:
        _on_device(idx, ext.reshape_and_cache_flash, *call)


@torch.library.custom_op("kvattn::reshape_and_cache_flash", mutates_args=("key_cache", "value_cache"))
def reshape_and_cache_flash_op(key: Tensor, value: Tensor, key_cache: Tensor, value_cache: Tensor,
                               slot_mapping: Tensor, kv_cache_dtype: str, k_scale: Optional[Tensor],
                               v_scale: Optional[Tensor], cache_dtype_code: int, backend: int) -> None:
    """Writes key/value rows into the paged caches at slot_mapping (quantizing for fp8 caches)."""
    _cache_write_impl(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale,
                      cache_dtype_code, backend)


@reshape_and_cache_flash_op.register_fake
def _(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale, cache_dtype_code, backend):
    return None


def _scale_tensor(scale, like):
    if scale is None or isinstance(scale, Tensor):
        return scale
    return torch.full((1,), float(scale), dtype=torch.float32, device=like.device)


def reshape_and_cache_flash(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale,
                            backend):
    backend_code = _args.backend_code(backend)
    k_scale = _scale_tensor(k_scale, key)
    v_scale = _scale_tensor(v_scale, key)
    # uint8 caches (how vLLM allocates fp8 caches) hold the format kv_cache_dtype names.
    cache_code = -1
    if key_cache.dtype == torch.uint8 and kv_cache_dtype != "auto":
        cache_code = _args.FP8_CODE_BY_NAME.get(kv_cache_dtype, -1)
    call = (key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale, cache_code,
            backend_code)
    _run(torch.ops.kvattn.reshape_and_cache_flash, _cache_write_impl, key, call, lambda: dict(
        value=value, key_cache=key_cache, value_cache=value_cache, slot_mapping=slot_mapping, k_scale=k_scale,
        v_scale=v_scale))


# ---------------------------------------------------------------- merge

def _merge_impl(output, prefix_output, prefix_lse, suffix_output, suffix_lse, output_lse, backend):
    idx = output.get_device()
    call = (_arr(output), _arr(prefix_output), _arr(prefix_lse), _arr(suffix_output), _arr(suffix_lse),
            _arr(output_lse), backend, 0 if idx < 0 else _stream(idx))
    if idx < 0:
        ext.merge_attn_states(*call)
    else:
        _on_device(idx, ext.merge_attn_states, *call)


@torch.library.custom_op("kvattn::merge_attn_states", mutates_args=("output", "output_lse"))
def merge_attn_states_op(output: Tensor, prefix_output: Tensor, prefix_lse: Tensor, suffix_output: Tensor,
                         suffix_lse: Tensor, output_lse: Optional[Tensor], backend: int) -> None:
    """output (and output_lse) = the merge of the prefix and suffix attention states."""
    _merge_impl(output, prefix_output, prefix_lse, suffix_output, suffix_lse, output_lse, backend)


@merge_attn_states_op.register_fake
def _(output, prefix_output, prefix_lse, suffix_output, suffix_lse, output_lse, backend):
    return None


def merge_attn_states(output, prefix_output, prefix_lse, suffix_output, suffix_lse, output_lse, backend):
    backend_code = _args.backend_code(backend)
    call = (output, prefix_output, prefix_lse, suffix_output, suffix_lse, output_lse, backend_code)
    _run(torch.ops.kvattn.merge_attn_states, _merge_impl, output, call, lambda: dict(
        prefix_output=prefix_output, prefix_lse=prefix_lse, suffix_output=suffix_output, suffix_lse=suffix_lse,
        output_lse=output_lse))
