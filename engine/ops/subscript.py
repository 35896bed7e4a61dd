"""x[index] and x[index] = v, as torch's Python indexing turns them into ops; the in-place
writes that replace values (zero_, fill_, uniform_, normal_) and the as_strided view of a
changed base."""

import operator

import numpy as np

from ..backend import ARRAY_TYPES, module_of
from ..errors import IndexOpError, IndexTypeError, OpError
from . import table
from .creation import default_generator, from_nested
from .indexing import INT64_MAX, index_tensor_shape, like_device, slice_shape
from .samples import Sample, explicit, rand
from .sizes import numel, shape_text
from .table import F, normalize_dim, op

# --------------------------------------------------------------------------- x[index]
# torch/csrc/autograd/python_variable_indexing.cpp: a few single objects are handled
# directly; anything else is wrapped in a tuple and applied item by item (applySlicing:
# select, slice, unsqueeze), then the recorded index tensors go to aten::index at once.

BAD_INDEX = ("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
              "are valid indices (got {})")


def is_int_index(obj) -> bool:
    return isinstance(obj, (int, np.integer)) and not isinstance(obj, (bool, np.bool_))


def tensor_array(obj):
    """The array behind a Tensor or array index, else None."""
    if table._Tensor is not None and isinstance(obj, table._Tensor):
        return obj.array
    if isinstance(obj, ARRAY_TYPES) and not isinstance(obj, np.generic):
        return obj
    return None


def _is_mask(arr) -> bool:
    return arr.dtype.kind == "b" or arr.dtype == np.uint8


def sequence_index(seq):
    """A list used as one index -> an array, as torch's indexing_tensor_from_data: bools stay
    a mask, numbers become int64."""
    try:
        arr = np.array(from_nested(seq))
    except ValueError:
        raise IndexOpError("an index list must not be ragged") from None
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind not in "iuf":
        raise IndexOpError(BAD_INDEX.format(type(seq).__name__))
    return arr.astype(np.int64)


def _index_items(index) -> tuple:
    """torch's treatSequenceAsTuple: a short list holding a sequence, slice, None, Ellipsis or
    tensor is a tuple of indices; any other list is one index."""
    if isinstance(index, tuple):
        return index
    return tuple(index) if list_is_tuple(index) else (index,)


def list_is_tuple(index) -> bool:
    return isinstance(index, list) and len(index) < 32 and any(
        o is None or o is Ellipsis or isinstance(o, (list, tuple, slice, str))
        or tensor_array(o) is not None for o in index)


def _unpack_slice(s) -> tuple:
    """Python's slice unpacking (ints or __index__, step not 0), then torch's step > 0."""
    vals = []
    for v in (s.start, s.stop, s.step):
        if v is None:
            vals.append(None)
            continue
        try:
            vals.append(operator.index(v))
        except TypeError:
            raise IndexTypeError("slice indices must be integers or None or have an __index__ "
                                 "method") from None
    start, stop, step = vals
    if step == 0:
        raise OpError("slice step cannot be zero")
    step = 1 if step is None else step
    if step < 0:
        raise OpError("step must be greater than zero")
    return 0 if start is None else start, INT64_MAX if stop is None else stop, step


def _specified_dims(items) -> int:
    n = 0
    for o in items:
        arr = tensor_array(o)
        if arr is not None:
            n += arr.ndim if _is_mask(arr) else 1
        elif not (o is None or o is Ellipsis or isinstance(o, (bool, np.bool_))):
            n += 1
    return n


def _check_select(shape, dim, i, real_dim):
    if i == 0 and dim == 0 and not shape:
        raise IndexOpError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                           "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
    size = shape[dim] if shape else 0
    if not (-size <= i < size):
        raise IndexOpError(f"index {i} is out of bounds for dimension {real_dim} with size "
                           f"{size}")


