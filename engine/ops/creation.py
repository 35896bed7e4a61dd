"""Creation rows (leaves) and conversions: tensor, zeros, ones, full, arange, linspace,
rand/randn (seeded), *_like, and the dtype/copy rows the engine itself uses."""

import warnings

import numpy as np

from .. import backend, dtypes
from ..errors import OpError
from . import movement, table
from .samples import Sample, explicit, rand
from .table import op

_CREATION_KW = "*, ScalarType? dtype=None, Device? device=None, bool requires_grad=False"


def _np(dtype, default=None):
    d = dtypes.as_dtype(dtype)
    if d is None:
        return default
    return d.np


def nested_shape(data) -> tuple:
    """Shape of nested lists, with torch's error for ragged ones (iterative)."""
    shape = []
    level = [data]
    while level and isinstance(level[0], (list, tuple)):
        n = len(level[0])
        for item in level:
            if not isinstance(item, (list, tuple)) or len(item) != n:
                got = len(item) if isinstance(item, (list, tuple)) else type(item).__name__
                raise OpError(f"expected sequence of length {n} at dim {len(shape)} (got {got})")
        shape.append(n)
        level = [x for item in level for x in item]
        if n == 0:
            break
    for x in level:
        if isinstance(x, (list, tuple)):
            raise OpError(f"expected sequence of length 0 at dim {len(shape)}")
    return tuple(shape)


def _infer_dtype(flat) -> np.dtype:
    if not flat:
        return dtypes.default_float.np
    if all(isinstance(x, bool) for x in flat):
        return np.bool_
    if all(isinstance(x, (bool, int)) for x in flat):
        return np.int64
    return dtypes.default_float.np


def _copy_to(arr, dtype, xp):
    """A copy of ``arr`` in ``dtype`` (None: its own) on ``xp``'s device, its dimension
    order kept (torch.tensor keeps a NumPy array's strides, and .to() keeps them)."""
    dtype = _np(dtype, arr.dtype)
    if backend.module_of(arr) is xp:
        return xp.array(arr, dtype=dtype, copy=True)
    return backend.to_device(arr.astype(dtype, copy=False), "cpu" if xp is np else "cuda")


def from_nested(data):
    """Nested lists that may hold Tensors (torch.tensor accepts them) -> nested lists,
    iteratively (user-sized nesting never recurses)."""
    root = [data]
    stack = [(root, 0)]
    while stack:
        container, i = stack.pop()
        item = container[i]
        if isinstance(item, table._Tensor):
            container[i] = item.tolist()
        elif isinstance(item, (list, tuple)):
            item = container[i] = list(item)
            stack.extend((item, k) for k in range(len(item)))
    return root[0]


def _tensor(data, dtype=None, device=None, requires_grad=False):
    xp = backend.module_for(device or "cpu")
    if isinstance(data, table._Tensor):  # no device given: the data's own, as torch.tensor's
        return _copy_to(data.array, dtype, xp if device else backend.module_of(data.array))
    if hasattr(data, "dtype") and hasattr(data, "shape"):  # an array
        return _copy_to(backend.to_numpy(data), dtype, xp)
    if isinstance(data, (list, tuple)):
        data = from_nested(data)
        nested_shape(data)
        flat = np.ravel(np.array(data, dtype=object)).tolist() if data else []
    else:
        flat = [data]
    for x in flat:
        if not isinstance(x, (bool, int, float)):
            raise OpError(f"Could not infer dtype of {type(x).__name__}")
    return xp.asarray(np.array(data, dtype=_np(dtype, _infer_dtype(flat))))


def _tensor_shape(data, dtype=None, device=None, requires_grad=False):
    if hasattr(data, "shape"):
        return tuple(data.shape)
    return nested_shape(data) if isinstance(data, (list, tuple)) else ()


op(f"tensor(Any data, {_CREATION_KW}) -> Tensor", None, creation=True, method=False,
   forward=_tensor, shape=_tensor_shape)


