"""The public functions, with vLLM's `vllm_flash_attn` signatures and meaning.

torch tensors go through the torch custom ops (kvattn/_torch_ops.py); numpy,
CuPy and other DLPack arrays go straight to the binding. Exact semantics:
docs/semantics.md; Python usage: docs/python.md."""
from . import _args, _generic
from ._native import DEVICE_CPU, DEVICE_CUDA, ext, workspace_bytes

try:
    import torch as _torch
    from . import _torch_ops
except (ImportError, OSError):  # torch is optional (OSError: a torch whose native libraries fail to load)
    _torch = None
    _torch_ops = None


def _is_torch(x):
    return _torch is not None and isinstance(x, _torch.Tensor)


def flash_attn_varlen_func(q, k, v, max_seqlen_q, cu_seqlens_q, max_seqlen_k, cu_seqlens_k=None, seqused_k=None,
                           q_v=None, dropout_p=0.0, softmax_scale=None, causal=False, window_size=None, softcap=0.0,
                           alibi_slopes=None, deterministic=False, return_attn_probs=False, block_table=None,
                           return_softmax_lse=False, out=None, scheduler_metadata=None, q_descale=None,
                           k_descale=None, v_descale=None, num_splits=0, fa_version=3, s_aux=None, *,
                           kv_cache_dtype=None, workspace=None, backend=None):
    """Varlen attention over a contiguous or paged (optionally FP8) KV cache.

    q [total_q, Hq, D] bf16/fp16. Paged: k, v [num_blocks, page_size, Hkv, D]
    with block_table [B, max_blocks] and seqused_k [B]; contiguous: k, v
    [total_k, Hkv, D] with cu_seqlens_k [B+1] (cu_seqlens_k and seqused_k are
    mutually exclusive). K/V dtype: q's, fp8 e4m3fn / e5m2, or uint8 bytes with
    kv_cache_dtype naming the fp8 format. Descales fp32 [B, Hkv] (any strides,
    e.g. k_scale.expand(B, Hkv)). window_size (left, right), -1 = unbounded.
    s_aux: sinks [Hq]. Returns out, or (out, softmax_lse [Hq, total_q] fp32)
    with return_softmax_lse.

    Not supported (NotImplementedError): dropout_p > 0, alibi_slopes,
    return_attn_probs, q_v. Accepted and ignored: deterministic (kvattn is
    always deterministic), scheduler_metadata, fa_version.
    kvattn extras (keyword-only): kv_cache_dtype, workspace (uint8 [bytes] of
    at least get_workspace_size(...); allocated per call when None), backend
    ("auto", "cpu", "cuda_portable", "cuda_hopper")."""
    del deterministic, scheduler_metadata, fa_version  # accepted for vLLM compatibility, no effect
    if _is_torch(q):
        return _torch_ops.flash_attn_varlen_func(
            q, k, v, max_seqlen_q, cu_seqlens_q, max_seqlen_k, cu_seqlens_k, seqused_k, q_v, dropout_p,
            softmax_scale, causal, window_size, softcap, alibi_slopes, return_attn_probs, block_table,
            return_softmax_lse, out, q_descale, k_descale, v_descale, num_splits, s_aux, kv_cache_dtype, workspace,
            backend)

    _args.check_unsupported(dropout_p, alibi_slopes, return_attn_probs, q_v)
    window_left, window_right = _args.parse_window(window_size)
    backend_code = _args.backend_code(backend)
    _generic.require_array(q, "q", 3, "[total_q, Hq, D]")
    _generic.require_array(k, "k")
    k_arg, v_arg = _generic_kv_args(k, v, kv_cache_dtype)
    if out is None:
        out = _generic.empty(q, q.shape, q.dtype)
    lse = None
    if return_softmax_lse:
        lse = _generic.empty(q, (q.shape[1], q.shape[0]), "float32")
    device_type, device_index = _generic.device_of(q)
    # When q's library cannot allocate (a bare DLPack producer), no workspace: a
    # heuristic split then runs unsplit, an explicit num_splits > 1 is an error
    # naming `workspace` (pass one).
    if (workspace is None and device_type == DEVICE_CUDA and len(k.shape) >= 2
            and hasattr(cu_seqlens_q, "shape") and _generic.can_allocate(q)):
        kv_code = k_arg[1] if isinstance(k_arg, tuple) else _generic.dtype_code(k)
        nbytes = workspace_bytes(cu_seqlens_q.shape[0] - 1, q.shape[1], k.shape[-2], q.shape[2], max_seqlen_q,
                                 max_seqlen_k, num_splits, device_type, device_index,
                                 -1 if kv_code is None else kv_code)
        if nbytes:
            workspace = _generic.empty(q, (nbytes,), "uint8")
    scale = 0.0 if softmax_scale is None else float(softmax_scale)
    ext.varlen_attention(
        _generic.arg(q), k_arg, v_arg, _generic.arg(cu_seqlens_q), _generic.arg(cu_seqlens_k),
        _generic.arg(seqused_k), _generic.arg(block_table), max_seqlen_q, max_seqlen_k, _generic.arg(q_descale),
        _generic.arg(k_descale), _generic.arg(v_descale), scale, bool(causal), window_left, window_right,
        float(softcap), _generic.arg(s_aux), _generic.arg(out), _generic.arg(lse), num_splits,
        _generic.arg(workspace), backend_code, _generic.stream_of(q))
    return (out, lse) if return_softmax_lse else out


