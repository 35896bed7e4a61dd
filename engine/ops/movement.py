"""Movement rows: the same elements in another shape or order (view, reshape, expand,
permute, flatten, squeeze, unsqueeze, transpose, t, flip, roll, repeat, tile), padding,
clone and alias."""

import numpy as np

from .. import backend, dtypes
from ..errors import IndexOpError, OpError
from .samples import Sample, explicit, rand
from .sizes import as_size, checked, infer_size, numel, shape_text
from .table import F, contiguous, is_contiguous, normalize_dim, op, shape_of


def _view(input, size):
    size = infer_size(size, input.size)
    if isinstance(input, np.generic):  # NumPy hands 0-d results back as scalars
        input = np.asarray(input)
    out = input.view()
    try:
        out.shape = size  # refuses (AttributeError) exactly when a copy would be needed
    except AttributeError:
        raise OpError("view size is not compatible with input tensor's size and stride (at "
                      "least one dimension spans across two contiguous subspaces). Use "
                      ".reshape(...) instead.") from None
    return out


VIEW_SAMPLES = explicit(lambda r: Sample((rand(r, 2, 3), (3, 2))),
                        lambda r: Sample((rand(r, 2, 3), (-1,))),
                        lambda r: Sample((rand(r, 6), (2, -1))),
                        lambda r: Sample((rand(r, 1), ())))

op("view(Tensor input, int[] size) -> Tensor", "ViewBackward0", varargs=True,
   jvp="linear",
   forward=_view, vjp={"input": lambda grad, input_shape: F.reshape(grad, input_shape)},
   dtype="none", shape=lambda input, size: infer_size(size, numel(input)),
   samples=VIEW_SAMPLES, torch=lambda torch, input, size: input.view(size))


def reshape(input, shape):
    """torch's reshape: a view when the input is contiguous, an alias with new strides
    (_reshape_alias) when its strides allow one, else a copy."""
    if is_contiguous(input):
        return F.view(input, shape)
    if _viewable(input, shape):  # (_reshape_alias takes the sizes, -1 resolved)
        return F._reshape_alias(input, infer_size(shape, numel(shape_of(input))))
    return F._unsafe_view(contiguous(input), shape)


def _viewable(input, shape) -> bool:
    arr = getattr(input, "array", input)
    try:
        _view(arr, shape)
    except OpError:
        return False
    return True


op("reshape(Tensor input, int[] shape) -> Tensor", None, varargs=True, composite=True,
   forward=reshape, shape=lambda input, shape: infer_size(shape, numel(input)),
   samples=VIEW_SAMPLES)

op("_unsafe_view(Tensor input, int[] size) -> Tensor", "UnsafeViewBackward0", method=False,
   jvp="linear",
   forward=lambda input, size: np.reshape(input, infer_size(size, input.size)),
   vjp={"input": lambda grad, input_shape: F.reshape(grad, input_shape)},
   dtype="none", shape=lambda input, size: infer_size(size, numel(input)),
   samples=VIEW_SAMPLES,
   torch=lambda torch, input, size: torch.ops.aten._unsafe_view(input, size))

op("_reshape_alias(Tensor input, int[] size) -> Tensor", "ReshapeAliasBackward0",
   jvp="linear",
   method=False,
   forward=lambda input, size: _view_of(input, size),
   vjp={"input": lambda grad, input_shape: F.reshape(grad, input_shape)},
   dtype="none", shape=lambda input, size: tuple(size),
   samples=explicit(lambda r: Sample((rand(r, 3, 4).T, (1, 4, 3))),
                    lambda r: Sample((rand(r, 4, 3, 2).transpose(0, 2, 1)[:1], (2, 3)))),
   torch=lambda torch, input, size: input.reshape(size))


def _view_of(input, size):
    out = (np.asarray(input) if isinstance(input, np.generic) else input).view()
    out.shape = tuple(size)
    return out


def memory_format_name(memory_format, ndim: int) -> str:
    """The memory format's name, with torch's error where a channels-last format does not
    fit the rank."""
    name = getattr(memory_format, "name", memory_format) or "preserve_format"
    if name not in dtypes.MEMORY_FORMATS:
        raise OpError(f"unknown memory format {name!r}")
    order = dtypes.CHANNELS_LAST_ORDER.get(name)
    if order is not None and ndim != len(order):
        raise OpError(f"required rank {len(order)} tensor to use {name} format")
    return name


