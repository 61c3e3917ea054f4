"""Adapters for arrays that are not torch tensors: numpy (CPU), CuPy (CUDA), and
any other DLPack producer. numpy's DLPack cannot carry bfloat16 or fp8, so
ml_dtypes arrays go to the binding as raw uint16 / uint8 bits with a dtype code."""
import numpy as np

from ._native import DEVICE_CPU, DEVICE_CUDA, DTYPE

try:
    import ml_dtypes
except ImportError:  # ml_dtypes is only needed for bf16 / fp8 numpy arrays
    ml_dtypes = None

# numpy dtype -> (raw view dtype, kvattn dtype code)
_RAW_VIEWS = {}
if ml_dtypes is not None:
    _RAW_VIEWS[np.dtype(ml_dtypes.bfloat16)] = (np.uint16, DTYPE["bfloat16"])
    _RAW_VIEWS[np.dtype(ml_dtypes.float8_e4m3fn)] = (np.uint8, DTYPE["float8_e4m3fn"])
    _RAW_VIEWS[np.dtype(ml_dtypes.float8_e5m2)] = (np.uint8, DTYPE["float8_e5m2"])

_NATIVE_CODES = {
    np.dtype(np.float32): DTYPE["float32"],
    np.dtype(np.float16): DTYPE["float16"],
    np.dtype(np.int32): DTYPE["int32"],
    np.dtype(np.int64): DTYPE["int64"],
    np.dtype(np.uint8): DTYPE["uint8"],
}

# DLPack device types: CPU, CUDA, CUDA pinned host, CUDA managed.
_DLPACK_DEVICE = {1: DEVICE_CPU, 3: DEVICE_CPU, 2: DEVICE_CUDA, 13: DEVICE_CUDA}


def _dtype_of(x):
    try:
        return np.dtype(x.dtype)
    except (TypeError, AttributeError):
        return None


def dtype_code(x):
    """kvattn dtype code of x's elements, or None when kvattn has no such type."""
    dt = _dtype_of(x)
    raw = _RAW_VIEWS.get(dt)
    return raw[1] if raw is not None else _NATIVE_CODES.get(dt)


def has_numpy_dtype(x):
    """False for arrays whose dtype numpy cannot interpret (e.g. a DLPack producer
    that reports its own library's dtype objects)."""
    return _dtype_of(x) is not None


def arg(x):
    """The binding argument for x: the array itself, or (raw bits view, dtype code).
    An object without a numpy-style view() (a bare DLPack producer) goes as it
    is: its DLPack dtype then says what it holds."""
    if x is None:
        return None
    raw = _RAW_VIEWS.get(_dtype_of(x))
    if raw is None or not hasattr(x, "view"):
        return x
    return (x.view(raw[0]), raw[1])


def is_uint8(x):
    return _dtype_of(x) == np.uint8


def require_array(x, name, ndim=None, layout=""):
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise ValueError(f"kvattn: {name}: expected an array (numpy, CuPy, or another DLPack producer), "
                         f"got {type(x).__name__}")
    if ndim is not None and len(x.shape) != ndim:
        raise ValueError(f"kvattn: {name}: expected rank {ndim} {layout}, got shape {tuple(x.shape)}")


def device_of(x):
    """(kvattn device type, index) of an array."""
    if isinstance(x, np.ndarray):
        return DEVICE_CPU, 0
    try:
        dev_type, index = x.__dlpack_device__()
    except AttributeError:
        return DEVICE_CPU, 0  # buffer-protocol objects live on the host
    return _DLPACK_DEVICE.get(int(dev_type), -1), int(index)


def stream_of(x):
    """The stream to launch on: CuPy's current stream for CuPy arrays, else 0 (default stream)."""
    module = type(x).__module__
    if module.startswith("cupy"):
        import cupy

        return cupy.cuda.get_current_stream().ptr
    return 0


def can_allocate(like):
    """Whether empty() can make arrays like `like` (numpy, CuPy, array-API libraries)."""
    return (isinstance(like, np.ndarray) or type(like).__module__.startswith("cupy")
            or hasattr(like, "__array_namespace__"))


def empty(like, shape, dtype):
    """An uninitialized array of the same library and device as `like`; dtype is
    like.dtype or a name such as "float32"."""
    if isinstance(like, np.ndarray):
        return np.empty(shape, dtype)
    module = type(like).__module__
    if module.startswith("cupy"):
        import cupy

        with cupy.cuda.Device(like.device.id):
            return cupy.empty(shape, dtype)
    if hasattr(like, "__array_namespace__"):
        xp = like.__array_namespace__()
        if isinstance(dtype, str):
            dtype = getattr(xp, dtype)
        return xp.empty(shape, dtype=dtype, device=like.device)
    raise ValueError(f"kvattn: cannot allocate an array like {type(like).__name__}; pass out= (and the other "
                     "outputs) explicitly")


def scale_array(like, value):
    """A [1] fp32 array holding value, for scales passed as Python floats."""
    if isinstance(like, np.ndarray):
        return np.full((1,), value, np.float32)
    out = empty(like, (1,), "float32")
    out[...] = value
    return out
