"""Rows that select or test elements: masked_fill, all/any, isin, as_strided."""

import numpy as np

from .. import backend
from ..errors import OpError
from .samples import Const, Sample, explicit, rand
from .table import F, broadcast_shapes, normalize_dim, op


def _check_mask(mask):
    if mask.dtype != np.bool_:
        raise OpError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                      f"{mask.dtype.name.replace('float32', 'float')}")


def _masked_fill(input, mask, value):
    _check_mask(mask)
    if hasattr(value, "ndim") and value.ndim:
        raise OpError("masked_fill_ only supports a 0-dimensional value tensor, but got tensor "
                      f"with {value.ndim} dimension(s).")
    xp = backend.module_of(input)
    return xp.where(mask, value, input).astype(input.dtype)


_MASKS = explicit(lambda r: Sample((rand(r, 2, 3), Const(rand(r, 2, 3) > 0), 0.5)),
                  lambda r: Sample((rand(r, 2, 3), Const(rand(r, 3) > 0), -1.5)))
op("masked_fill.Scalar(Tensor input, Tensor mask, Scalar value) -> Tensor",
   "MaskedFillBackward0", nondiff=("mask",), jvp="elementwise", dtype="none",
   forward=_masked_fill,
   vjp={"input": lambda grad, mask: F.where(mask, 0.0, grad)},
   shape=lambda input, mask, value: broadcast_shapes(input, mask), samples=_MASKS)
op("masked_fill.Tensor(Tensor input, Tensor mask, Tensor value) -> Tensor",
   "MaskedFillBackward1", nondiff=("mask",), dtype="none", forward=_masked_fill,
   jvp=lambda input_t, value_t, mask: F.where(mask, value_t, input_t),
   vjp={"input": lambda grad, mask: F.where(mask, 0.0, grad),
        "value": lambda grad, mask: F.sum(F.where(mask, grad, 0.0))},
   shape=lambda input, mask, value: broadcast_shapes(input, mask),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), Const(rand(r, 2, 3) > 0), rand(r))),
                    lambda r: Sample((rand(r, 2, 3), Const(rand(r, 3) > 0), rand(r)))))


def _truth(fn):
    def forward(input, dim=None, keepdim=False):
        axis = None if dim is None else normalize_dim(dim, max(input.ndim, 1))
        if axis is not None and input.ndim == 0:
            axis = None
        out = fn(input, axis=axis, keepdims=keepdim and input.ndim > 0)
        out = backend.module_of(input).asarray(out)
        return out.astype(np.uint8) if input.dtype == np.uint8 else out
    return forward


def _truth_shape(input, dim=None, keepdim=False):
    if dim is None:
        return ()
    d = normalize_dim(dim, max(len(input), 1))
    if not input:
        return ()
    return tuple(1 if i == d else s for i, s in enumerate(input) if keepdim or i != d)


_TRUTH_SAMPLES = explicit(lambda r: Sample((Const(rand(r, 2, 3) > 0),)),
                          lambda r: Sample((Const(np.array([[1.0, 0.0], [2.0, 3.0]])),)))
_TRUTH_DIM_SAMPLES = explicit(
    lambda r: Sample((Const(np.array([[1.0, 0.0], [2.0, 3.0]])), 1)),
    lambda r: Sample((Const(rand(r, 2, 3) > -5), 0, True)))
for _name, _fn in (("all", np.all), ("any", np.any)):
    op(f"{_name}(Tensor input) -> Tensor", None, dtype="none", forward=_truth(_fn),
       shape=lambda input: (), samples=_TRUTH_SAMPLES)
    op(f"{_name}.dim(Tensor input, int dim, bool keepdim=False) -> Tensor", None,
       dtype="none", forward=_truth(_fn), shape=_truth_shape, samples=_TRUTH_DIM_SAMPLES)