def index_plan(shape, index) -> tuple[list, tuple]:
    """The steps torch takes for ``x[index]`` on a tensor of ``shape``, and the result shape.

    Steps: ("select", dim, i), ("slice", dim, start, stop, step), ("unsqueeze", dim),
    ("alias",), ("index", arrays, dims). Shapes only, except that masks are expanded to
    integer indices (as torch does), so ``x[mask]``'s size is known before any gather.
    """
    shape = list(shape)
    ndim = len(shape)
    if is_int_index(index):  # x[i]: select, with the 0-dim texts
        i = int(index)
        _check_select(shape, 0, i, 0)
        return [("select", 0, i)], tuple(shape[1:])
    if isinstance(index, slice):  # x[a:b]: always a slice node, even for x[:]
        if not shape:
            raise IndexOpError("slice() cannot be applied to a 0-dim tensor.")
        start, stop, step = _unpack_slice(index)
        return [("slice", 0, start, stop, step)], slice_shape(shape, 0, start, stop, step)
    items = _index_items(index)
    specified = _specified_dims(items)
    if specified > ndim:
        raise IndexOpError(f"too many indices for tensor of dimension {ndim}")
    steps, recorded, dim = [], [], 0
    for pos, obj in enumerate(items):
        arr = tensor_array(obj)
        if arr is None and isinstance(obj, (list, tuple)):
            arr = sequence_index(obj)
        if isinstance(obj, str):
            raise IndexTypeError("new(): invalid data type 'str'")
        if is_int_index(obj) or (arr is not None and arr.ndim == 0 and not _is_mask(arr)
                                  and arr.dtype.kind in "iu"):
            i = int(obj) if arr is None else int(arr)
            if dim >= len(shape):  # past the end (two Ellipses): torch reads a size of 0
                raise IndexOpError(f"index {i} is out of bounds for dimension {pos} with size 0")
            _check_select(shape, dim, i, pos)
            steps.append(("select", dim, i))
            del shape[dim]
        elif isinstance(obj, slice):
            start, stop, step = _unpack_slice(obj)
            size = shape[dim] if dim < len(shape) else 0  # past the end: torch reads 0
            if not (start == 0 and step == 1 and stop >= size):  # a full slice is skipped
                normalize_dim(dim, len(shape))
                shape = list(slice_shape(shape, dim, start, stop, step))
                steps.append(("slice", dim, start, stop, step))
            dim += 1
        elif obj is None:
            normalize_dim(dim, len(shape) + 1)  # unsqueeze's own check, in torch's order
            steps.append(("unsqueeze", dim))
            shape.insert(dim, 1)
            dim += 1
        elif obj is Ellipsis:
            dim += ndim - specified
        elif isinstance(obj, (bool, np.bool_)) or (arr is not None and arr.ndim == 0
                                                   and _is_mask(arr)):
            # a boolean adds a dim of size 1, kept (True) or emptied (False) by aten::index
            normalize_dim(dim, len(shape) + 1)
            steps.append(("unsqueeze", dim))
            shape.insert(dim, 1)
            recorded.append((dim, np.zeros(1 if bool(obj if arr is None else arr) else 0,
                                           dtype=np.int64)))
            dim += 1
        elif arr is not None:
            recorded.append((dim, arr))
            dim += arr.ndim if _is_mask(arr) else 1
        else:
            raise IndexOpError(BAD_INDEX.format(type(obj).__name__))
    if not recorded:
        return steps or [("alias",)], tuple(shape)
    step = _expand_indices(shape, recorded)
    return steps + [step], index_tensor_shape(shape, [a.shape for a in step[1]], step[2])


def _expand_indices(shape, recorded) -> tuple:
    """aten::index's checks (how many, types), then expandTensors: each mask -> its
    nonzero() indices."""
    listed = recorded[-1][0] + 1  # torch's list of indices runs to the last one recorded
    if listed > len(shape):
        raise IndexOpError(f"too many indices for tensor of dimension {len(shape)} (got "
                           f"{listed})")
    for _, arr in recorded:
        if arr.dtype.kind not in "iub":
            raise IndexOpError("tensors used as indices must be long, int, byte or bool tensors")
    arrays, dims = [], []
    for d, arr in recorded:
        if not _is_mask(arr):
            arrays.append(arr)
            dims.append(d)
            continue
        mask = arr.astype(bool)
        for j, n in enumerate(mask.shape):
            if d + j >= len(shape) or n != shape[d + j]:
                raise IndexOpError(f"The shape of the mask {shape_text(mask.shape)} at index {j} "
                                   f"does not match the shape of the indexed tensor "
                                   f"{shape_text(shape)} at index {d + j}")
        arrays.extend(np.nonzero(mask))
        dims.extend(range(d, d + mask.ndim))
    return ("index", arrays, tuple(dims))


