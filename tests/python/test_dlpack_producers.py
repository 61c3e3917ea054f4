"""flash_attn_varlen_func with arrays that are neither torch tensors nor numpy
arrays, against the float64 reference (attn_reference.py):

- CuPy arrays (CUDA): fp16 q with fp16 or fp8 KV (CuPy has no fp8 dtypes, so
  fp8 caches are uint8 bytes + kv_cache_dtype), on CuPy's null stream and on a
  non-blocking side stream, with `out` given and allocated by kvattn (out, LSE
  and the split-KV workspace through CuPy). Skipped where CuPy or a GPU is
  missing.
- A minimal DLPack producer (`DLPackProducer`: shape, dtype, __dlpack__,
  __dlpack_device__ and nothing else) around torch CUDA tensors' capsules: the
  same path through kvattn's generic (non-torch) code and the binding that a
  CuPy array takes, with bf16 / fp16 q and fp8 KV typed or as uint8 bytes. The
  same class around numpy arrays runs on the CPU backend, so part of it runs
  in CI.

Every output is poisoned (NaN) before the call, so an element the kernel does
not write fails the comparison."""
import contextlib

import numpy as np
import pytest

import attn_cases
import attn_reference as ref
import kvattn
from attn_cases import AttnCase
from kvattn import _generic

# flash_attn_varlen_func arguments that are arrays.
ARRAY_ARGS = ("q", "k", "v", "cu_seqlens_q", "cu_seqlens_k", "seqused_k", "block_table", "q_descale", "k_descale",
              "v_descale", "s_aux")
DL_CPU, DL_CUDA = 1, 2  # DLPack device types


class DLPackProducer:
    """The least an array library must offer kvattn: `shape`, `dtype`,
    `__dlpack__` and `__dlpack_device__`. No buffer protocol, no view(), no
    __array_namespace__, not a torch / numpy / CuPy type, so kvattn can neither
    recognize nor allocate it: every array, outputs included, comes from the
    caller, and the binding reads element type, shape, strides and device from
    the DLPack capsule."""

    def __init__(self, array, export, device, dtype=None):
        self._array = array  # keeps the memory alive
        self._export = export  # (array, max_version) -> DLPack capsule
        self._device = device  # (DLPack device type, index)
        self.shape = tuple(array.shape)
        self.dtype = array.dtype if dtype is None else dtype
        self.exports = []  # (stream, max_version) of every __dlpack__ call

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        if dl_device is not None and tuple(dl_device) != self._device:
            raise BufferError("DLPackProducer: cannot export to another device")
        if copy:
            raise BufferError("DLPackProducer: copy=True is not supported")
        self.exports.append((stream, max_version))
        return self._export(self._array, max_version)

    def __dlpack_device__(self):
        return self._device


def _numpy_export(a, max_version):
    # numpy refuses an unversioned capsule for a read-only array (np.broadcast_to
    # descales): it raises BufferError, and the consumer asks again with max_version.
    return a.__dlpack__() if max_version is None else a.__dlpack__(max_version=max_version)


