"""repr(Tensor) as torch prints it: tensor([1., 2.], requires_grad=True)."""

import numpy as np

from . import backend


def _format_floats(arr):
    finite = arr[np.isfinite(arr)]
    if finite.size and np.all(finite == np.round(finite)):
        if np.abs(finite).max() < 1e8 if finite.size else True:
            return lambda v: _int_like(v)
    if finite.size:
        amax, amin = np.abs(finite).max(), np.abs(finite[finite != 0]).min() if np.any(
            finite != 0) else 0.0
        if amax > 1e8 or (amin and amin < 1e-4) or (amin and amax / amin > 1000.0):
            return lambda v: f"{v:.4e}" if np.isfinite(v) else _special(v)
    return lambda v: f"{v:.4f}" if np.isfinite(v) else _special(v)


def _special(v):
    return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")


def _int_like(v):
    if not np.isfinite(v):
        return _special(v)
    return f"{v:.0f}."


def _render(arr, fmt, indent):
    if arr.ndim == 0:
        return fmt(arr.item())
    if arr.ndim == 1:
        cells = [fmt(v) for v in arr.tolist()]
        width = max((len(c) for c in cells), default=0)
        return "[" + ", ".join(c.rjust(width) for c in cells) + "]"
    # pad every cell to one width, as torch does
    cells = [fmt(v) for v in arr.ravel().tolist()]
    width = max((len(c) for c in cells), default=0)
    padded = np.array([c.rjust(width) for c in cells], dtype=object).reshape(arr.shape)
    return _nest(padded, indent)


def _nest(arr, indent):
    if arr.ndim == 1:
        return "[" + ", ".join(arr.tolist()) + "]"
    sep = "," + "\n" * (arr.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(_nest(sub, indent + 1) for sub in arr) + "]"


def tensor_repr(t) -> str:
    arr = backend.to_numpy(t.array)
    prefix = "tensor("
    if arr.dtype.kind == "f":
        fmt = _format_floats(arr.astype(np.float64))
    elif arr.dtype.kind == "b":
        fmt = lambda v: str(bool(v))
    else:
        fmt = lambda v: str(int(v))
    if arr.size == 0:
        body = "[]"
    else:
        body = _render(arr, fmt, len(prefix))
    extras = []
    if t.device != "cpu":
        extras.append("device='cuda:0'")
    if arr.dtype.kind == "f" and arr.dtype != np.float32 or arr.dtype.kind in "iub" and (
            arr.dtype != np.int64 and arr.dtype != np.bool_):
        extras.append(f"dtype=torch.{t.dtype.name}")
    if arr.size == 0 and arr.dtype == np.int64:
        extras.append("dtype=torch.int64")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{type(t.grad_fn).__name__}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"
