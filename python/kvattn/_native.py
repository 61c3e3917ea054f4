"""The compiled extension and the constants it exports (looked up once)."""
from . import _kvattn_ext as ext

DTYPE = ext.DTYPE_CODES  # kvattn::DType name -> int code
BACKEND = ext.BACKEND_CODES  # "auto" | "cpu" | "cuda_portable" | "cuda_hopper" -> int code
DEVICE_CPU = ext.DEVICE_CPU
DEVICE_CUDA = ext.DEVICE_CUDA
MAX_SPLITS = ext.MAX_SPLITS

# Workspace sizes depend only on host ints; decode steps repeat the same few
# keys, so a small dict saves the native call (and its device-property lookups).
_workspace_cache = {}


def workspace_bytes(batch, num_q_heads, num_kv_heads, head_dim, max_seqlen_q, max_seqlen_k, num_splits,
                    device_type, device_index, kv_dtype_code=-1):
    """Split-KV bytes, plus the FP8 prewiden scratch when kv_dtype_code (a DTYPE
    code; -1 unknown) and the sizes call for one (include/kvattn/attention.h)."""
    key = (batch, num_q_heads, num_kv_heads, head_dim, max_seqlen_q, max_seqlen_k, num_splits, device_type,
           device_index, kv_dtype_code)
    size = _workspace_cache.get(key)
    if size is None:
        size = ext.workspace_size(*key)
        if len(_workspace_cache) > 4096:
            _workspace_cache.clear()
        _workspace_cache[key] = size
    return size