def layout_copy(input, name: str):
    """A copy laid out as memory format ``name``: the input's own strides (preserve_format,
    where the input is dense), row-major, or channels-last (the dimensions stored in the
    order N, H, W, C: a row-major array of those, transposed back to NCHW)."""
    xp = backend.module_of(input)
    if name not in dtypes.CHANNELS_LAST_ORDER:
        return xp.array(input, copy=True, order="C" if name == "contiguous_format" else "K")
    out = layout_empty(input, input.dtype, name)
    out[...] = input
    return out


def layout_empty(like, dtype, name: str):
    """An uninitialized array of ``like``'s shape in ``dtype``, laid out as memory format
    ``name``: preserve_format keeps ``like``'s dimension order (its strides where it is
    dense; NumPy's order "K" is torch's rule), else row-major or channels-last."""
    xp = backend.module_of(like)
    order = dtypes.CHANNELS_LAST_ORDER.get(name)
    if order is None:
        return xp.empty_like(like, dtype=dtype, order="K" if name == "preserve_format" else "C")
    out = xp.empty(tuple(like.shape[d] for d in order), dtype=dtype)
    return out.transpose(tuple(order.index(d) for d in range(len(order))))


def is_laid_out(array, name: str) -> bool:
    """torch's is_contiguous(memory_format=name): the strides are the format's, dimensions
    of size 1 aside (preserve_format asks what contiguous_format does)."""
    order = dtypes.CHANNELS_LAST_ORDER.get(name)
    if order is None:
        return bool(array.flags.c_contiguous)
    if array.ndim != len(order):
        return False
    expected = array.itemsize
    for d in reversed(order):
        n = array.shape[d]
        if n != 1:
            if array.strides[d] != expected:
                return False
            expected *= n
    return True


def _clone(input, memory_format=None):
    """A copy: with the input's strides (preserve_format, torch's default for a dense
    tensor), row-major (contiguous_format: what contiguous() asks for), or channels-last."""
    return layout_copy(input, memory_format_name(memory_format, input.ndim))


op("clone(Tensor input, *, MemoryFormat? memory_format=None) -> Tensor", "CloneBackward0",
   jvp="linear",
   forward=_clone, vjp={"input": lambda grad: grad},
   dtype="none", shape=lambda input, memory_format: input,
   samples=explicit(lambda r: Sample((rand(r, 2, 3),)),
                    lambda r: Sample((rand(r, 3, 2).T,), {"memory_format": "contiguous_format"})),
   torch=lambda torch, input, memory_format=None: input.clone(
       memory_format=getattr(torch, memory_format or "preserve_format")))


# x.to(memory_format=...) (with a dtype, or alone): torch's _to_copy, one copy in the new
# dtype laid out as asked; its gradient goes back in the input's dtype
def _to_copy(input, dtype=None, memory_format=None):
    out = layout_copy(input, memory_format_name(memory_format, input.ndim))
    return out if dtype is None else out.astype(dtypes.as_dtype(dtype).np, copy=False)


op("_to_copy(Tensor input, *, ScalarType? dtype=None, MemoryFormat? memory_format=None) "
   "-> Tensor", "ToCopyBackward0", method=False, jvp="linear",
   forward=_to_copy,
   vjp={"input": lambda grad, input_dtype: grad.astype(input_dtype.np)
        if not hasattr(grad, "requires_grad") else grad.to(input_dtype)},
   dtype="none", shape=lambda input, dtype=None, memory_format=None: input,
   samples=explicit(lambda r: Sample((rand(r, 2, 3, 2, 2),), {"memory_format": "channels_last"}),
                    lambda r: Sample((rand(r, 3, 2),), {"dtype": "float64"})),
   torch=lambda torch, input, dtype=None, memory_format=None: input.to(
       dtype=getattr(torch, dtype) if dtype else None,
       memory_format=getattr(torch, memory_format or "preserve_format")))


