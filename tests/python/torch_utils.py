"""numpy <-> torch conversion for the torch tests (bf16 / fp8 through raw bits,
stride-0 broadcasts kept as torch expands)."""
import numpy as np
import torch

import attn_reference as ref

_TORCH_OF = {
    ref.BF16: (np.int16, torch.bfloat16),
    ref.E4M3: (np.uint8, torch.float8_e4m3fn),
    ref.E5M2: (np.uint8, torch.float8_e5m2),
}

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def to_torch(x, device):
    """A torch tensor with x's values and dtype (stride-0 dims become expands)."""
    if not isinstance(x, np.ndarray):
        return x
    if 0 in x.strides and x.size > 1:
        base = x[tuple(slice(0, 1) if s == 0 else slice(None) for s in x.strides)]
        return to_torch(np.ascontiguousarray(base), device).expand(x.shape)
    x = np.ascontiguousarray(x)
    raw = _TORCH_OF.get(x.dtype)
    if raw is None:
        t = torch.from_numpy(x.copy())
    else:
        t = torch.from_numpy(x.view(raw[0]).copy()).view(raw[1])
    return t.to(device)


def to_numpy(t):
    """float64 values of a tensor (any float dtype) or int arrays as they are."""
    t = t.detach().cpu()
    if t.dtype.is_floating_point:
        return t.to(torch.float64).numpy()
    return t.numpy()


def kwargs_to_torch(kwargs, device):
    return {name: to_torch(value, device) for name, value in kwargs.items()}
