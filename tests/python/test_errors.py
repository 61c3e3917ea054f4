"""Every error path of the Python API: the exception type (ValueError for
values/shapes/devices, TypeError for element types, NotImplementedError for
unsupported features) and a message that names the argument. Never a crash."""
import numpy as np
import pytest

import attn_cases
import kvattn
from attn_cases import BF16, AttnCase


@pytest.fixture
def call():
    """Returns (kwargs, run): a valid paged decode call and a runner applying overrides."""
    kwargs = attn_cases.build(AttnCase(batch="mixed", kv_format="e4m3", descale="seq_head")).kwargs

    def run(**overrides):
        args = dict(kwargs, **overrides)
        for name in [n for n, v in overrides.items() if v is _DROP]:
            del args[name]
        return kvattn.flash_attn_varlen_func(**args)

    return kwargs, run


_DROP = object()


def expect(exc, argument, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert argument in str(info.value), f"message should name {argument!r}: {info.value}"
    return info.value


@pytest.mark.parametrize("name, value", [("dropout_p", 0.1), ("alibi_slopes", np.zeros(4, np.float32)),
                                         ("return_attn_probs", True), ("q_v", np.zeros((1,), np.float32))])
def test_unsupported_parameters_raise_not_implemented(call, name, value):
    _, run = call
    expect(NotImplementedError, name, run, **{name: value})


def test_cu_seqlens_k_and_seqused_k_are_exclusive(call):
    kwargs, run = call
    expect(ValueError, "cu_seqlens_k", run, cu_seqlens_k=kwargs["cu_seqlens_q"])


def test_block_table_needs_seqused_k(call):
    _, run = call
    expect(ValueError, "seqused_k", run, seqused_k=_DROP)


def test_seqused_k_needs_block_table(call):
    _, run = call
    expect(ValueError, "block_table", run, block_table=_DROP)


def test_neither_kv_length_given(call):
    _, run = call
    expect(ValueError, "cu_seqlens_k", run, block_table=_DROP, seqused_k=_DROP)


@pytest.mark.parametrize("window, argument", [((-2, -1), "window_left"), ((0, -5), "window_right"),
                                              ((1, 2, 3), "window_size"), (5, "window_size")])
def test_bad_window(call, window, argument):
    _, run = call
    expect(ValueError, argument, run, window_size=window)


@pytest.mark.parametrize("name, value, shown", [("softcap", -1.0, "got -1"), ("softcap", float("inf"), "got inf"),
                                                ("softmax_scale", float("nan"), "got nan"),
                                                ("num_splits", -1, "got -1"), ("max_seqlen_q", -1, "got -1"),
                                                ("max_seqlen_k", -3, "got -3")])
def test_bad_scalars(call, name, value, shown):
    _, run = call
    # The value in the message is formatted by the extension's C++ (iostreams for
    # floats): a module whose C++ runtime state is mixed with the process's
    # printed nothing here, or crashed (python/CMakeLists.txt).
    err = expect(ValueError, name, run, **{name: value})
    assert str(err).endswith(shown), str(err)


def test_bad_backend_name(call):
    _, run = call
    expect(ValueError, "backend", run, backend="tpu")


@pytest.mark.parametrize("backend", ["cuda_portable", "cuda_hopper"])
def test_cuda_backend_for_cpu_arrays(call, backend):
    _, run = call
    err = expect((ValueError, NotImplementedError), "backend", run, backend=backend)
    assert "cpu" in str(err)


def test_q_dtype(call):
    kwargs, run = call
    expect(TypeError, "q", run, q=kwargs["q"].astype(np.float32))
    expect(TypeError, "q", run, q=kwargs["q"].astype(np.float64))


def test_fp8_query_not_implemented(call):
    kwargs, run = call
    expect(NotImplementedError, "q", run, q=kwargs["q"].astype(attn_cases.ref.E4M3),
           out=np.zeros(kwargs["q"].shape, BF16))


def test_unsupported_head_dim(call):
    kwargs, run = call
    q = np.zeros((kwargs["q"].shape[0], 4, 80), BF16)
    expect(NotImplementedError, "q", run, q=q)


def test_q_rank(call):
    kwargs, run = call
    expect(ValueError, "q", run, q=kwargs["q"][0])


def test_q_not_an_array(call):
    kwargs, run = call
    expect(ValueError, "q", run, q=kwargs["q"].tolist())


def test_uint8_kv_needs_kv_cache_dtype(call):
    kwargs, run = call
    expect(TypeError, "kv_cache_dtype", run, k=kwargs["k"].view(np.uint8), v=kwargs["v"].view(np.uint8))
    expect(TypeError, "kv_cache_dtype", run, k=kwargs["k"].view(np.uint8), v=kwargs["v"].view(np.uint8),
           kv_cache_dtype="int8")


def test_kv_cache_dtype_must_match_typed_fp8(call):
    _, run = call
    expect(TypeError, "k", run, kv_cache_dtype="fp8_e5m2")
    expect(ValueError, "kv_cache_dtype", run, kv_cache_dtype="fp9")


def test_k_v_dtype_mismatch(call):
    kwargs, run = call
    expect(TypeError, "v", run, v=kwargs["v"].astype(attn_cases.ref.E5M2))


def test_gqa_ratio(call):
    kwargs, run = call
    k = np.zeros(kwargs["k"].shape[:2] + (3, kwargs["k"].shape[3]), kwargs["k"].dtype)
    expect(ValueError, "k", run, k=k, v=k.copy())


def test_kv_head_dim_mismatch(call):
    kwargs, run = call
    k = np.zeros(kwargs["k"].shape[:3] + (128,), kwargs["k"].dtype)
    expect(ValueError, "k", run, k=k, v=k.copy())


@pytest.mark.parametrize("name", ["cu_seqlens_q", "seqused_k", "block_table"])
def test_index_arrays_must_be_int32(call, name):
    kwargs, run = call
    expect(TypeError, name, run, **{name: kwargs[name].astype(np.int64)})


def test_seqused_k_length(call):
    kwargs, run = call
    expect(ValueError, "seqused_k", run, seqused_k=kwargs["seqused_k"][:-1].copy())


def test_block_table_too_narrow(call):
    kwargs, run = call
    expect(ValueError, "block_table", run, block_table=kwargs["block_table"][:, :1].copy())


def test_block_id_out_of_range(call):
    kwargs, run = call
    table = kwargs["block_table"].copy()
    table[0, 0] = kwargs["k"].shape[0] + 100
    expect(ValueError, "block_table", run, block_table=table)


def test_seqused_k_above_max_seqlen_k(call):
    kwargs, run = call
    expect(ValueError, "max_seqlen_k", run, max_seqlen_k=int(kwargs["seqused_k"].max()) - 1)


def test_cu_seqlens_q_decreasing(call):
    kwargs, run = call
    cu = kwargs["cu_seqlens_q"].copy()
    cu[2] = cu[3] + 1
    expect(ValueError, "cu_seqlens_q", run, cu_seqlens_q=cu)


@pytest.mark.parametrize("name", ["q_descale", "k_descale", "v_descale"])
def test_descale_shape_and_dtype(call, name):
    kwargs, run = call
    expect(ValueError, name, run, **{name: kwargs[name][:, :1].repeat(3, axis=1)})
    expect(TypeError, name, run, **{name: kwargs[name].astype(np.float64)})


def test_sinks_shape(call):
    _, run = call
    err = expect(ValueError, "s_aux", run, s_aux=np.zeros(3, np.float32))
    assert "[" in str(err)


def test_out_shape_dtype_and_writability(call):
    kwargs, run = call
    q = kwargs["q"]
    expect(ValueError, "out", run, out=np.zeros((q.shape[0] + 1,) + q.shape[1:], q.dtype))
    expect(TypeError, "out", run, out=np.zeros(q.shape, np.float16))
    expect(ValueError, "out", run, out=np.broadcast_to(np.zeros((1,) + q.shape[1:], q.dtype), q.shape))


def test_explicit_workspace_form(call):
    _, run = call
    # The CPU backend never splits, but a workspace still has to be a 1-D byte array.
    expect(ValueError, "workspace", run, workspace=np.zeros((2, 2), np.uint8))


# ---------------------------------------------------------------- cache write

@pytest.fixture
def cache_args(rng):
    key = rng.standard_normal((4, 2, 64)).astype(BF16)
    value = rng.standard_normal((4, 2, 64)).astype(BF16)
    kc = np.zeros((3, 4, 2, 64), np.uint8)
    vc = np.zeros((3, 4, 2, 64), np.uint8)
    slots = np.array([0, 5, -1, 11], np.int64)
    return dict(key=key, value=value, key_cache=kc, value_cache=vc, slot_mapping=slots, kv_cache_dtype="fp8",
                k_scale=np.array([0.1], np.float32), v_scale=np.array([0.1], np.float32))


def test_cache_write_errors(cache_args):
    write = kvattn.reshape_and_cache_flash
    write(**cache_args)  # the valid call
    expect(ValueError, "kv_cache_dtype", write, **dict(cache_args, kv_cache_dtype="fp7"))
    expect(ValueError, "k_scale", write, **dict(cache_args, k_scale=None))
    expect(ValueError, "v_scale", write, **dict(cache_args, v_scale=np.ones(3, np.float32)))
    expect(TypeError, "k_scale", write, **dict(cache_args, k_scale=np.ones(1, np.float64)))
    expect(TypeError, "slot_mapping", write, **dict(cache_args, slot_mapping=cache_args["slot_mapping"]
                                                   .astype(np.int32)))
    expect(ValueError, "slot_mapping", write, **dict(cache_args, slot_mapping=np.arange(5, dtype=np.int64)))
    expect(ValueError, "slot_mapping", write, **dict(cache_args, slot_mapping=np.array([0, 1, 2, 99], np.int64)))
    expect(ValueError, "key_cache", write, **dict(cache_args, key_cache=np.zeros((3, 4, 1, 64), np.uint8)))
    expect(ValueError, "value_cache", write, **dict(cache_args, value_cache=np.zeros((3, 4, 2, 64), np.uint8)[:2]))
    expect(TypeError, "key", write, **dict(cache_args, key=cache_args["key"].astype(np.float64)))
    expect(ValueError, "key_cache", write,
           **dict(cache_args, key_cache=np.broadcast_to(np.zeros((1, 4, 2, 64), np.uint8), (3, 4, 2, 64))))
    # auto: the cache must hold key's dtype.
    expect(TypeError, "key_cache", write, **dict(cache_args, kv_cache_dtype="auto"))
    expect(ValueError, "backend", write, **dict(cache_args), backend="gpu")


# ---------------------------------------------------------------- merge

def test_merge_errors(rng):
    merge = kvattn.merge_attn_states
    o = rng.standard_normal((5, 2, 64)).astype(np.float32)
    lse = np.zeros((2, 5), np.float32)
    merge(np.zeros_like(o), o, lse, o, lse)  # the valid call
    expect(ValueError, "prefix_lse", merge, np.zeros_like(o), o, np.zeros((5, 2), np.float32), o, lse)
    expect(TypeError, "suffix_lse", merge, np.zeros_like(o), o, lse, o, lse.astype(np.float64))
    expect(TypeError, "prefix_output", merge, np.zeros_like(o), o.astype(np.float16), lse, o, lse)
    expect(ValueError, "suffix_output", merge, np.zeros_like(o), o, lse, o[:4], lse)
    expect(ValueError, "output_lse", merge, np.zeros_like(o), o, lse, o, lse, np.zeros((2, 4), np.float32))
    expect(ValueError, "output", merge, np.broadcast_to(np.zeros((1, 2, 64), np.float32), o.shape), o, lse, o, lse)


# ---------------------------------------------------------------- workspace size, scales

def test_workspace_size():
    assert kvattn.get_workspace_size(8, 32, 8, 128, 1, 4096, device="cpu") == 0
    if not kvattn.built_with_cuda():
        assert kvattn.get_workspace_size(8, 32, 8, 128, 1, 4096, device="cuda:0") == 0
    expect(ValueError, "num_kv_heads", kvattn.get_workspace_size, 8, 4, 8, 128, 1, 4096, device="cpu")
    expect(ValueError, "batch", kvattn.get_workspace_size, -1, 4, 4, 128, 1, 4096, device="cpu")
    expect(ValueError, "device", kvattn.get_workspace_size, 8, 4, 4, 128, 1, 4096, device="tpu:0")
    # The KV cache dtype adds the FP8 prewiden scratch on Hopper GPUs only; a name it does not know is an error.
    assert kvattn.get_workspace_size(4, 32, 8, 128, 8192, 8192, device="cpu", kv_cache_dtype="fp8_e4m3") == 0
    assert kvattn.get_workspace_size(4, 32, 8, 128, 8192, 8192, device="cpu", kv_cache_dtype="auto") == 0
    expect(TypeError, "kv_cache_dtype", kvattn.get_workspace_size, 4, 32, 8, 128, 8192, 8192, device="cpu",
           kv_cache_dtype="int8")


def test_compute_fp8_scales_errors():
    x = np.ones((4, 2, 64), np.float32)
    expect(ValueError, "fp8_dtype", kvattn.compute_fp8_scales, x, fp8_dtype="e3m4")
    expect(ValueError, "margin", kvattn.compute_fp8_scales, x, margin=0)
    expect(ValueError, "divisor", kvattn.compute_fp8_scales, x, divisor=-1)
    expect(ValueError, "x", kvattn.compute_fp8_scales, 3.0)
