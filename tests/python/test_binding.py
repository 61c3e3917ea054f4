"""The native layer's own contract (kvattn._native.ext): array import, the
(array, dtype) override pairs Python uses for bf16 / fp8, and error mapping."""
import struct
import sys

import ml_dtypes
import numpy as np
import pytest

import kvattn
from kvattn._native import BACKEND, DTYPE, ext


def _merge(output, prefix):
    lse = np.zeros((2, 3), np.float32)
    ext.merge_attn_states(output, prefix, lse, prefix, lse, None, BACKEND["auto"], 0)


def test_override_by_code_and_by_name():
    out = np.zeros((3, 2, 64), ml_dtypes.bfloat16)
    prefix = np.full((3, 2, 64), 1.5, ml_dtypes.bfloat16)
    _merge((out.view(np.uint16), DTYPE["bfloat16"]), (prefix.view(np.uint16), "bfloat16"))
    assert np.all(out.astype(np.float32) == 1.5)


def test_override_keeps_own_dtype_when_equal():
    out = np.zeros((3, 2, 64), np.float16)
    _merge((out, "float16"), np.ones((3, 2, 64), np.float16))
    assert np.all(out == 1)


@pytest.mark.parametrize("pair, exc, text", [
    ((np.zeros((3, 2, 64), np.uint16), "bfloat17"), TypeError, "unknown dtype name"),
    ((np.zeros((3, 2, 64), np.uint16), 1.5), ValueError, "int code or a name"),
    ((np.zeros((3, 2, 64), np.uint16), "float8_e4m3fn"), TypeError, "cannot be read as float8_e4m3fn"),
    ((np.zeros((3, 2, 64), np.float16), "bfloat16"), TypeError, "cannot be read as bfloat16"),
    ((np.zeros((3, 2, 64), np.uint16), 99), TypeError, "unknown dtype override"),
    ((np.zeros((3, 2, 64), np.uint16), 2**70), TypeError, "unknown dtype override"),
    ((np.zeros((3, 2, 64), np.uint16), "bfloat16\ud800"), TypeError, "not valid UTF-8"),
    ((np.zeros((3, 2, 64), np.uint16), True), ValueError, "int code or a name"),
    ((np.zeros((3, 2, 64), np.uint16), 2, 3), ValueError, "(array, dtype)"),
])
def test_bad_override_pairs(pair, exc, text):
    with pytest.raises(exc, match="prefix_output") as info:
        _merge(np.zeros((3, 2, 64), np.float32), pair)
    assert text in str(info.value)


def test_not_an_array():
    with pytest.raises(ValueError, match="prefix_output.*got str"):
        _merge(np.zeros((3, 2, 64), np.float32), "not an array")
    with pytest.raises(ValueError, match="prefix_output"):
        _merge(np.zeros((3, 2, 64), np.float32), np.array([object()] * 3))


def test_too_many_dimensions():
    with pytest.raises(ValueError, match="prefix_output.*at most 4"):
        _merge(np.zeros((3, 2, 64), np.float32), np.zeros((1, 1, 3, 2, 64), np.float32))


def test_read_only_inputs_are_fine_outputs_are_not():
    prefix = np.ones((3, 2, 64), np.float32)
    prefix.setflags(write=False)
    out = np.zeros((3, 2, 64), np.float32)
    _merge(out, prefix)
    assert np.all(out == 1)
    out.setflags(write=False)
    with pytest.raises(ValueError, match="output.*writable"):
        _merge(out, prefix)


def test_dlpack_capsules_are_accepted_once():
    out = np.zeros((3, 2, 64), np.float32)
    src = np.full((3, 2, 64), 2.0, np.float32)
    lse = np.zeros((2, 3), np.float32)
    ext.merge_attn_states(out, src.__dlpack__(), lse, src.__dlpack__(), lse, None, BACKEND["auto"], 0)
    assert np.all(out == 2)
    capsule = src.__dlpack__()
    with pytest.raises(ValueError, match="suffix_output"):  # a consumed capsule cannot be imported again
        ext.merge_attn_states(out, capsule, lse, capsule, lse, None, BACKEND["auto"], 0)


def test_backend_code_range():
    lse = np.zeros((2, 3), np.float32)
    o = np.zeros((3, 2, 64), np.float32)
    with pytest.raises(ValueError, match="backend"):
        ext.merge_attn_states(o, o, lse, o, lse, None, 17, 0)


def test_constants():
    assert set(DTYPE) == {"float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "int32", "int64",
                          "uint8"}
    assert set(BACKEND) == {"auto", "cpu", "cuda_portable", "cuda_hopper"}
    assert kvattn.__version__ == ext.version() == "0.1.0"
    assert isinstance(kvattn.built_with_cuda(), bool)
    # Hopper kernels exist only in CUDA builds.
    assert isinstance(kvattn.built_with_hopper_kernels(), bool)
    assert kvattn.built_with_cuda() or not kvattn.built_with_hopper_kernels()


def _exported_symbols(path):
    """Names the ELF shared object at path defines in its dynamic symbol table."""
    data = open(path, "rb").read()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = []
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != 11:  # SHT_DYNSYM
            continue
        strtab = sections[link][4]
        for pos in range(offset + entsize, offset + size, entsize):  # entry 0 is the null symbol
            st_name, _, _, st_shndx = struct.unpack_from("<IBBH", data, pos)
            if st_shndx != 0:  # defined here, not imported
                names.append(data[strtab + st_name:data.index(b"\0", strtab + st_name)].decode())
    return names


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the ELF dynamic symbol table")
def test_extension_exports_only_its_init_function():
    # Anything else exported (libkvattn, C++ runtime pieces, their unique
    # symbols) can be merged with other libraries' copies at load time
    # (python/CMakeLists.txt).
    assert _exported_symbols(ext.__file__) == ["PyInit__kvattn_ext"]