def _size(size):
    size = (size,) if isinstance(size, int) else tuple(size)
    for s in size:
        if s < 0:
            raise OpError(f"Trying to create tensor with negative dimension {s}: "
                          f"[{', '.join(map(str, size))}]")
    return size


def _filled(fill):
    def forward(size, dtype=None, device=None, requires_grad=False):
        xp = backend.module_for(device or "cpu")
        return xp.full(_size(size), fill, dtype=_np(dtype, dtypes.default_float.np))
    return forward


op(f"zeros(int[] size, {_CREATION_KW}) -> Tensor", None, creation=True, method=False, varargs=True,
   forward=_filled(0), shape=lambda size, *a: _size(size))
op(f"ones(int[] size, {_CREATION_KW}) -> Tensor", None, creation=True, method=False, varargs=True,
   forward=_filled(1), shape=lambda size, *a: _size(size))
op(f"empty(int[] size, {_CREATION_KW}) -> Tensor", None, creation=True, method=False, varargs=True,
   forward=_filled(0), shape=lambda size, *a: _size(size))


def _empty_strided(size, stride, dtype=None, device=None, requires_grad=False):
    """torch.empty_strided: an array with these strides (in elements) over a buffer just
    large enough for them (zeros here, torch leaves it uninitialized)."""
    size, stride = _size(size), tuple(stride)
    if len(size) != len(stride):
        raise OpError(f"dimensionality of sizes ({len(size)}) must match dimensionality of "
                      f"strides ({len(stride)})")
    if any(s < 0 for s in stride):
        raise OpError(f"Storage size calculation overflowed with sizes={list(size)} and "
                      f"strides={list(stride)}")
    np_dtype = np.dtype(_np(dtype, dtypes.default_float.np))
    xp = backend.module_for(device or "cpu")
    return xp.lib.stride_tricks.as_strided(
        xp.zeros(_storage_size(size, stride), dtype=np_dtype), size,
        tuple(s * np_dtype.itemsize for s in stride))


def _storage_size(size, stride) -> int:
    """Elements a buffer needs for these sizes and strides (torch's storage size)."""
    return 1 + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0


def _empty_strided_extra(size, stride, *rest) -> int:
    """The buffer beyond the output's elements: a large stride over a small size is a large
    buffer (NOTE [allocation guard])."""
    size = _size(size)
    return max(_storage_size(size, tuple(stride)) - int(np.prod(size, dtype=object)), 0)


op(f"empty_strided(int[] size, int[] stride, {_CREATION_KW}) -> Tensor", None, creation=True,
   method=False, forward=_empty_strided, shape=lambda size, stride, *a: _size(size),
   extra=_empty_strided_extra)


def _full(size, fill_value, dtype=None, device=None, requires_grad=False):
    xp = backend.module_for(device or "cpu")
    default = (np.bool_ if isinstance(fill_value, bool) else np.int64
               if isinstance(fill_value, int) else dtypes.default_float.np)
    return xp.full(_size(size), fill_value, dtype=_np(dtype, default))


op(f"full(int[] size, Scalar fill_value, {_CREATION_KW}) -> Tensor", None, creation=True,
   method=False, forward=_full, shape=lambda size, *a: _size(size))


def like(input, fill, dtype=None, memory_format=None):
    """torch's *_like: ``input``'s shape filled with ``fill``, laid out as ``memory_format``
    says (preserve_format, the default: the input's dimension order, its strides where it
    is dense)."""
    np_dtype = _np(dtype, input.dtype)
    if memory_format is None:  # (the common case, a VJP's zeros_like(grad))
        return backend.module_of(input).full_like(input, fill, dtype=np_dtype)
    out = movement.layout_empty(input, np_dtype, movement.memory_format_name(
        memory_format, input.ndim))
    out[...] = fill
    return out