def _index(input, indices):
    _Tensor = table._Tensor
    steps, _ = index_plan(tuple(input.shape), indices)
    out = input
    for kind, *args in steps:
        if kind == "select":
            out = F.select(out, *args)
        elif kind == "slice":
            out = F.slice(out, *args)
        elif kind == "unsqueeze":
            out = F.unsqueeze(out, *args)
        elif kind == "alias":
            out = F.alias(out)
        else:
            arrays, dims = args
            tensor = isinstance(out, _Tensor)
            like = out.array if tensor else out
            arrays = [like_device(a, like) for a in arrays]
            if tensor:
                arrays = [_Tensor._make(a) for a in arrays]
            out = F._index_tensor(out, arrays, dims)
    return out


def _torch_index(torch, index):
    """The same index for torch: arrays inside tuples/lists become torch tensors."""
    if isinstance(index, tuple):
        return tuple(_torch_index(torch, i) for i in index)
    if isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    return index


def _index_sample(index, shape=(3, 4, 5)):
    return lambda r: Sample((rand(r, *shape), index))


op("index(Tensor input, Any indices) -> Tensor", None, composite=True, method=False,
   forward=_index, shape=lambda input, indices: index_plan(input, indices)[1],
   samples=explicit(*[
       _index_sample(*k) for k in [
           (0,), (-1,), (slice(1, None),), (slice(None),), (slice(None, None, 2),),
           ((slice(None), 1),), (None,), ((Ellipsis, 0),), ([0, 2],),
           (np.array([True, False, True]),), ((0, slice(1, None)),), ((0, 1, 2),),
           ((slice(1, None), None, 0),), (Ellipsis,), ((),), ((None, Ellipsis, None),),
           ((slice(None), [0, 2]),), (([0, 1], [1, 2]),), (([0, 1], slice(None), [1, 2]),),
           ((0, [1, 2]),), ([0, 0, 1],), (np.array([[0, 1], [2, 0]]),),
           ((slice(1, 3), [0, 1]),), (True,), ((None, False),),
           (np.ones((3, 4), dtype=bool) & (np.arange(4) % 2 == 0),),
           (([0, 1], slice(1, 3), [2, 3]),), ((np.array([True, False, True]), 0),),
           ((slice(None), np.array([True, False, True, True])),), (slice(-2, None),),
           (slice(-10, 10),), ((slice(0, 3), 1),), ((slice(-3, None), 1),),
           (([[0, 1], [1, 2]], 0),), ((Ellipsis, [True, False, True, True, False]),),
           ((0, Ellipsis, None),), (([0, 1], None, [1, 2]),),
           (None, ()), (Ellipsis, ()), (np.array(True), ()), (slice(1, 2), (3,)),
       ]]),
   torch=lambda torch, input, indices: input[_torch_index(torch, indices)])


# --------------------------------------------------------------------------- x[index] = v
# torch runs ``x[index].copy_(v)``: an in-place copy into a view, which gives x the node
# CopySlices (next_functions: x's old node, then v's). Here the same happens out of place
# and Tensor.__setitem__ writes the result back (bumping the version counter). Which
# elements are written is asked of the engine's own indexing, so every index form torch
# accepts selects the same elements.

def _copy_slices(self, indices, value):
    xp = module_of(self)
    positions = _index(xp.arange(self.size).reshape(self.shape), indices)
    values = F.expand(xp.asarray(value, dtype=self.dtype), tuple(positions.shape))
    out = self.copy()
    out.reshape(-1)[xp.asarray(positions).reshape(-1)] = values.reshape(-1)
    return out


# The gradients as torch computes them: for self, the row itself with zeros at the indices
# (CopySlices, IndexPutBackward0); for value, CopySlices hands on a clone of the grad's
# slice, index_put_ the indexed grad. ``result`` is saved only to be freed: torch's
# CopySlices drops its function and IndexPutBackward0 its indices after a backward, so a
# second one raises.
_SETITEM_VJPS = {
    "copy_slices": {"self": lambda grad, indices, result: F.copy_slices(grad, indices, 0.0),
                    "value": lambda grad, indices, result: F.clone(F.index(grad, indices))},
    "_index_put_value": {
        "self": lambda grad, indices, result: F._index_put_value(grad, indices, 0.0),
        "value": lambda grad, indices, result: F.index(grad, indices)},
}
for _name, _grad_fn in (("copy_slices", "torch::autograd::CopySlices"),
                        ("_index_put_value", "IndexPutBackward0")):
    op(f"{_name}(Tensor self, Any indices, Tensor value) -> Tensor", _grad_fn,
       jvp="linear", numbers=("value",),  # x[i] = 2.0: the engine's own row (setitem)
       method=False, forward=_copy_slices, dtype="none", vjp=_SETITEM_VJPS[_name],
       shape=lambda self, indices, value: self)