def _expand_size(shape, size):
    size = as_size(size)
    if len(size) < len(shape):
        raise OpError(f"expand(torch.FloatTensor{{[{', '.join(map(str, shape))}]}}, "
                      f"size=[{', '.join(map(str, size))}]): the number of sizes provided "
                      f"({len(size)}) must be greater or equal to the number of dimensions in "
                      f"the tensor ({len(shape)})")
    lead = len(size) - len(shape)
    out = []
    for i, s in enumerate(size):
        if i < lead:
            if s < 0:
                raise OpError(f"The expanded size of the tensor ({s}) isn't allowed in a "
                              "leading, non-existing dimension 0")
            out.append(s)
            continue
        have = shape[i - lead]
        if s == -1:
            out.append(have)
        elif have == 1 or have == s:
            out.append(s)
        else:
            raise OpError(f"The expanded size of the tensor ({s}) must match the existing size "
                          f"({have}) at non-singleton dimension {i}.  Target sizes: "
                          f"[{', '.join(map(str, size))}].  Tensor sizes: "
                          f"[{', '.join(map(str, shape))}]")
    return tuple(out)


def _broadcast_view(a, shape):
    """np.broadcast_to(a, shape), a read-only view; for a C-contiguous NumPy array made
    directly (broadcast_to's argument handling costs ~1.5 us, and every sum's VJP expands)."""
    if type(a) is not np.ndarray or not a.flags.c_contiguous or not a.size:
        return np.broadcast_to(a, shape)
    lead = len(shape) - a.ndim
    strides = (0,) * lead + tuple(0 if d == 1 and s != 1 else st
                                  for d, s, st in zip(a.shape, shape[lead:], a.strides))
    view = np.ndarray(shape, a.dtype, a, 0, strides)
    view.flags.writeable = False
    return view


op("expand(Tensor input, int[] size, *, bool implicit=False) -> Tensor", "ExpandBackward0", varargs=True,
   jvp="linear",
   forward=lambda input, size, implicit: _broadcast_view(input, _expand_size(input.shape, size)),
   vjp={"input": lambda grad, input_shape: F.sum_to(grad, input_shape)},
   dtype="none", shape=lambda input, size, implicit: _expand_size(input, size),
   samples=explicit(lambda r: Sample((rand(r, 3), (2, 3))),
                    lambda r: Sample((rand(r, 2, 1), (2, 4))),
                    lambda r: Sample((rand(r, 1), (-1,))),
                    lambda r: Sample((rand(r), (3, 2)))),
   torch=lambda torch, input, size, implicit=False: input.expand(size))


def _perm(dims, ndim):
    dims = as_size(dims)
    if len(dims) != ndim:  # before the dims are wrapped (torch's text names sparse_coo)
        raise OpError("permute(sparse_coo): number of dimensions in the tensor input does not "
                      "match the length of the desired ordering of dimensions i.e. input.dim() "
                      f"= {ndim} is not equal to len(dims) = {len(dims)}")
    dims = tuple(normalize_dim(d, ndim) for d in dims)
    if sorted(dims) != list(range(ndim)):
        raise OpError("permute(): duplicate dims are not allowed.")
    return dims


op("permute(Tensor input, int[] dims) -> Tensor", "PermuteBackward0", varargs=True,
   jvp="linear",
   forward=lambda input, dims: np.transpose(input, _perm(dims, input.ndim)),
   vjp={"input": lambda grad, dims, input_shape: F.permute(
       grad, tuple(np.argsort(_perm(dims, len(input_shape))).tolist()))},
   dtype="none",
   shape=lambda input, dims: tuple(input[d] for d in _perm(dims, len(input))),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), (1, 0))),
                    lambda r: Sample((rand(r, 2, 3, 4), (2, 0, 1)))))


def _dims_unique(dims, ndim) -> tuple:
    """Normalized dims in the given order; torch's text for a repeated one."""
    out = []
    for d in dims:
        d = normalize_dim(d, ndim)
        if d in out:
            raise OpError(f"dim {d} appears multiple times in the list of dims")
        out.append(d)
    return tuple(out)


# --------------------------------------------------------------------------- flatten, squeeze

def _flatten_shape(shape, start_dim, end_dim) -> tuple:
    shape = tuple(shape)
    if not shape:
        normalize_dim(start_dim, 0)
        normalize_dim(end_dim, 0)
        return (1,)
    s, e = normalize_dim(start_dim, len(shape)), normalize_dim(end_dim, len(shape))
    if s > e:
        raise OpError("flatten() has invalid args: start_dim cannot come after end_dim")
    return shape[:s] + (numel(shape[s:e + 1]),) + shape[e + 1:]