_LIKE_KW = f"{_CREATION_KW}, MemoryFormat? memory_format=None"


def _like(fill):
    def forward(input, dtype=None, device=None, requires_grad=False, memory_format=None):
        return like(input, fill, dtype, memory_format)
    return forward


for _name, _fill in [("zeros_like", 0), ("ones_like", 1), ("empty_like", 0)]:
    op(f"{_name}(Tensor input, {_LIKE_KW}) -> Tensor", None, creation=True, method=False,
       forward=_like(_fill), shape=lambda input, *a: input)


def _full_like(input, fill_value, dtype=None, device=None, requires_grad=False,
               memory_format=None):
    return like(input, fill_value, dtype, memory_format)


op(f"full_like(Tensor input, Scalar fill_value, {_LIKE_KW}) -> Tensor", None,
   creation=True, method=False, forward=_full_like, shape=lambda input, *a: input)


# Tensor.new_zeros/new_ones/new_empty/new_full/new_tensor: in self's dtype and on its device
# unless told otherwise; self is only a template (no graph edge to it)
def _new_filled(fill):
    def forward(self, size, dtype=None, device=None, requires_grad=False):
        xp = backend.module_for(device) if device else backend.module_of(self)
        return xp.full(_size(size), fill, dtype=_np(dtype, self.dtype))
    return forward


for _name, _fill in [("new_zeros", 0), ("new_ones", 1), ("new_empty", 0)]:
    op(f"{_name}(Tensor self, int[] size, {_CREATION_KW}) -> Tensor", None, creation=True,
       varargs=True, forward=_new_filled(_fill), shape=lambda self, size, *a: _size(size))


def _new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    xp = backend.module_for(device) if device else backend.module_of(self)
    return xp.full(_size(size), fill_value, dtype=_np(dtype, self.dtype))


op(f"new_full(Tensor self, int[] size, Scalar fill_value, {_CREATION_KW}) -> Tensor", None,
   creation=True, forward=_new_full, shape=lambda self, size, *a: _size(size))


def _warn_tensor_data(self, data, *rest):
    """(check: sees the arguments before the forward turns Tensors into arrays)"""
    if isinstance(data, table._Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use "
                      "sourceTensor.detach().clone() or sourceTensor.detach().clone()"
                      ".requires_grad_(True), rather than tensor.new_tensor(sourceTensor).",
                      UserWarning, stacklevel=5)


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    return _tensor(data, _np(dtype, self.dtype),
                   device or backend.device_of(self), requires_grad)


op(f"new_tensor(Tensor self, Any data, {_CREATION_KW}) -> Tensor", None, creation=True,
   forward=_new_tensor, check=_warn_tensor_data,
   shape=lambda self, data, *a: _tensor_shape(data))


def _arange_args(start, end, step):
    if end is None:
        start, end = 0, start
    if step == 0:
        raise OpError("step must be nonzero")
    n = int(np.ceil((end - start) / step))
    if n < 0:
        raise OpError("upper bound and larger bound inconsistent with step sign")
    return start, end, step, n


def _arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    start, end, step, n = _arange_args(start, end, step)
    xp = backend.module_for(device or "cpu")
    default = np.int64 if all(isinstance(v, int) for v in (start, end, step)) else (
        dtypes.default_float.np)
    return xp.arange(n, dtype=np.float64) * step + start if _np(dtype, default) != np.int64 \
        else xp.arange(start, end, step, dtype=np.int64)


