"""repr(Tensor) exactly as torch 2.13 prints it (torch/_tensor_str.py, default options).

The rules, in torch's words and order:
- one formatter for the whole tensor (of the summarized data when it is summarized): ints
  and bools print as Python does; floats whose non-zero finite values are all integers
  print as ``1.`` ("int mode"); otherwise 4-decimal fixed point, or ``1.0000e+08``
  scientific when max/min > 1000, max > 1e8 or (not int mode) min < 1e-4 over the
  non-zero finite magnitudes;
- every element is right-aligned to the widest formatted non-zero finite value;
- 1-d rows wrap at 80 columns; a tensor of more than 1000 elements shows the first and
  last 3 entries of each dimension around ``...``;
- suffixes: ``device=``, ``dtype=`` for non-default dtypes (float32, int64 and bool are
  the defaults; an empty tensor always shows a non-float32 dtype and a shape that is not
  (0,)), then ``grad_fn=<Name>`` or ``requires_grad=True``, moved onto a new line when
  the current one would pass 80 columns; ``grad_fn=<Invalid>`` for a view whose history
  torch refuses to rebuild; ``tangent=...`` last, for a dual tensor.
"""

from __future__ import annotations

import math

import numpy as np

from . import backend
from .errors import GradientError

tangent_of = None  # a dual tensor's tangent at the current level: set by engine.forward_ad

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80


class _Formatter:
    """torch's _Formatter: decides int/fixed/scientific mode and the column width."""

    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = values.reshape(-1)
        if not self.floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(str(v)))
            return
        vals = flat[np.isfinite(flat) & (flat != 0)]
        if vals.size == 0:
            return
        mags = np.abs(vals).astype(np.float64)
        lo, hi = mags.min(), mags.max()
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        as_py = vals.tolist()
        if self.int_mode:
            if hi / lo > 1000.0 or hi > 1.0e8:
                self.sci_mode = True
                self.max_width = max(len(f"{v:.{PRECISION}e}") for v in as_py)
            else:
                self.max_width = max(len(f"{v:.0f}") + 1 for v in as_py)
        elif hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4:
            self.sci_mode = True
            self.max_width = max(len(f"{v:.{PRECISION}e}") for v in as_py)
        else:
            self.max_width = max(len(f"{v:.{PRECISION}f}") for v in as_py)

    def format(self, value) -> str:
        if self.floating:
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{PRECISION}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{value:.{PRECISION}f}"
        else:
            ret = f"{value}"
        return (self.max_width - len(ret)) * " " + ret


def _summarized(arr: np.ndarray) -> np.ndarray:
    """torch's get_summarized_data: the edge items of every dimension (what is shown)."""
    if arr.ndim == 0:
        return arr
    if arr.shape[0] > 2 * EDGEITEMS:
        arr = np.concatenate([arr[:EDGEITEMS], arr[-EDGEITEMS:]])
    if arr.ndim == 1:
        return arr
    return np.stack([_summarized(sub) for sub in arr])


def _vector(arr, indent, summarize, fmt) -> str:
    element_length = fmt.max_width + 2
    per_line = max(1, int(math.floor((LINEWIDTH - indent) / element_length)))
    if summarize and arr.shape[0] > 2 * EDGEITEMS:
        data = ([fmt.format(v) for v in arr[:EDGEITEMS].tolist()] + [" ..."]
                + [fmt.format(v) for v in arr[-EDGEITEMS:].tolist()])
    else:
        data = [fmt.format(v) for v in arr.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _body(arr, indent, summarize, fmt) -> str:
    """Recursion over dimensions only (at most ndim deep), as torch does."""
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.ndim == 1:
        return _vector(arr, indent, summarize, fmt)
    n = arr.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        slices = ([_body(arr[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)]
                  + ["..."]
                  + [_body(arr[i], indent + 1, summarize, fmt) for i in range(n - EDGEITEMS, n)])
    else:
        slices = [_body(arr[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def array_str(arr: np.ndarray, indent: int) -> str:
    """The bracketed contents torch prints for ``arr`` (torch's _tensor_str)."""
    if arr.size == 0:
        return "[]"
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)  # torch formats half as float
    summarize = arr.size > THRESHOLD
    fmt = _Formatter(_summarized(arr) if summarize else arr)
    return _body(arr, indent, summarize, fmt)


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1  # torch's arithmetic, kept as is
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(t) -> str:
    arr = backend.to_numpy(t.array)
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if t.device != "cpu":
        suffixes.append("device='cuda:0'")
    dtype_name = f"torch.{t.dtype.name}"
    if arr.size == 0:
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        if arr.dtype != np.float32:
            suffixes.append(f"dtype={dtype_name}")
        body = "[]"
    else:
        if arr.dtype not in (np.float32, np.int64, np.bool_):
            suffixes.append(f"dtype={dtype_name}")
        body = array_str(arr, indent)
    try:
        grad_fn = t.grad_fn
    except GradientError:  # a view torch refuses a history (engine/views.py): still printable
        suffixes.append("grad_fn=<Invalid>")
    else:
        if grad_fn is not None:
            name = type(grad_fn).__name__
            if name == "CppFunction":  # (torch prints such a node by its own name)
                name = grad_fn.name().rsplit("::", 1)[-1]
            suffixes.append(f"grad_fn=<{name}>")
        elif t.requires_grad:
            suffixes.append("requires_grad=True")
    tangent = tangent_of(t) if tangent_of is not None else None
    if tangent is not None:
        suffixes.append(f"tangent={tensor_repr(tangent)}")
    return _add_suffixes(prefix + body, suffixes, indent)