def _flatten(input, start_dim=0, end_dim=-1):
    size = _flatten_shape(input.shape, start_dim, end_dim)
    if size == tuple(input.shape) and input.ndim > 0:
        return input  # start_dim == end_dim: torch returns self, no node
    return F.reshape(input, size)


op("flatten.using_ints(Tensor input, int start_dim=0, int end_dim=-1) -> Tensor", None,
   composite=True, forward=_flatten, shape=_flatten_shape,
   samples=explicit(lambda r: Sample((rand(r, 2, 3, 4),)),
                    lambda r: Sample((rand(r, 2, 3, 4), 1)),
                    lambda r: Sample((rand(r, 2, 3, 4), 0, -2)),
                    lambda r: Sample((rand(r, 2, 3, 4).transpose(1, 0, 2),)),
                    lambda r: Sample((rand(r),))))  # start == end returns self: test_indexing


def _squeeze_dims_shape(shape, dims) -> tuple:
    dims = _dims_unique(as_size(dims), len(shape)) if shape else tuple(
        normalize_dim(d, 0) for d in as_size(dims))
    return tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))


SQUEEZE_SAMPLES = [lambda r: Sample((rand(r, 2, 1, 3, 1),)), lambda r: Sample((rand(r, 2, 3),)),
                   lambda r: Sample((rand(r, 1),)), lambda r: Sample((rand(r),))]

def _unsqueeze_to(grad, input_shape, dims=None):
    """torch's unsqueeze_to: put back each squeezed size-1 dim with unsqueeze, in order."""
    ndim = len(input_shape)
    dims = range(ndim) if dims is None else {normalize_dim(d, ndim) for d in as_size(dims)} \
        if ndim else ()
    for d in sorted(dims):
        if input_shape[d] == 1:
            grad = F.unsqueeze(grad, d)
    return grad


op("squeeze(Tensor input) -> Tensor", "SqueezeBackward0",
   jvp="linear",
   forward=lambda input: np.reshape(input, tuple(s for s in input.shape if s != 1)),
   vjp={"input": lambda grad, input_shape: _unsqueeze_to(grad, input_shape)},
   dtype="none", shape=lambda input: tuple(s for s in input if s != 1),
   samples=explicit(*SQUEEZE_SAMPLES))

op("squeeze.dim(Tensor input, int dim) -> Tensor", "SqueezeBackward1",
   jvp="linear",
   forward=lambda input, dim: np.reshape(input, _squeeze_dims_shape(input.shape, dim)),
   vjp={"input": lambda grad, input_shape, dim: _unsqueeze_to(grad, input_shape, dim)},
   dtype="none", shape=lambda input, dim: _squeeze_dims_shape(input, dim),
   samples=explicit(lambda r: Sample((rand(r, 2, 1, 3), 1)),
                    lambda r: Sample((rand(r, 2, 1, 3), -1)),
                    lambda r: Sample((rand(r, 2, 3, 1), -1)),
                    lambda r: Sample((rand(r), 0))))

op("squeeze.dims(Tensor input, int[] dim) -> Tensor", "SqueezeBackward2", varargs=True,
   jvp="linear",
   forward=lambda input, dim: np.reshape(input, _squeeze_dims_shape(input.shape, dim)),
   vjp={"input": lambda grad, input_shape, dim: _unsqueeze_to(grad, input_shape, dim)},
   dtype="none", shape=lambda input, dim: _squeeze_dims_shape(input, dim),
   samples=explicit(lambda r: Sample((rand(r, 2, 1, 3, 1), (1, 3))),
                    lambda r: Sample((rand(r, 2, 1, 3, 1), [1, -1, 0])),
                    lambda r: Sample((rand(r, 2, 1, 3, 1), ()))))


def _unsqueeze_shape(shape, dim) -> tuple:
    d = normalize_dim(dim, len(shape) + 1)
    return tuple(shape[:d]) + (1,) + tuple(shape[d:])


op("unsqueeze(Tensor input, int dim) -> Tensor", "UnsqueezeBackward0",
   jvp="linear",
   forward=lambda input, dim: np.reshape(input, _unsqueeze_shape(input.shape, dim)),
   vjp={"input": lambda grad, dim: F.squeeze(grad, dim)},
   dtype="none", shape=_unsqueeze_shape,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), 0)), lambda r: Sample((rand(r, 2, 3), -1)),
                    lambda r: Sample((rand(r, 2, 3), 1)), lambda r: Sample((rand(r), 0))))