def _generic_kv_args(k, v, kv_cache_dtype):
    """Binding arguments for K and V: uint8 bytes are read as kv_cache_dtype's fp8 format.
    K whose dtype numpy cannot name (a DLPack producer with its own dtype objects)
    goes as (k, fp8 code) when kv_cache_dtype names an fp8 format: the binding then
    accepts uint8 bytes or that fp8 format and rejects anything else (TypeError)."""
    unnamed = not _generic.has_numpy_dtype(k) and kv_cache_dtype not in (None, "auto")
    if _generic.is_uint8(k) or unnamed:
        code = _args.raw_kv_code(kv_cache_dtype)
        v_raw = _generic.is_uint8(v) or (unnamed and not _generic.has_numpy_dtype(v))
        return (k, code), ((v, code) if v_raw else _generic.arg(v))
    if kv_cache_dtype is not None:
        _args.check_kv_cache_dtype_matches(kv_cache_dtype, _generic.dtype_code(k))
    return _generic.arg(k), _generic.arg(v)


def reshape_and_cache_flash(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype, k_scale, v_scale, *,
                            backend=None):
    """vLLM's cache write, in place: for token t with slot = slot_mapping[t] >= 0,
    key_cache[slot // page_size, slot % page_size] = quantize(key[t] / k_scale)
    (likewise value). key/value [T, Hkv, D] fp32/fp16/bf16; caches
    [num_blocks, page_size, Hkv, D]; slot_mapping int64 [T' <= T], < 0 skipped.
    kv_cache_dtype: "auto" (plain copy, caches in key's dtype), "fp8" /
    "fp8_e4m3" or "fp8_e5m2" (caches fp8-typed or uint8 bytes). k_scale,
    v_scale: fp32 arrays of one element or [Hkv] (floats are accepted too)."""
    if _is_torch(key):
        return _torch_ops.reshape_and_cache_flash(key, value, key_cache, value_cache, slot_mapping, kv_cache_dtype,
                                                  k_scale, v_scale, backend)
    backend_code = _args.backend_code(backend)
    _generic.require_array(key, "key")
    _generic.require_array(key_cache, "key_cache")
    k_scale = k_scale if k_scale is None or hasattr(k_scale, "shape") else _generic.scale_array(key, k_scale)
    v_scale = v_scale if v_scale is None or hasattr(v_scale, "shape") else _generic.scale_array(key, v_scale)
    ext.reshape_and_cache_flash(
        _generic.arg(key), _generic.arg(value), _cache_arg(key_cache, kv_cache_dtype),
        _cache_arg(value_cache, kv_cache_dtype), _generic.arg(slot_mapping), kv_cache_dtype, _generic.arg(k_scale),
        _generic.arg(v_scale), backend_code, _generic.stream_of(key))


def _cache_arg(cache, kv_cache_dtype):
    if _generic.is_uint8(cache) and kv_cache_dtype in _args.FP8_CODE_BY_NAME:
        return (cache, _args.FP8_CODE_BY_NAME[kv_cache_dtype])
    return _generic.arg(cache)


def merge_attn_states(output, prefix_output, prefix_lse, suffix_output, suffix_lse, output_lse=None, *,
                      backend=None):
    """vLLM's merge of two partial attention states, in place:
    output = (e^lp * prefix_output + e^ls * suffix_output) / (e^lp + e^ls),
    output_lse = log(e^lp + e^ls). Outputs [T, H, D] fp32/fp16/bf16, LSEs fp32
    [H, T] (natural log; +inf counts as -inf; both -inf gives 0 and -inf)."""
    if _is_torch(output):
        return _torch_ops.merge_attn_states(output, prefix_output, prefix_lse, suffix_output, suffix_lse,
                                            output_lse, backend)
    backend_code = _args.backend_code(backend)
    _generic.require_array(output, "output")
    ext.merge_attn_states(
        _generic.arg(output), _generic.arg(prefix_output), _generic.arg(prefix_lse), _generic.arg(suffix_output),
        _generic.arg(suffix_lse), _generic.arg(output_lse), backend_code, _generic.stream_of(output))


def _parse_device(device):
    """(kvattn device type, index) from "cpu", "cuda", "cuda:N", an int (CUDA
    ordinal) or a torch.device."""
    if isinstance(device, int):
        return DEVICE_CUDA, device
    text = str(device)
    kind, _, index = text.partition(":")
    if kind == "cpu":
        return DEVICE_CPU, 0
    if kind == "cuda":
        if index:
            return DEVICE_CUDA, int(index)
        if _torch is not None and _torch.cuda.is_available():
            return DEVICE_CUDA, _torch.cuda.current_device()
        return DEVICE_CUDA, 0
    raise ValueError(f"kvattn: device: expected 'cpu', 'cuda', 'cuda:N', an int or a torch.device, got {device!r}")


def get_workspace_size(batch, num_q_heads, num_kv_heads, head_dim, max_seqlen_q, max_seqlen_k, num_splits=0,
                       device="cuda", kv_cache_dtype=None):
    """Bytes of workspace a flash_attn_varlen_func call with these host-side
    sizes may use (0 when it needs none, e.g. on CPU): split-KV partials and,
    with kv_cache_dtype "fp8" / "fp8_e4m3" / "fp8_e5m2" on a Hopper GPU with long
    query rows, the scratch its FP8 K/V are widened into once per call (at most
    batch x max_seqlen_k x num_kv_heads x head_dim x 4 bytes, used only when that
    is <= 512 MiB; a smaller workspace still works, widening per tile). Only host
    values: safe to call before CUDA-graph capture to preallocate `workspace`."""
    device_type, device_index = _parse_device(device)
    kv_code = -1 if kv_cache_dtype in (None, "auto") else _args.raw_kv_code(kv_cache_dtype)
    return workspace_bytes(int(batch), int(num_q_heads), int(num_kv_heads), int(head_dim), int(max_seqlen_q),
                           int(max_seqlen_k), int(num_splits), device_type, device_index, kv_code)