op("isin(Tensor elements, Tensor test_elements, *, bool assume_unique=False, "
   "bool invert=False) -> Tensor", None, method=False,
   numbers=("elements", "test_elements"),  # torch's isin.Scalar_Tensor, isin.Tensor_Scalar
   forward=lambda elements, test_elements, assume_unique=False, invert=False: np.isin(
       elements, test_elements, invert=invert),
   shape=lambda elements, test_elements, *a: elements,
   samples=explicit(lambda r: Sample((Const(np.array([[1.0, 2.0], [3.0, 4.0]])),
                                      Const(np.array([2.0, 3.0])))),
                    lambda r: Sample((Const(np.array([1.0, 2.0, 5.0])),
                                      Const(np.array([5.0]))), {"invert": True})))


def _address(a) -> int:
    return a.__array_interface__["data"][0]


def _strided_positions(input, size, stride, storage_offset):
    """The flat indices into ``input`` of the elements as_strided selects: storage
    positions (offset + sum of index * stride) mapped back onto input's own elements."""
    root = input
    while getattr(root, "base", None) is not None:
        root = root.base
    itemsize = input.itemsize
    start = (_address(input) - _address(root)) // itemsize
    offset = start if storage_offset is None else storage_offset
    storage = root.size
    needed = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0
    if needed > storage:
        raise OpError(f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset "
                      f"{offset}, and itemsize {itemsize} requiring a storage size of "
                      f"{needed * itemsize} are out of bounds for storage of size "
                      f"{storage * itemsize}")
    grid = np.indices(tuple(size)).reshape(len(size), -1) if size else np.zeros((0, 1), int)
    wanted = offset + (np.asarray(stride).reshape(-1, 1) * grid).sum(axis=0)
    mine = start + sum(np.indices(input.shape)[k] * (st // itemsize)
                       for k, st in enumerate(input.strides)).reshape(-1) if input.ndim else (
        np.array([start]))
    where = np.full(storage, -1)
    where[mine] = np.arange(input.size)
    positions = where[wanted]
    if (positions < 0).any():
        raise OpError("as_strided: the view reaches memory outside the input's elements, "
                      "which the engine cannot differentiate")
    return positions.reshape(tuple(size))


op("as_strided(Tensor input, int[] size, int[] stride, int? storage_offset=None) -> Tensor",
   None, composite=True,
   forward=lambda input, size, stride, storage_offset=None: F._as_strided_view(
       input, _strided_positions(getattr(input, "array", input), tuple(size), tuple(stride),
                                 storage_offset)),
   shape=lambda input, size, stride, storage_offset=None: tuple(size),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), [2, 2], [1, 2])),
                    lambda r: Sample((rand(r, 4), [3, 2], [1, 1])),
                    lambda r: Sample((rand(r, 3, 3), [2], [4], 1))))


# x.eq_(y) and the other in-place comparisons: x takes 1.0/0.0 in its own dtype; its node
# (EqBackward0 for a Scalar, EqBackward1 for a Tensor) sends zeros back
_COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
            "gt": np.greater, "ge": np.greater_equal}
for _name, _fn in _COMPARE.items():
    _Name = _name.capitalize()
    op(f"_{_name}_fill.Scalar(Tensor input, Scalar other) -> Tensor", f"{_Name}Backward0",
       method=False, jvp="linear", dtype="none",
       forward=lambda input, other, _fn=_fn: _fn(input, other).astype(input.dtype),
       vjp={"input": lambda grad: F.zeros_like(grad)}, shape=lambda input, other: input)
    op(f"_{_name}_fill.Tensor(Tensor input, Tensor other) -> Tensor", f"{_Name}Backward1",
       method=False, jvp="linear", dtype="none",
       forward=lambda input, other, _fn=_fn: _fn(input, other).astype(input.dtype),
       vjp={"input": lambda grad: F.zeros_like(grad),
            "other": lambda grad, other_shape: F.zeros(other_shape, dtype=grad.dtype)
            if hasattr(grad, "requires_grad") else np.zeros(other_shape, grad.dtype)},
       shape=lambda input, other: input)
