"""kvattn: attention over a paged FP8 KV cache for LLM serving.

Drop-in for vLLM's `vllm_flash_attn` interface:

    from kvattn import flash_attn_varlen_func, reshape_and_cache_flash

Arrays: torch tensors (CPU and CUDA; registered as torch custom ops under
torch.ops.kvattn.*), numpy (CPU; bf16/fp8 through ml_dtypes), CuPy (CUDA).
See docs/python.md."""
from ._native import ext as _ext
from .api import flash_attn_varlen_func, get_workspace_size, merge_attn_states, reshape_and_cache_flash
from .scales import VLLM_K_DIVISOR, VLLM_V_DIVISOR, compute_fp8_scales

__version__ = _ext.version()
built_with_cuda = _ext.built_with_cuda
built_with_hopper_kernels = _ext.built_with_hopper_kernels

__all__ = [
    "flash_attn_varlen_func",
    "reshape_and_cache_flash",
    "merge_attn_states",
    "get_workspace_size",
    "compute_fp8_scales",
    "built_with_cuda",
    "built_with_hopper_kernels",
    "VLLM_K_DIVISOR",
    "VLLM_V_DIVISOR",
    "__version__",
]