# --------------------------------------------------------------------------- transposes

def _transpose_dims(ndim, dim0, dim1) -> list:
    n = max(ndim, 1) if ndim else 0
    order = list(range(ndim))
    d0, d1 = normalize_dim(dim0, n), normalize_dim(dim1, n)
    if ndim:
        order[d0], order[d1] = order[d1], order[d0]
    return order


op("transpose.int(Tensor input, int dim0, int dim1) -> Tensor", "TransposeBackward0",
   jvp="linear",
   forward=lambda input, dim0, dim1: np.transpose(input, _transpose_dims(input.ndim, dim0, dim1)),
   vjp={"input": lambda grad, dim0, dim1: F.transpose(grad, dim0, dim1)},
   dtype="none",
   shape=lambda input, dim0, dim1: tuple(input[d] for d in _transpose_dims(len(input), dim0,
                                                                          dim1)),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), 0, 1)),
                    lambda r: Sample((rand(r, 2, 3, 4), -1, 0)),
                    lambda r: Sample((rand(r, 2, 3), 1, 1)),
                    lambda r: Sample((rand(r), 0, -1))))

op("swapaxes(Tensor input, int axis0, int axis1) -> Tensor", None, composite=True,
   forward=lambda input, axis0, axis1: F.transpose(input, axis0, axis1),
   shape=lambda input, axis0, axis1: tuple(input[d] for d in _transpose_dims(
       len(input), axis0, axis1)),
   samples=explicit(lambda r: Sample((rand(r, 2, 3, 4), 0, 2))))

op("swapdims(Tensor input, int dim0, int dim1) -> Tensor", None, composite=True,
   forward=lambda input, dim0, dim1: F.transpose(input, dim0, dim1),
   shape=lambda input, dim0, dim1: tuple(input[d] for d in _transpose_dims(
       len(input), dim0, dim1)),
   samples=explicit(lambda r: Sample((rand(r, 2, 3, 4), -1, 1))))


def _t_check(ndim):
    if ndim > 2:
        raise OpError(f"t() expects a tensor with <= 2 dimensions, but self is {ndim}D")


def _t(input):
    _t_check(input.ndim)
    return np.transpose(input)


op("t(Tensor input) -> Tensor", "TBackward0",
   jvp="linear",
   forward=_t, vjp={"input": lambda grad: F.t(grad)}, dtype="none",
   shape=lambda input: _t_check(len(input)) or tuple(reversed(input)),
   samples=explicit(lambda r: Sample((rand(r, 2, 3),)), lambda r: Sample((rand(r, 3),)),
                    lambda r: Sample((rand(r),))))

op("broadcast_to(Tensor input, int[] size) -> Tensor", None, composite=True,
   forward=lambda input, size: F.expand(input, size),
   shape=lambda input, size: _expand_size(input, size),
   samples=explicit(lambda r: Sample((rand(r, 3), (2, 3))),
                    lambda r: Sample((rand(r, 2, 1), (3, 2, 4))),
                    lambda r: Sample((rand(r, 2, 1), (-1, 3)))))


# --------------------------------------------------------------------------- flip, roll, repeat

def _flip(input, dims):
    dims = _dims_unique(as_size(dims), max(input.ndim, 1) if input.ndim else 0)
    if input.ndim == 0:
        return input.copy()
    # a copy, as torch's flip: a view would change with the input's later in-place edits
    return np.flip(input, axis=dims).copy() if dims else input.copy()


op("flip(Tensor input, int[] dims) -> Tensor", "FlipBackward0", varargs=True,
   jvp="linear",
   forward=_flip, vjp={"input": lambda grad, dims: F.flip(grad, dims)}, dtype="none",
   shape=lambda input, dims: checked(_dims_unique(as_size(dims), len(input)), tuple(input)),
   samples=explicit(lambda r: Sample((rand(r, 2, 3, 4), (0, 2))),
                    lambda r: Sample((rand(r, 2, 3), [-1])),
                    lambda r: Sample((rand(r, 2, 3), ())),
                    lambda r: Sample((rand(r), (0,)))))