class OpaqueDType:
    """A dtype object numpy cannot interpret, as torch's (or another library's) are."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"opaque.{self.name}"


def wrap_numpy(a, dtype_style="numpy"):
    dtype = a.dtype if dtype_style == "numpy" else OpaqueDType(a.dtype.name)
    return DLPackProducer(a, _numpy_export, (DL_CPU, 0), dtype)


def _poisoned_like(a):
    return np.full(a.shape, np.nan, a.dtype)


def _check_all_written_and_correct(out, inputs, q_dtype):
    got = ref.f64(out)
    assert not np.isnan(got).any(), f"{int(np.isnan(got).sum())} of {got.size} output elements were not written"
    attn_cases.check_output(got, inputs.ref_out, q_dtype)


# ---------------------------------------------------------------- numpy behind the producer (CPU backend)


@pytest.mark.parametrize("dtype_style", ["numpy", "opaque"])
@pytest.mark.parametrize("batch", ["decode", "prefill", "mixed"])
@pytest.mark.parametrize("kv_format", ["same", "e4m3_bytes", "e5m2_bytes"])
def test_cpu_producer(batch, kv_format, dtype_style):
    """numpy's DLPack has no bf16 / fp8, so q is fp16 and fp8 caches are uint8
    bytes. dtype_style "opaque": the producer reports dtype objects numpy cannot
    interpret (as a producer around torch tensors would)."""
    case = AttnCase(batch=batch, q_dtype=np.float16, kv_format=kv_format, causal=True, return_lse=False,
                    descale="tensor" if kv_format != "same" else "none", num_q_heads=8, num_kv_heads=2,
                    head_dim=128, seed=11)
    inputs = attn_cases.build(case)
    kwargs = dict(inputs.kwargs)
    out = _poisoned_like(kwargs["q"])
    producers = {name: wrap_numpy(kwargs[name], dtype_style) for name in ARRAY_ARGS if kwargs.get(name) is not None}
    kwargs.update(producers)
    result = kvattn.flash_attn_varlen_func(**kwargs, out=wrap_numpy(out, dtype_style))
    assert isinstance(result, DLPackProducer)
    for name, p in producers.items():
        assert p.exports, f"{name} was not read through __dlpack__"
    _check_all_written_and_correct(out, inputs, case.q_dtype)


def test_cpu_producer_without_out_needs_a_library():
    inputs = attn_cases.build(AttnCase(batch="decode", q_dtype=np.float16, return_lse=False))
    kwargs = dict(inputs.kwargs, q=wrap_numpy(inputs.kwargs["q"]))
    with pytest.raises(ValueError, match="pass out="):
        kvattn.flash_attn_varlen_func(**kwargs)


def test_cpu_producer_wrong_dtype_with_kv_cache_dtype_names_k():
    """A producer whose dtype numpy cannot name goes to the binding as (k, fp8
    code); the binding accepts only uint8 bytes or that fp8 format."""
    inputs = attn_cases.build(AttnCase(batch="decode", q_dtype=np.float16, return_lse=False))
    kwargs = dict(inputs.kwargs)
    k, v = wrap_numpy(kwargs["k"], "opaque"), wrap_numpy(kwargs["v"], "opaque")
    out = _poisoned_like(kwargs["q"])
    with pytest.raises(TypeError, match="kvattn: k: cannot be read as float8_e4m3fn"):
        kvattn.flash_attn_varlen_func(**dict(kwargs, k=k, v=v), out=out, kv_cache_dtype="fp8_e4m3")
    assert np.isnan(out).all(), "a rejected call must not write its output"


# ---------------------------------------------------------------- torch CUDA tensors behind the producer


def _torch_cuda():
    torch = pytest.importorskip("torch", reason="torch is not installed (the CUDA producer test runs on the device)")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    if not kvattn.built_with_cuda():
        pytest.skip("this kvattn build has no CUDA backend")
    return torch


_NUMPY_STYLE = {"uint8": np.uint8, "float16": np.float16, "float32": np.float32, "int32": np.int32,
                "int64": np.int64, "bfloat16": ref.BF16, "float8_e4m3fn": ref.E4M3, "float8_e5m2": ref.E5M2}


def wrap_torch(t, export, dtype_style):
    """A producer around a torch tensor. export: "to_dlpack" (torch.utils.dlpack,
    a legacy capsule) or "__dlpack__" (the tensor's own, versioned when asked).
    dtype_style: "torch" (the producer reports torch dtypes, which numpy cannot
    name) or "numpy" (numpy / ml_dtypes dtypes, as CuPy and JAX report)."""
    import torch

    if export == "to_dlpack":
        def exporter(x, max_version):
            return torch.utils.dlpack.to_dlpack(x)
    else:
        def exporter(x, max_version):
            return x.__dlpack__() if max_version is None else x.__dlpack__(max_version=max_version)
    dtype = t.dtype if dtype_style == "torch" else np.dtype(_NUMPY_STYLE[str(t.dtype).removeprefix("torch.")])
    return DLPackProducer(t, exporter, (DL_CUDA, t.device.index), dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("export, dtype_style", [("to_dlpack", "torch"), ("__dlpack__", "torch"),
                                                 ("__dlpack__", "numpy")])
@pytest.mark.parametrize("q_dtype, kv_format", [
    (ref.BF16, "e4m3"), (ref.BF16, "e4m3_bytes"), (np.dtype(np.float16), "e5m2_bytes"), (ref.BF16, "same"),
    (np.dtype(np.float16), "e4m3"),
], ids=["bf16-e4m3", "bf16-e4m3_bytes", "fp16-e5m2_bytes", "bf16-bf16", "fp16-e4m3"])
@pytest.mark.parametrize("batch", ["decode", "prefill", "mixed"])
def test_cuda_producer_around_torch(batch, q_dtype, kv_format, export, dtype_style):
    torch = _torch_cuda()
    from torch_utils import to_numpy, to_torch

    fp8 = kv_format != "same"
    case = AttnCase(batch=batch, q_dtype=q_dtype, kv_format=kv_format, causal=True, return_lse=False,
                    descale="seq_head" if fp8 else "none", num_q_heads=8, num_kv_heads=2, head_dim=128, seed=5)
    inputs = attn_cases.build(case)
    kwargs = dict(inputs.kwargs)
    tensors = {name: to_torch(kwargs[name], "cuda") for name in ARRAY_ARGS if kwargs.get(name) is not None}
    out = torch.full(tensors["q"].shape, float("nan"), dtype=tensors["q"].dtype, device="cuda")
    producers = {name: wrap_torch(t, export, dtype_style) for name, t in tensors.items()}
    torch.cuda.synchronize()  # kvattn launches these on the default stream
    result = kvattn.flash_attn_varlen_func(**dict(kwargs, **producers), out=wrap_torch(out, export, dtype_style))
    torch.cuda.synchronize()
    assert isinstance(result, DLPackProducer)
    for name, p in producers.items():
        assert p.exports, f"{name} was not read through __dlpack__"
    _check_all_written_and_correct(to_numpy(out), inputs, case.q_dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("num_splits", [0, 4])
def test_cuda_producer_workspace(num_splits, monkeypatch):
    """Decodes long enough for the heuristic to split. kvattn cannot allocate a
    workspace for a bare producer: a heuristic split then runs unsplit; an
    explicit split count uses the workspace passed (also a producer), and
    without one is a ValueError naming `workspace`."""
    torch = _torch_cuda()
    from torch_utils import to_numpy, to_torch

    monkeypatch.setitem(attn_cases.BATCHES, "long_decode", ([1, 1, 1, 1], [2048, 1500, 4096, 77]))
    case = AttnCase(batch="long_decode", q_dtype=ref.BF16, kv_format="e4m3_bytes", descale="tensor",
                    return_lse=False, num_q_heads=8, num_kv_heads=2, head_dim=128, seed=6)
    inputs = attn_cases.build(case)
    kwargs = dict(inputs.kwargs, num_splits=num_splits)
    producers = {name: wrap_torch(to_torch(kwargs[name], "cuda"), "__dlpack__", "torch")
                 for name in ARRAY_ARGS if kwargs.get(name) is not None}
    kwargs.update(producers)
    out = torch.full(inputs.ref_out.shape, float("nan"), dtype=torch.bfloat16, device="cuda")
    if num_splits > 1:
        with pytest.raises(ValueError, match="workspace"):
            kvattn.flash_attn_varlen_func(**kwargs, out=wrap_torch(out, "__dlpack__", "torch"))
        batch = len(inputs.q_lens)
        size = kvattn.get_workspace_size(batch, case.num_q_heads, case.num_kv_heads, case.head_dim,
                                         kwargs["max_seqlen_q"], kwargs["max_seqlen_k"], num_splits, device="cuda")
        workspace = torch.empty(max(size, 1), dtype=torch.uint8, device="cuda")
        kwargs["workspace"] = wrap_torch(workspace, "__dlpack__", "torch")
    torch.cuda.synchronize()
    kvattn.flash_attn_varlen_func(**kwargs, out=wrap_torch(out, "__dlpack__", "torch"))
    torch.cuda.synchronize()
    _check_all_written_and_correct(to_numpy(out), inputs, case.q_dtype)


# ---------------------------------------------------------------- CuPy


def _cupy():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 - CUDARuntimeError and friends: no driver / no device
        pytest.skip(f"CuPy finds no GPU ({type(e).__name__}: {e})")
    if count == 0:
        pytest.skip("CuPy finds no GPU")
    if not kvattn.built_with_cuda():
        pytest.skip("this kvattn build has no CUDA backend")
    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("stream", ["default", "side"])
@pytest.mark.parametrize("kv_format", ["e4m3_bytes", "e5m2_bytes", "same"])
@pytest.mark.parametrize("batch", ["decode", "prefill", "mixed"])
def test_cupy(batch, kv_format, stream):
    cupy = _cupy()
    fp8 = kv_format != "same"
    case = AttnCase(batch=batch, q_dtype=np.float16, kv_format=kv_format, causal=True, return_lse=True,
                    descale="tensor" if fp8 else "none", num_q_heads=8, num_kv_heads=2, head_dim=128, seed=9)
    inputs = attn_cases.build(case)
    kwargs = dict(inputs.kwargs)
    for name in ARRAY_ARGS:
        if kwargs.get(name) is not None:
            kwargs[name] = cupy.asarray(np.ascontiguousarray(kwargs[name]))
    if fp8:
        assert kwargs["k"].dtype == np.uint8 and kwargs["kv_cache_dtype"] in ("fp8_e4m3", "fp8_e5m2")
    cupy.cuda.Device().synchronize()  # the uploads above, before a non-blocking stream reads them
    side = cupy.cuda.Stream(non_blocking=True) if stream == "side" else None
    with side if side is not None else contextlib.nullcontext():
        assert _generic.stream_of(kwargs["q"]) == cupy.cuda.get_current_stream().ptr  # kvattn launches there
        out = cupy.full(kwargs["q"].shape, np.nan, np.float16)
        result, lse = kvattn.flash_attn_varlen_func(**kwargs, out=out)
        fresh, _ = kvattn.flash_attn_varlen_func(**kwargs)  # out, lse and workspace allocated with CuPy
    cupy.cuda.Device().synchronize()
    assert result is out and isinstance(fresh, cupy.ndarray) and isinstance(lse, cupy.ndarray)
    _check_all_written_and_correct(cupy.asnumpy(out), inputs, case.q_dtype)
    attn_cases.check_output(cupy.asnumpy(fresh), inputs.ref_out, case.q_dtype)
    attn_cases.check_lse(cupy.asnumpy(lse), inputs.ref_lse)