def _copy_into(self, positions, value):
    """``self`` with the elements at flat ``positions`` replaced by ``value`` (broadcast):
    an in-place op on a view, written into its base."""
    xp = module_of(self)
    values = F.expand(xp.asarray(value, dtype=self.dtype), tuple(positions.shape))
    out = self.copy()
    out.reshape(-1)[xp.asarray(positions).reshape(-1)] = values.reshape(-1)
    return out


op("_copy_into(Tensor self, Any positions, Tensor value) -> Tensor",
   "torch::autograd::CopySlices", method=False, forward=_copy_into, dtype="none",
   jvp="linear",
   vjp={"self": lambda grad, positions, result: F._copy_into(grad, positions, 0.0),
        "value": lambda grad, positions, result: F.index(F.reshape(grad, (-1,)), positions)},
   shape=lambda self, positions, value: self)


# A view made before an in-place change of its base gets AsStridedBackward0 (engine/views.py
# records it on the existing view, so the forward runs only when the row is called itself):
# the elements of ``self`` at flat ``positions``; its gradient is torch's
# as_strided_backward, each element's gradient summed into its place (expanded views repeat
# positions).

def _as_strided_grad(grad, self_shape, positions):
    index = positions.reshape(-1)
    if isinstance(grad, table._Tensor):
        index = table._Tensor._make(index)
    flat = F._index_backward(F.reshape(grad, (-1,)), (numel(self_shape),), [index], (0,))
    return F.reshape(flat, tuple(self_shape))


op("_as_strided_view(Tensor self, Any positions) -> Tensor", "AsStridedBackward0",
   method=False, dtype="none", jvp="linear",
   forward=lambda self, positions: self.reshape(-1)[positions],
   vjp={"self": _as_strided_grad},
   shape=lambda self, positions: tuple(positions.shape))


# In-place writes that replace values regardless of the old ones: the node passes zeros
# to the old history (torch's ZeroBackward0, FillBackward2/3, UniformBackward0,
# NormalBackward0), so a tensor overwritten this way no longer sends gradient back.

def _zero_grad(grad):
    return F.zeros_like(grad)


op("_zero_(Tensor self) -> Tensor", "ZeroBackward0", method=False, dtype="none",
   jvp="linear",
   forward=lambda self: _module(self).zeros_like(self),
   vjp={"self": _zero_grad}, shape=lambda self: self)
op("_fill_.Tensor(Tensor self, Tensor value) -> Tensor", "FillBackward3", method=False,
   jvp="linear",
   dtype="none", forward=lambda self, value: _module(self).full_like(self, value),
   vjp={"self": _zero_grad, "value": lambda grad: F.sum(grad)}, shape=lambda self, value: self)
op("_fill_.Scalar(Tensor self, Scalar value) -> Tensor", "FillBackward2", method=False,
   jvp=lambda self: F.zeros_like(self),
   dtype="none", forward=lambda self, value: _module(self).full_like(self, value),
   vjp={"self": _zero_grad}, shape=lambda self, value: self)
op("_uniform_(Tensor self, float a, float b) -> Tensor", "UniformBackward0", method=False,
   jvp=lambda self: F.zeros_like(self),
   dtype="none", forward=lambda self, a, b: _module(self).asarray(
       default_generator().uniform(a, b, self.shape).astype(self.dtype)),
   vjp={"self": _zero_grad}, shape=lambda self, a, b: self)
op("_normal_(Tensor self, float mean, float std) -> Tensor", "NormalBackward0", method=False,
   jvp=lambda self: F.zeros_like(self),
   dtype="none", forward=lambda self, mean, std: _module(self).asarray(
       default_generator().normal(mean, std, self.shape).astype(self.dtype)),
   vjp={"self": _zero_grad}, shape=lambda self, mean, std: self)


def _module(array):
    return module_of(array)


def _setitem(self, indices, value):
    """Index tensors alone go straight to index_put_ (IndexPutBackward0); anything that
    first takes a view (select, slice, None, ...) copies into it (CopySlices)."""
    steps, _ = index_plan(tuple(self.shape), indices)
    if len(steps) == 1 and steps[0][0] == "index":
        return F._index_put_value(self, indices, value)
    return F.copy_slices(self, indices, value)


op("setitem(Tensor self, Any indices, Tensor value) -> Tensor", None, composite=True,
   numbers=("value",),  # x[i] = 2.0, as torch's __setitem__ takes
   method=False, forward=_setitem, shape=lambda self, indices, value: self)