def _roll_args(ndim, shifts, dims) -> tuple:
    shifts, dims = as_size(shifts), as_size(dims)
    if not shifts:
        raise OpError("`shifts` required")
    if not dims and len(shifts) == 1:
        return shifts, None
    if len(shifts) != len(dims):
        raise OpError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:"
                      f"{len(dims)}")
    if ndim == 0:
        raise IndexOpError(f"Dimension specified as {dims[0]} but tensor has no dimensions")
    return shifts, tuple(normalize_dim(d, ndim) for d in dims)


def _roll(input, shifts, dims=()):
    shifts, dims = _roll_args(input.ndim, shifts, dims)
    if dims is None:
        return np.reshape(np.roll(np.reshape(input, (-1,)), shifts[0]), input.shape)
    return np.roll(input, shifts, axis=dims)


op("roll(Tensor input, int[] shifts, int[] dims=[]) -> Tensor", "RollBackward0",
   jvp="linear",
   forward=_roll,
   vjp={"input": lambda grad, shifts, dims: F.roll(grad, tuple(-s for s in as_size(shifts)),
                                                   dims)},
   dtype="none",
   shape=lambda input, shifts, dims: checked(_roll_args(len(input), shifts, dims), tuple(input)),
   samples=explicit(lambda r: Sample((rand(r, 2, 3, 4), 1, 2)),
                    lambda r: Sample((rand(r, 2, 3, 4), (1, -2), (0, -1))),
                    lambda r: Sample((rand(r, 2, 3), 4)),
                    lambda r: Sample((rand(r), 1))))


def _repeat_shape(shape, repeats) -> tuple:
    repeats = as_size(repeats)
    if len(repeats) < len(shape):
        raise OpError("Number of dimensions of repeat dims can not be smaller than number of "
                      "dimensions of tensor")
    padded = (1,) * (len(repeats) - len(shape)) + tuple(shape)
    out = tuple(r * s for r, s in zip(repeats, padded))
    if any(s < 0 for s in out):
        raise OpError(f"Trying to create tensor with negative dimension "
                      f"{next(s for s in out if s < 0)}: {shape_text(out)}")
    return out


def _repeat(input, repeats):
    _repeat_shape(input.shape, repeats)
    repeats = as_size(repeats)
    padded = (1,) * (len(repeats) - input.ndim) + tuple(input.shape)
    return np.tile(np.reshape(input, padded), repeats)


def _repeat_vjp(grad, input_shape, repeats):
    """Each output dim is (repeat, size) interleaved: sum the repeat axes away."""
    repeats = as_size(repeats)
    padded = (1,) * (len(repeats) - len(input_shape)) + tuple(input_shape)
    split = tuple(x for r, s in zip(repeats, padded) for x in (r, s))
    if not split:
        return grad
    summed = F.sum(F.reshape(grad, split), tuple(range(0, len(split), 2)))
    return F.reshape(summed, input_shape)


op("repeat(Tensor input, int[] repeats) -> Tensor", "RepeatBackward0", varargs=True,
   jvp="linear",
   forward=_repeat, vjp={"input": _repeat_vjp}, dtype="none",
   shape=_repeat_shape,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), (2, 1))),
                    lambda r: Sample((rand(r, 2, 3), (2, 1, 3))),
                    lambda r: Sample((rand(r, 3), (0, 2))),
                    lambda r: Sample((rand(r), (2, 3))),
                    lambda r: Sample((rand(r), ()))))


def _tile_dims(ndim, dims) -> tuple:
    dims = as_size(dims)
    return (1,) * (ndim - len(dims)) + dims


op("tile(Tensor input, int[] dims) -> Tensor", None, composite=True, varargs=True,
   forward=lambda input, dims: F.repeat(input, _tile_dims(input.ndim, dims)),
   shape=lambda input, dims: _repeat_shape(input, _tile_dims(len(input), dims)),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), (2,))),
                    lambda r: Sample((rand(r, 2, 3), (2, 1, 2))),
                    lambda r: Sample((rand(r, 2, 3), ()))))


# --------------------------------------------------------------------------- pad