def _arange_typed(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    out = _arange(start, end, step, dtype, device, requires_grad)
    default = np.int64 if all(isinstance(v, int) for v in (start, end, step)) else (
        dtypes.default_float.np)
    return out.astype(_np(dtype, default))


op(f"arange(Scalar start, Scalar? end=None, Scalar step=1, {_CREATION_KW}) -> Tensor", None,
   creation=True, method=False, forward=_arange_typed,
   shape=lambda start, end=None, step=1, *a: (_arange_args(start, end, step)[3],))


def _linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    if steps < 0:
        raise OpError("number of steps must be non-negative")
    xp = backend.module_for(device or "cpu")
    np_dtype = _np(dtype, dtypes.default_float.np)
    if steps < 2 or np.dtype(np_dtype) != np.float32:
        return xp.linspace(start, end, steps).astype(np_dtype)
    # torch's CPU kernel: a float32 step, start + step*i for the first half and
    # end - step*(steps-1-i) for the rest, each one fused multiply-add (one rounding,
    # emulated in float64), so the values match torch bit for bit.
    s, e = np.float32(start), np.float32(end)
    step = np.float64((e - s) / np.float32(steps - 1))
    i = np.arange(steps)
    out = np.where(i < steps // 2, np.float64(s) + step * i,
                   np.float64(e) - step * (steps - 1 - i)).astype(np.float32)
    return xp.asarray(out)


op(f"linspace(Scalar start, Scalar end, int steps, {_CREATION_KW}) -> Tensor", None,
   creation=True, method=False, forward=_linspace, shape=lambda start, end, steps, *a: (steps,))


# torch's default generator: rand/randn/uniform_/normal_ without a seed draw from it, and
# manual_seed replaces it, so a seeded program draws the same numbers each run
_default_generator = [np.random.default_rng()]


def default_generator() -> np.random.Generator:
    return _default_generator[0]


def manual_seed(seed: int) -> None:
    _default_generator[0] = np.random.default_rng(seed)


def _random(kind):
    def forward(size, seed=None, dtype=None, device=None, requires_grad=False):
        rng = default_generator() if seed is None else np.random.default_rng(seed)
        size = _size(size)
        arr = rng.random(size) if kind == "rand" else rng.standard_normal(size)
        arr = arr.astype(_np(dtype, dtypes.default_float.np))
        return backend.module_for(device or "cpu").asarray(arr)
    return forward


for _name in ("rand", "randn"):
    op(f"{_name}(int[] size, *, int? seed=None, ScalarType? dtype=None, Device? device=None, "
       "bool requires_grad=False) -> Tensor", None, creation=True, method=False, varargs=True,
       forward=_random(_name), shape=lambda size, *a: _size(size))

# -- conversions the engine uses ------------------------------------------------------------

op("to_dtype(Tensor input, ScalarType dtype) -> Tensor", "ToCopyBackward0", method=False,
   jvp="linear",
   forward=lambda input, dtype: input.astype(dtypes.as_dtype(dtype).np),
   vjp={"input": lambda grad, input_dtype: grad.astype(input_dtype.np)
        if not hasattr(grad, "requires_grad") else grad.to(input_dtype)},
   dtype="none", shape=lambda input, dtype: input,
   samples=explicit(lambda r: Sample((rand(r, 3), "float64"))),
   torch=lambda torch, input, dtype: input.to(getattr(torch, dtype)))

op("to_device(Tensor input, Device device) -> Tensor", "ToCopyBackward0", method=False,
   jvp="linear",
   forward=lambda input, device: backend.to_device(input, device),
   vjp={"input": lambda grad, input: grad.to(device=input.device) if hasattr(
       grad, "requires_grad") else backend.to_device(grad, backend.device_of(input))},
   dtype="none", shape=lambda input, device: input)

def _copy(self, src):
    """src's values in self's dtype, broadcast to self's shape and laid out as self is
    (where self is dense: numpy's empty_like keeps its strides)."""
    out = backend.module_of(self).empty_like(self)
    out[...] = src
    return out


op("copy(Tensor self, Tensor src) -> Tensor", "torch::autograd::CopyBackwards", method=False,
   jvp="linear",
   forward=_copy,
   vjp={"self": lambda grad: grad * 0, "src": lambda grad: grad},
   dtype="none", shape=lambda self, src: self)