def _pad_shape(shape, pad, aten=False) -> tuple:
    """The padded shape; ``aten``: constant_pad_nd's own wording of a bad pad, not F.pad's."""
    pad = as_size(pad)
    if len(pad) % 2:
        raise OpError(f"Length of pad must be even but instead it equals {len(pad)}" if aten
                      else "Padding length must be divisible by 2")
    if len(pad) // 2 > len(shape):
        raise OpError(
            "Length of pad should be no more than twice the number of dimensions of the "
            f"input. Pad length is {len(pad)}while the input has {len(shape)}dimensions."
            if aten else "Padding length should be less than or equal to two times the input "
            f"dimension but got padding length {len(pad)} and input of dimension {len(shape)}")
    out = list(shape)
    for k in range(len(pad) // 2):  # pairs run from the last dim backwards
        d = len(shape) - 1 - k
        out[d] = shape[d] + pad[2 * k] + pad[2 * k + 1]
        if out[d] < 0 or shape[d] + min(pad[2 * k], 0) + min(pad[2 * k + 1], 0) < 0:
            raise OpError("narrow(): length must be non-negative.")
    return tuple(out)


def _constant_pad_nd(input, pad, value=0):
    _pad_shape(input.shape, pad, aten=True)
    pad = as_size(pad)
    crop, widths = [slice(None)] * input.ndim, [(0, 0)] * input.ndim
    for k in range(len(pad) // 2):
        d = input.ndim - 1 - k
        lo, hi = pad[2 * k], pad[2 * k + 1]
        crop[d] = slice(-lo if lo < 0 else 0, input.shape[d] + hi if hi < 0 else None)
        widths[d] = (max(lo, 0), max(hi, 0))
    fill = np.asarray(value).astype(input.dtype)  # an int tensor pads with int(value)
    if not widths:
        return input.copy()
    return np.pad(input[tuple(crop)], widths, constant_values=fill.item())


op("constant_pad_nd(Tensor input, int[] pad, Scalar value=0) -> Tensor", "ConstantPadNdBackward0",
   jvp=lambda input_t, pad: F.constant_pad_nd(input_t, pad, 0),
   method=False, forward=_constant_pad_nd,
   vjp={"input": lambda grad, pad: F.constant_pad_nd(grad, tuple(-p for p in as_size(pad)))},
   dtype="none", shape=lambda input, pad, value: _pad_shape(input, pad, aten=True),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), (1, 2), 0.5)),
                    lambda r: Sample((rand(r, 2, 3, 4), (1, 0, -1, 2))),
                    lambda r: Sample((rand(r, 3, 4), (-1, -2, 1, 1))),
                    lambda r: Sample((rand(r), ()))))


def _pad(input, pad, mode="constant", value=None):
    if mode != "constant":
        if mode in ("reflect", "replicate", "circular"):
            raise OpError(f"pad(): mode '{mode}' is not supported here; only 'constant' is")
        raise OpError(f"Unrecognised padding mode {mode}")
    _pad_shape(shape_of(input), pad)  # F.pad's own checks, in its words, first
    return F.constant_pad_nd(input, pad, 0 if value is None else value)


op("pad(Tensor input, int[] pad, str mode='constant', float? value=None) -> Tensor", None,
   composite=True, method=False, forward=_pad,
   shape=lambda input, pad, mode, value: _pad_shape(input, pad),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), (1, 2)), {"value": 0.5}),
                    lambda r: Sample((rand(r, 2, 3, 4), (1, 0, -1, 2))),
                    lambda r: Sample((rand(r, 2, 3), (0, 0, 1, 1), "constant", -1.0))))

# unpack_dual's primal (engine/forward_ad.py): a view of the dual whose node torch names
# torch::autograd::Identity, of the generic Python class CppFunction (printed <Identity>)
_fw_primal = op("_fw_primal(Tensor input) -> Tensor", "torch::autograd::Identity",
                method=False, jvp="linear",
                forward=lambda input: input.view() if hasattr(input, "view") else np.asarray(
                    input),
                vjp={"input": lambda grad: grad}, dtype="none", shape=lambda input: tuple(input))
_fw_primal.node_class.__name__ = _fw_primal.node_class.__qualname__ = "CppFunction"

op("alias(Tensor input) -> Tensor", "AliasBackward0", method=False,
   jvp="linear",
   forward=lambda input: input.view() if hasattr(input, "view") else np.asarray(input),
   vjp={"input": lambda grad: grad}, dtype="none", shape=lambda input: tuple(input),
   samples=explicit(lambda r: Sample((rand(r, 2, 3),)), lambda r: Sample((rand(r),))),
   torch="torch.ops.aten.alias")


