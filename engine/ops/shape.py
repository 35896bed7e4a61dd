"""Shape rows: views, permutations, expansion, joining and splitting, indexing."""

import operator

import numpy as np

from .. import backend
from ..backend import ARRAY_TYPES
from ..errors import IndexOpError, IndexTypeError, OpError  # noqa: F401  (re-exported)
from .creation import default_generator
from .samples import Const, Sample, explicit, rand
from .table import F, broadcast_shapes, contiguous, is_contiguous, normalize_dim, op, shape_of


def as_size(size) -> tuple:
    return (size,) if isinstance(size, int) else tuple(size)


def infer_size(size, numel) -> tuple:
    """Resolve one -1 in a view/reshape size, with torch's error text."""
    size = as_size(size)
    known, infer = 1, None
    for i, s in enumerate(size):
        if s == -1:
            if infer is not None:
                raise OpError("only one dimension can be inferred")
            infer = i
        elif s < 0:
            raise OpError(f"invalid shape dimension {s}")
        else:
            known *= s
    if infer is not None and known != 0 and numel % known == 0:
        return size[:infer] + (numel // known,) + size[infer + 1:]
    if known != numel or infer is not None:
        raise OpError(f"shape '[{', '.join(str(s) for s in size)}]' is invalid for input of "
                      f"size {numel}")
    return size


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


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
   dtype="none", shape=lambda input, size: infer_size(size, _numel(input)),
   samples=VIEW_SAMPLES, torch=lambda torch, input, size: input.view(size))


def _reshape(input, shape):
    """torch's reshape: a view when the input is contiguous, an alias with new strides
    (_reshape_alias) when its strides allow one, else a copy."""
    if is_contiguous(input):
        return F.view(input, shape)
    if _viewable(input, shape):  # the row is declared with matmul's (engine/ops/linalg.py)
        return F._reshape_alias(input, shape)
    return F._unsafe_view(contiguous(input), shape)


def _viewable(input, shape) -> bool:
    arr = getattr(input, "array", input)
    try:
        _view(arr, shape)
    except OpError:
        return False
    return True


op("reshape(Tensor input, int[] shape) -> Tensor", None, varargs=True, composite=True,
   forward=_reshape, shape=lambda input, shape: infer_size(shape, _numel(input)),
   samples=VIEW_SAMPLES)

op("_unsafe_view(Tensor input, int[] size) -> Tensor", "UnsafeViewBackward0", method=False,
   jvp="linear",
   forward=lambda input, size: np.reshape(input, infer_size(size, input.size)),
   vjp={"input": lambda grad, input_shape: F.reshape(grad, input_shape)},
   dtype="none", shape=lambda input, size: infer_size(size, _numel(input)),
   samples=VIEW_SAMPLES,
   torch=lambda torch, input, size: torch.ops.aten._unsafe_view(input, size))

def _clone(input, memory_format=None):
    """A copy: with the input's strides (preserve_format, torch's default for a dense
    tensor), or C-contiguous (contiguous_format: what contiguous() asks for)."""
    name = getattr(memory_format, "name", memory_format) or "preserve_format"
    if name not in ("preserve_format", "contiguous_format"):
        raise OpError(f"clone(): memory_format {name!r} is not supported (only "
                      "torch.preserve_format and torch.contiguous_format)")
    order = "C" if name == "contiguous_format" else "K"
    return backend.module_of(input).array(input, copy=True, order=order)


op("clone(Tensor input, *, MemoryFormat? memory_format=None) -> Tensor", "CloneBackward0",
   jvp="linear",
   forward=_clone, vjp={"input": lambda grad: grad},
   dtype="none", shape=lambda input, memory_format: input,
   samples=explicit(lambda r: Sample((rand(r, 2, 3),)),
                    lambda r: Sample((rand(r, 3, 2).T,), {"memory_format": "contiguous_format"})),
   torch=lambda torch, input, memory_format=None: input.clone(
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


# --------------------------------------------------------------------------- errors

def _shape_text(shape) -> str:
    return f"[{', '.join(str(s) for s in shape)}]"


def _dims_unique(dims, ndim) -> tuple:
    """Normalized dims in the given order; torch's text for a repeated one."""
    out = []
    for d in dims:
        d = normalize_dim(d, ndim)
        if d in out:
            raise OpError(f"dim {d} appears multiple times in the list of dims")
        out.append(d)
    return tuple(out)


def _checked(_validated, shape) -> tuple:
    """For shape rules that only validate their arguments, then return ``shape``."""
    return shape


def _index_key(ndim, dim, key) -> tuple:
    """A NumPy key that applies ``key`` at ``dim`` only."""
    return (slice(None),) * dim + (key,) + (slice(None),) * (ndim - dim - 1)


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
    return shape[:s] + (_numel(shape[s:e + 1]),) + shape[e + 1:]


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


# --------------------------------------------------------------------------- cat, stack

def _legacy_empty(shape) -> bool:
    """torch.cat still skips 1-D empty tensors, whatever the other shapes."""
    return tuple(shape) == (0,)


def _cat_shape(tensors, dim=0) -> tuple:
    if not tensors:
        raise OpError("torch.cat(): expected a non-empty list of Tensors")
    for k, s in enumerate(tensors):
        if len(s) == 0:
            raise OpError(f"zero-dimensional tensor (at position {k}) cannot be concatenated")
    live = [(k, tuple(s)) for k, s in enumerate(tensors) if not _legacy_empty(s)]
    if not live:
        return (0,)
    ref = live[0][1]
    d = normalize_dim(dim, len(ref))
    total = 0
    for k, s in live:
        if len(s) != len(ref):
            raise OpError(f"Tensors must have same number of dimensions: got {len(ref)} and "
                          f"{len(s)}")
        for i in range(len(ref)):
            if i != d and s[i] != ref[i]:
                raise OpError(f"Sizes of tensors must match except in dimension {d}. Expected "
                              f"size {ref[i]} but got size {s[i]} for tensor number {k} in the "
                              "list.")
        total += s[d]
    return ref[:d] + (total,) + ref[d + 1:]


def _cat(tensors, dim=0):
    _cat_shape([a.shape for a in tensors], dim)
    live = [a for a in tensors if not _legacy_empty(a.shape)] or tensors
    return np.concatenate(live, axis=normalize_dim(dim, live[0].ndim))


def _cat_vjp(grad, tensors_shape, dim):
    live = [s for s in tensors_shape if not _legacy_empty(s)]
    d = normalize_dim(dim, len(live[0])) if live else 0
    out, offset = [], 0
    for s in tensors_shape:
        if live and _legacy_empty(s):  # skipped in the forward: an empty gradient
            out.append(F.narrow(F.flatten(grad), 0, 0, 0))
            continue
        out.append(F.narrow(grad, d, offset, s[d]))
        offset += s[d]
    return out


op("cat(Tensor[] tensors, int dim=0) -> Tensor", "CatBackward0", method=False,
   jvp="linear",
   forward=_cat, vjp={"tensors": _cat_vjp}, shape=_cat_shape,
   samples=explicit(lambda r: Sample(([rand(r, 2, 3), rand(r, 1, 3)],)),
                    lambda r: Sample(([rand(r, 2, 3), rand(r, 2, 1), rand(r, 2, 2)], -1)),
                    lambda r: Sample(([rand(r, 2, 3), Const(rand(r, 2, 3))], 1)),
                    lambda r: Sample(([rand(r, 2, 3, 2)], 2)),
                    lambda r: Sample(([rand(r, 0), rand(r, 2, 2)], 1), gradcheck=False),  # empty: no FD
                    lambda r: Sample(([rand(r, 2), Const(np.arange(3))],))))


def _stack_shape(tensors, dim=0) -> tuple:
    if not tensors:
        raise OpError("stack expects a non-empty TensorList")
    ref = tuple(tensors[0])
    d = normalize_dim(dim, len(ref) + 1)
    for k, s in enumerate(tensors):
        if tuple(s) != ref:
            raise OpError(f"stack expects each tensor to be equal size, but got "
                          f"{_shape_text(ref)} at entry 0 and {_shape_text(s)} at entry {k}")
    return ref[:d] + (len(tensors),) + ref[d:]


def _stack(tensors, dim=0):
    _stack_shape([a.shape for a in tensors], dim)
    return np.stack(tensors, axis=normalize_dim(dim, tensors[0].ndim + 1))


op("stack(Tensor[] tensors, int dim=0) -> Tensor", "StackBackward0", method=False,
   jvp="linear",
   forward=_stack, vjp={"tensors": lambda grad, dim: F.unbind(grad, dim)}, shape=_stack_shape,
   samples=explicit(lambda r: Sample(([rand(r, 2, 3), rand(r, 2, 3)],)),
                    lambda r: Sample(([rand(r, 2, 3), rand(r, 2, 3), rand(r, 2, 3)], -1)),
                    lambda r: Sample(([rand(r, 2), Const(rand(r, 2))], 1)),
                    lambda r: Sample(([rand(r), rand(r)],))))


# --------------------------------------------------------------------------- split, unbind

def _split_sizes(shape, split_size, dim) -> list:
    if not shape:
        raise OpError("split expects at least a 1-dimensional tensor")
    if split_size < 0:
        raise OpError(f"split expects split_size be non-negative, but got split_size="
                      f"{split_size}")
    size = shape[normalize_dim(dim, len(shape))]
    if split_size == 0 and size != 0:
        raise OpError(f"split_size can only be 0 if dimension size is 0, but got dimension size "
                      f"of {size}")
    n = max((size + split_size - 1) // split_size, 1) if split_size else 1
    return [min(split_size, size - k * split_size) for k in range(n)]


def _check_split_with_sizes(shape, split_sizes, dim):
    if not shape:
        raise OpError("split expects at least a 1-dimensional tensor")
    d = normalize_dim(dim, len(shape))
    sizes = list(as_size(split_sizes))
    if any(s < 0 for s in sizes):
        raise OpError(f"split_with_sizes expects split_sizes have only non-negative entries, but "
                      f"got split_sizes={_shape_text(sizes)}")
    if sum(sizes) != shape[d]:
        raise OpError(f"split_with_sizes expects split_sizes to sum exactly to {shape[d]} (input "
                      f"tensor's size at dimension {d}), but got split_sizes="
                      f"{_shape_text(sizes)}")
    return d, sizes


def _pieces(input, sizes, d):
    out, offset = [], 0
    for s in sizes:
        out.append(input[_index_key(input.ndim, d, slice(offset, offset + s))])
        offset += s
    return out


def _piece_shapes(shape, sizes, d):
    return [tuple(shape[:d]) + (s,) + tuple(shape[d + 1:]) for s in sizes]


op("split.Tensor(Tensor input, int split_size, int dim=0) -> Tensor[]", "SplitBackward0",
   jvp="linear",
   forward=lambda input, split_size, dim: _pieces(
       input, _split_sizes(input.shape, split_size, dim), normalize_dim(dim, input.ndim)),
   vjp={"input": lambda grads, dim: F.cat(grads, dim)}, dtype="none",
   shape=lambda input, split_size, dim: _piece_shapes(
       input, _split_sizes(input, split_size, dim), normalize_dim(dim, len(input))),
   samples=explicit(lambda r: Sample((rand(r, 4, 3), 2)),
                    lambda r: Sample((rand(r, 2, 5), 2, 1)),
                    lambda r: Sample((rand(r, 2, 3), 5, -1))))

op("split.sizes(Tensor input, int[] split_size, int dim=0) -> Tensor[]", None, composite=True,
   forward=lambda input, split_size, dim: F.split_with_sizes(input, split_size, dim),
   shape=lambda input, split_size, dim: _piece_shapes(
       input, *reversed(_check_split_with_sizes(input, split_size, dim))),
   samples=explicit(lambda r: Sample((rand(r, 2, 4), [1, 3], 1))))


def _split_with_sizes(input, split_sizes, dim):
    d, sizes = _check_split_with_sizes(input.shape, split_sizes, dim)
    return _pieces(input, sizes, d)


op("split_with_sizes(Tensor input, int[] split_sizes, int dim=0) -> Tensor[]",
   "SplitWithSizesBackward0",
   jvp="linear",
   forward=_split_with_sizes, vjp={"input": lambda grads, dim: F.cat(grads, dim)},
   dtype="none",
   shape=lambda input, split_sizes, dim: _piece_shapes(
       input, *reversed(_check_split_with_sizes(input, split_sizes, dim))),
   samples=explicit(lambda r: Sample((rand(r, 5, 2), [2, 0, 3])),
                    lambda r: Sample((rand(r, 2, 4), [1, 3], -1))))


def _chunk(input, chunks, dim=0):
    if input.ndim == 0:
        raise OpError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise OpError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    size = input.shape[normalize_dim(dim, input.ndim)]
    split_size = (size + chunks - 1) // chunks
    if split_size == 0 and size == 0:  # keep the number of (empty) chunks, as torch does
        return F.split_with_sizes(input, [0] * chunks, dim)
    return F.split(input, split_size, dim)


def _chunk_shape(input, chunks, dim=0):
    if not input:
        raise OpError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise OpError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = normalize_dim(dim, len(input))
    size = input[d]
    split_size = (size + chunks - 1) // chunks
    sizes = [0] * chunks if size == 0 else _split_sizes(input, split_size, d)
    return _piece_shapes(input, sizes, d)


op("chunk(Tensor input, int chunks, int dim=0) -> Tensor[]", None, composite=True,
   forward=_chunk, shape=_chunk_shape,
   samples=explicit(lambda r: Sample((rand(r, 4, 3), 2)),
                    lambda r: Sample((rand(r, 2, 4), 3, 1)),
                    lambda r: Sample((rand(r, 2, 3), 5, -1)),
                    lambda r: Sample((rand(r, 2, 0), 3, 1), gradcheck=False)))  # empty: no FD


def _unbind_dim(ndim, dim):
    if ndim == 0:
        raise IndexOpError(f"Dimension specified as {dim} but tensor has no dimensions")
    return normalize_dim(dim, ndim)


def _unbind(input, dim=0):
    d = _unbind_dim(input.ndim, dim)
    return [input[_index_key(input.ndim, d, k) + (Ellipsis,)] for k in range(input.shape[d])]


def _unbind_shape(input, dim=0):
    d = _unbind_dim(len(input), dim)
    return [tuple(input[:d]) + tuple(input[d + 1:])] * input[d]


op("unbind.int(Tensor input, int dim=0) -> Tensor[]", "UnbindBackward0",
   jvp="linear",
   forward=_unbind, vjp={"input": lambda grads, dim: F.stack(grads, dim)}, dtype="none",
   shape=_unbind_shape,
   samples=explicit(lambda r: Sample((rand(r, 3, 2),)), lambda r: Sample((rand(r, 2, 3), -1)),
                    lambda r: Sample((rand(r, 2),))))


# --------------------------------------------------------------------------- select, slice

def _select_check(shape, dim, index) -> tuple:
    """(normalized dim, normalized index), with select()'s texts."""
    if not shape:
        raise IndexOpError("select() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, len(shape))
    size = shape[d]
    if not -size <= index < size:
        raise IndexOpError(f"select(): index {index} out of range for tensor of size "
                           f"{_shape_text(shape)} at dimension {d}")
    return d, index + size if index < 0 else index


def _select(input, dim, index):
    d, i = _select_check(input.shape, dim, index)
    return input[_index_key(input.ndim, d, i) + (Ellipsis,)]  # a view, 0-d ones included


op("select.int(Tensor input, int dim, int index) -> Tensor", "SelectBackward0",
   jvp="linear",
   forward=_select,
   vjp={"input": lambda grad, input_shape, dim, index: F.select_backward(
       grad, input_shape, dim, index)},
   dtype="none",
   shape=lambda input, dim, index: (lambda d: tuple(input[:d]) + tuple(input[d + 1:]))(
       _select_check(input, dim, index)[0]),
   samples=explicit(lambda r: Sample((rand(r, 3, 4), 0, 1)),
                    lambda r: Sample((rand(r, 3, 4), -1, -1)),
                    lambda r: Sample((rand(r, 3), 0, 2))))


def _write_into(out, key, grad_output):
    """``out[key] = grad_output`` as torch's copy_ into that part: its broadcast errors."""
    part = out[key].shape
    shape = broadcast_shapes(part, grad_output.shape)  # torch's text: a the part, b grad
    if shape != part:
        raise OpError(f"output with shape {list(part)} doesn't match the broadcast shape "
                      f"{list(shape)}")
    out[key] = grad_output
    return out


def _select_backward(grad_output, input_sizes, dim, index):
    out = np.zeros_like(grad_output, shape=tuple(input_sizes))
    d, i = _select_check(tuple(input_sizes), dim, index)
    return _write_into(out, _index_key(out.ndim, d, i), grad_output)


op("select_backward(Tensor grad_output, int[] input_sizes, int dim, int index) -> Tensor",
   "SelectBackwardBackward0", method=False,
   jvp="linear",
   forward=_select_backward,
   vjp={"grad_output": lambda grad, dim, index: F.select(grad, dim, index)},
   dtype="none", shape=lambda grad_output, input_sizes, dim, index: tuple(input_sizes),
   samples=explicit(lambda r: Sample((rand(r, 4), (3, 4), 0, 1)),
                    lambda r: Sample((rand(r, 3), (3, 2), -1, 0))),
   torch="torch.ops.aten.select_backward")

INT64_MAX = 2 ** 63 - 1


def _slice_bounds(size, start, end, step) -> tuple:
    """aten::slice's clamping of start/end (None = whole), with its text for step <= 0."""
    if step <= 0:
        raise OpError("slice step must be positive")
    start = 0 if start is None else start
    end = INT64_MAX if end is None else end
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = min(max(start, 0), size)
    end = min(max(end, start), size)
    return start, end


def _slice_shape(input, dim=0, start=None, end=None, step=1) -> tuple:
    if not input:
        raise IndexOpError("slice() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, len(input))
    s, e = _slice_bounds(input[d], start, end, step)
    return tuple(input[:d]) + ((e - s + step - 1) // step,) + tuple(input[d + 1:])


def _slice(input, dim=0, start=None, end=None, step=1):
    _slice_shape(input.shape, dim, start, end, step)
    d = normalize_dim(dim, input.ndim)
    s, e = _slice_bounds(input.shape[d], start, end, step)
    return input[_index_key(input.ndim, d, slice(s, e, step))]


def _slice_vjp(grad, input_shape, dim, start, end, step):
    d = normalize_dim(dim, len(input_shape))
    s, e = _slice_bounds(input_shape[d], start, end, step)
    return F.slice_backward(grad, input_shape, d, s, e, step)


op("slice.Tensor(Tensor input, int dim=0, int? start=None, int? end=None, int step=1) -> Tensor",
   "SliceBackward0", method=False,
   jvp="linear",
   forward=_slice, vjp={"input": _slice_vjp}, dtype="none", shape=_slice_shape,
   samples=explicit(lambda r: Sample((rand(r, 4, 3), 0, 1)),
                    lambda r: Sample((rand(r, 4, 5), 1, -4, None, 2)),
                    lambda r: Sample((rand(r, 4, 3), -1, 1, 100)),
                    lambda r: Sample((rand(r, 4, 3), 0, 3, 1)),
                    lambda r: Sample((rand(r, 4), 0, None, None, 3))),
   torch=lambda torch, input, dim=0, start=None, end=None, step=1: torch.ops.aten.slice.Tensor(
       input, dim, start, end, step))


def _slice_backward(grad_output, input_sizes, dim, start, end, step):
    out = np.zeros_like(grad_output, shape=tuple(input_sizes))
    d = normalize_dim(dim, out.ndim)
    s, e = _slice_bounds(out.shape[d], start, end, step)
    return _write_into(out, _index_key(out.ndim, d, slice(s, e, step)), grad_output)


op("slice_backward(Tensor grad_output, int[] input_sizes, int dim, int start, int end, int step)"
   " -> Tensor", "SliceBackwardBackward0", method=False,
   jvp="linear",
   forward=_slice_backward,
   vjp={"grad_output": lambda grad, dim, start, end, step: F.slice(grad, dim, start, end, step)},
   dtype="none", shape=lambda grad_output, input_sizes, *a: tuple(input_sizes),
   samples=explicit(lambda r: Sample((rand(r, 2, 4), (4, 4), 0, 1, 3, 1)),
                    lambda r: Sample((rand(r, 3, 2), (3, 5), 1, 0, 5, 3))),
   torch="torch.ops.aten.slice_backward")


def _narrow_args(shape, dim, start, length) -> tuple:
    if not shape:
        raise OpError("narrow() cannot be applied to a 0-dim tensor.")
    if length < 0:
        raise OpError("narrow(): length must be non-negative.")
    d = normalize_dim(dim, len(shape))
    size = shape[d]
    if not -size <= start <= size:
        raise IndexOpError(f"start out of range (expected to be in range of [{-size}, {size}], "
                           f"but got {start})")
    if start < 0:
        start += size
    if start > size - length:
        raise OpError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return d, start


def _narrow(input, dim, start, length):
    d, start = _narrow_args(tuple(input.shape), dim, start, length)
    return F.slice(input, d, start, start + length)


op("narrow(Tensor input, int dim, int start, int length) -> Tensor", None, composite=True,
   forward=_narrow,
   shape=lambda input, dim, start, length: (lambda d: tuple(input[:d]) + (length,) + tuple(
       input[d + 1:]))(_narrow_args(input, dim, start, length)[0]),
   samples=explicit(lambda r: Sample((rand(r, 4, 3), 0, 1, 2)),
                    lambda r: Sample((rand(r, 2, 5), -1, -3, 3)),
                    lambda r: Sample((rand(r, 2, 5), 1, 5, 0))))


# --------------------------------------------------------------------------- gather, index_select

def _gather_check(shape, dim, index_shape, index_dtype=None) -> int:
    if index_dtype is not None and np.dtype(index_dtype).kind not in "iu":
        raise OpError("gather(): Expected dtype int32/int64 for index")
    shape = tuple(shape) or (1,)  # a 0-d input gathers like a 1-element vector
    index_shape = tuple(index_shape) or (1,)
    d = normalize_dim(dim, len(shape))
    if len(index_shape) != len(shape):
        raise OpError("Index tensor must have the same number of dimensions as input tensor")
    for i, (a, b) in enumerate(zip(index_shape, shape)):
        if i != d and a > b:
            raise OpError(f"Size does not match at dimension {i} expected index "
                          f"{_shape_text(index_shape)} to be no larger than self "
                          f"{_shape_text(shape)} apart from dimension {d}")
    return d


def _check_bounds(index, size, dim):
    bad = (index < 0) | (index >= size)
    if bool(np.any(bad)):
        value = int(index[bad].ravel()[0])
        raise OpError(f"index {value} is out of bounds for dimension {dim} with size {size}")


def _gather_key(index, d):
    """A NumPy key that picks ``index`` along ``d`` (take_along_axis, scatter-add)."""
    grids = [_like_device(g, index) for g in np.ix_(*[np.arange(n) for n in index.shape])]
    grids[d] = index
    return tuple(grids)


def scatter_add(out, key, values) -> None:
    """out[key] += values, accumulating repeated indices (NumPy's add.at; CuPy spells it
    cupyx.scatter_add, as its ufuncs may lack ``at``)."""
    if isinstance(out, np.ndarray):
        np.add.at(out, key, values)
    else:
        import cupyx  # type: ignore[import-not-found]
        cupyx.scatter_add(out, key, values)


def _like_device(arr, like):
    from ..backend import module_of
    return module_of(like).asarray(arr)


def _gather(input, dim, index, sparse_grad=False):
    if sparse_grad:
        raise OpError("gather(): sparse_grad=True is not supported here: gradients are dense")
    d = _gather_check(input.shape, dim, index.shape, index.dtype)
    shape = tuple(input.shape) or (1,)
    _check_bounds(index, shape[d], d)
    src = np.reshape(input, shape)
    idx = np.reshape(index, tuple(index.shape) or (1,)).astype(np.int64)
    return np.reshape(src[_gather_key(idx, d)], index.shape)


def _gather_backward(grad, input_sizes, dim, index):
    shape = tuple(input_sizes) or (1,)
    d = normalize_dim(dim, len(shape))
    out = np.zeros_like(grad, shape=shape)
    idx = np.reshape(index, tuple(index.shape) or (1,)).astype(np.int64)
    scatter_add(out, _gather_key(idx, d), np.reshape(grad, idx.shape))
    return np.reshape(out, tuple(input_sizes))


op("gather(Tensor input, int dim, Tensor index, *, bool sparse_grad=False) -> Tensor",
   "GatherBackward0", nondiff=("index",),
   jvp="linear",
   forward=_gather,
   vjp={"input": lambda grad, input_shape, dim, index: F._gather_backward(
       grad, input_shape, dim, index)},
   dtype="none",
   shape=lambda input, dim, index, sparse_grad: _checked(_gather_check(input, dim, index),
                                                         tuple(index)),
   samples=explicit(
       lambda r: Sample((rand(r, 3, 4), 1, Const(np.array([[0, 0], [3, 1], [2, 2]])))),
       lambda r: Sample((rand(r, 3, 4), 0, Const(np.array([[0, 1, 2, 0], [2, 2, 1, 0]])))),
       lambda r: Sample((rand(r, 2, 3, 4), -1, Const(np.array([[[3], [0], [1]]])))),
       lambda r: Sample((rand(r, 3), 0, Const(np.array([2, 2, 0, 1], dtype=np.int32)))),
       lambda r: Sample((rand(r), 0, Const(np.array(0))))))

op("_gather_backward(Tensor grad, int[] input_sizes, int dim, Tensor index) -> Tensor",
   "ScatterAddBackward0", method=False, nondiff=("index",),
   jvp="linear",
   forward=_gather_backward,
   vjp={"grad": lambda grad, dim, index: F.gather(grad, dim, index)},
   dtype="none", shape=lambda grad, input_sizes, dim, index: tuple(input_sizes))


def _index_select_check(shape, dim, index_shape, index_dtype=None) -> int:
    if index_dtype is not None and np.dtype(index_dtype).kind not in "iu":
        raise OpError("index_select(): Expected dtype int32 or int64 for index")
    if len(index_shape) > 1:
        raise IndexOpError("index_select(): Index is supposed to be a vector")
    if not shape:
        n = _numel(index_shape)
        if n != 1:
            raise OpError(f"index_select(): Index to scalar can have only 1 value, got {n} "
                          "value(s)")
        normalize_dim(dim, 0)
        return 0
    return normalize_dim(dim, len(shape))


def _index_select_shape(input, dim, index) -> tuple:
    d = _index_select_check(input, dim, index)
    if not input:
        return ()
    return tuple(input[:d]) + (_numel(index),) + tuple(input[d + 1:])


def _index_select(input, dim, index):
    d = _index_select_check(input.shape, dim, index.shape, index.dtype)
    idx = np.reshape(index, (-1,)).astype(np.int64)
    size = input.shape[d] if input.ndim else 1
    bad = (idx < 0) | (idx >= size)
    if bool(np.any(bad)):
        if input.ndim == 0:
            raise IndexOpError("index out of range in self")
        raise OpError(f"INDICES element is out of DATA bounds, id={int(idx[bad][0])} "
                      f"axis_dim={size}")
    if input.ndim == 0:
        return input.copy()
    return np.take(input, idx, axis=d)


def _index_select_backward(grad, input_sizes, dim, index):
    out = np.zeros_like(grad, shape=tuple(input_sizes))
    if out.ndim == 0:
        return out + grad
    d = normalize_dim(dim, out.ndim)
    idx = np.reshape(index, (-1,)).astype(np.int64)
    scatter_add(out, _index_key(out.ndim, d, idx), grad)
    return out


op("index_select(Tensor input, int dim, Tensor index) -> Tensor", "IndexSelectBackward0",
   jvp="linear",
   nondiff=("index",),
   forward=_index_select,
   vjp={"input": lambda grad, input_shape, dim, index: F._index_select_backward(
       grad, input_shape, dim, index)},
   dtype="none", shape=_index_select_shape,
   samples=explicit(lambda r: Sample((rand(r, 3, 4), 1, Const(np.array([0, 2, 2, 3])))),
                    lambda r: Sample((rand(r, 3, 4), 0, Const(np.array([2, 0])))),
                    lambda r: Sample((rand(r, 2, 3), -1, Const(np.array(1)))),
                    lambda r: Sample((rand(r, 3), 0, Const(np.array([], dtype=np.int64)))),
                    lambda r: Sample((rand(r), 0, Const(np.array([0], dtype=np.int32))))))

op("_index_select_backward(Tensor grad, int[] input_sizes, int dim, Tensor index) -> Tensor",
   "IndexAddBackward0", method=False, nondiff=("index",),
   jvp="linear",
   forward=_index_select_backward,
   vjp={"grad": lambda grad, dim, index: F.index_select(grad, dim, index)},
   dtype="none", shape=lambda grad, input_sizes, dim, index: tuple(input_sizes))


# --------------------------------------------------------------------------- flip, roll, repeat

def _flip(input, dims):
    dims = _dims_unique(as_size(dims), max(input.ndim, 1) if input.ndim else 0)
    if input.ndim == 0:
        return input.copy()
    return np.flip(input, axis=dims) if dims else input.copy()


op("flip(Tensor input, int[] dims) -> Tensor", "FlipBackward0", varargs=True,
   jvp="linear",
   forward=_flip, vjp={"input": lambda grad, dims: F.flip(grad, dims)}, dtype="none",
   shape=lambda input, dims: _checked(_dims_unique(as_size(dims), len(input)), tuple(input)),
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
   shape=lambda input, shifts, dims: _checked(_roll_args(len(input), shifts, dims), tuple(input)),
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
                      f"{next(s for s in out if s < 0)}: {_shape_text(out)}")
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

op("alias(Tensor input) -> Tensor", "AliasBackward0", method=False,
   jvp="linear",
   forward=lambda input: input.view() if hasattr(input, "view") else np.asarray(input),
   vjp={"input": lambda grad: grad}, dtype="none", shape=lambda input: tuple(input),
   samples=explicit(lambda r: Sample((rand(r, 2, 3),)), lambda r: Sample((rand(r),))),
   torch="torch.ops.aten.alias")


# --------------------------------------------------------------------------- advanced indexing
# aten::index.Tensor, with the index tensors passed as a list plus the dim each one indexes
# (torch's Tensor?[] with gaps). Masks are expanded to integer indices (nonzero) by the
# caller, as torch's expandTensors does, so the output shape follows from shapes alone.

def _index_tensor_shape(input, indices, dims, dtypes_=None) -> tuple:
    dims = as_size(dims)
    if len(dims) != len(indices) or not indices:
        raise OpError("_index_tensor(): needs one dim per index tensor, and at least one")
    if list(dims) != sorted(set(dims)) or dims[0] < 0:
        raise OpError("_index_tensor(): dims must be increasing and non-negative")
    for dt in dtypes_ or ():
        if np.dtype(dt).kind not in "iu" or np.dtype(dt) == np.uint8:
            raise IndexOpError("tensors used as indices must be long, int, byte or bool tensors"
                               if np.dtype(dt).kind not in "iub" else
                               "_index_tensor(): masks must be expanded to integer indices")
    if dims[-1] >= len(input):
        raise IndexOpError(f"too many indices for tensor of dimension {len(input)} (got "
                           f"{dims[-1] + 1})")
    try:
        b = broadcast_shapes(*[tuple(s) for s in indices])
    except OpError:
        raise IndexOpError("shape mismatch: indexing tensors could not be broadcast together "
                           "with shapes " + ", ".join(_shape_text(s) for s in indices)) from None
    input = tuple(input)
    if list(dims) == list(range(dims[0], dims[0] + len(dims))):  # adjacent: result in place
        return input[:dims[0]] + b + input[dims[-1] + 1:]
    return b + tuple(s for i, s in enumerate(input) if i not in dims)


def _index_key_for(ndim, shape, indices, dims) -> tuple:
    """The NumPy key for aten::index, after torch's bounds check (the dimension it names is
    the index tensor's position among the index tensors)."""
    key = [slice(None)] * ndim
    bads = []
    for arr, d in zip(indices, dims):
        bads.append((arr < -shape[d]) | (arr >= shape[d]))
        key[d] = arr.astype(np.int64)
    if any(bool(np.any(b)) for b in bads):
        # torch checks element by element, each index tensor in turn: report the first
        b = np.broadcast_shapes(*[x.shape for x in indices])
        bads = np.stack([np.broadcast_to(x, b).reshape(-1) for x in bads])
        values = np.stack([np.broadcast_to(x, b).reshape(-1) for x in indices])
        pos = int(np.argmax(np.any(bads, axis=0)))
        k = int(np.argmax(bads[:, pos]))
        raise IndexOpError(f"index {int(values[k, pos])} is out of bounds for dimension {k} "
                           f"with size {shape[dims[k]]}")
    return tuple(key)


def _index_tensor(input, indices, dims):
    shape = _index_tensor_shape(input.shape, [a.shape for a in indices], dims,
                                [a.dtype for a in indices])
    if _numel(np.broadcast_shapes(*[a.shape for a in indices])) and 0 in [
            input.shape[d] for d in as_size(dims)]:
        raise IndexOpError("index is out of bounds for dimension with size 0")
    if _numel(shape) == 0:  # torch's kernel visits no element, so checks no other bound
        return np.zeros_like(input, shape=shape)
    return input[_index_key_for(input.ndim, input.shape, indices, as_size(dims))]


def _index_backward(grad, input_sizes, indices, dims):
    out = np.zeros_like(grad, shape=tuple(input_sizes))
    if grad.size:
        scatter_add(out, _index_key_for(out.ndim, out.shape, indices, as_size(dims)), grad)
    return out


def _torch_index_list(torch, indices, dims, ndim):
    full = [None] * ndim
    for t, d in zip(indices, as_size(dims)):
        full[d] = t
    return full[:max(as_size(dims)) + 1]


op("_index_tensor(Tensor input, Tensor[] indices, int[] dims) -> Tensor", "IndexBackward0",
   jvp="linear",
   method=False, nondiff=("indices",),
   forward=_index_tensor,
   vjp={"input": lambda grad, input_shape, indices, dims: F._index_backward(
       grad, input_shape, indices, dims)},
   dtype="none", shape=lambda input, indices, dims: _index_tensor_shape(input, indices, dims),
   samples=explicit(
       lambda r: Sample((rand(r, 3, 4), [Const(np.array([0, 2, 0, -1]))], (0,))),
       lambda r: Sample((rand(r, 3, 4, 5), [Const(np.array([[0, 1], [1, 1]])),
                                           Const(np.array([4, 0]))], (1, 2))),
       lambda r: Sample((rand(r, 3, 4, 5), [Const(np.array([0, 2])),
                                           Const(np.array([3, 3]))], (0, 2)))),
   torch=lambda torch, input, indices, dims: torch.ops.aten.index.Tensor(
       input, _torch_index_list(torch, indices, dims, input.ndim)))

op("_index_backward(Tensor grad, int[] input_sizes, Tensor[] indices, int[] dims) -> Tensor",
   "IndexPutImplBackward0", method=False, nondiff=("indices",),
   jvp="linear",
   forward=_index_backward,
   vjp={"grad": lambda grad, indices, dims: F._index_tensor(grad, indices, dims)},
   dtype="none", shape=lambda grad, input_sizes, indices, dims: tuple(input_sizes))


# --------------------------------------------------------------------------- x[index]
# torch/csrc/autograd/python_variable_indexing.cpp: a few single objects are handled
# directly; anything else is wrapped in a tuple and applied item by item (applySlicing:
# select, slice, unsqueeze), then the recorded index tensors go to aten::index at once.

_BAD_INDEX = ("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
              "are valid indices (got {})")


def _is_int_index(obj) -> bool:
    return isinstance(obj, (int, np.integer)) and not isinstance(obj, (bool, np.bool_))


def _tensor_array(obj):
    """The array behind a Tensor or array index, else None."""
    from .table import _Tensor
    if _Tensor is not None and isinstance(obj, _Tensor):
        return obj.array
    if isinstance(obj, ARRAY_TYPES) and not isinstance(obj, np.generic):
        return obj
    return None


def _is_mask(arr) -> bool:
    return arr.dtype.kind == "b" or arr.dtype == np.uint8


def _sequence_index(seq):
    """A list used as one index -> an array, as torch's indexing_tensor_from_data: bools stay
    a mask, numbers become int64."""
    from .._tensor import _from_nested
    try:
        arr = np.array(_from_nested(seq))
    except ValueError:
        raise IndexOpError("an index list must not be ragged") from None
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind not in "iuf":
        raise IndexOpError(_BAD_INDEX.format(type(seq).__name__))
    return arr.astype(np.int64)


def _index_items(index) -> tuple:
    """torch's treatSequenceAsTuple: a short list holding a sequence, slice, None, Ellipsis or
    tensor is a tuple of indices; any other list is one index."""
    if isinstance(index, tuple):
        return index
    return tuple(index) if _list_is_tuple(index) else (index,)


def _list_is_tuple(index) -> bool:
    return isinstance(index, list) and len(index) < 32 and any(
        o is None or o is Ellipsis or isinstance(o, (list, tuple, slice, str))
        or _tensor_array(o) is not None for o in index)


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
        arr = _tensor_array(o)
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
    if _is_int_index(index):  # x[i]: select, with the 0-dim texts
        i = int(index)
        _check_select(shape, 0, i, 0)
        return [("select", 0, i)], tuple(shape[1:])
    if isinstance(index, slice):  # x[a:b]: always a slice node, even for x[:]
        if not shape:
            raise IndexOpError("slice() cannot be applied to a 0-dim tensor.")
        start, stop, step = _unpack_slice(index)
        return [("slice", 0, start, stop, step)], _slice_shape(shape, 0, start, stop, step)
    items = _index_items(index)
    specified = _specified_dims(items)
    if specified > ndim:
        raise IndexOpError(f"too many indices for tensor of dimension {ndim}")
    steps, recorded, dim = [], [], 0
    for pos, obj in enumerate(items):
        arr = _tensor_array(obj)
        if arr is None and isinstance(obj, (list, tuple)):
            arr = _sequence_index(obj)
        if isinstance(obj, str):
            raise IndexTypeError("new(): invalid data type 'str'")
        if _is_int_index(obj) or (arr is not None and arr.ndim == 0 and not _is_mask(arr)
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
                shape = list(_slice_shape(shape, dim, start, stop, step))
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
            raise IndexOpError(_BAD_INDEX.format(type(obj).__name__))
    if not recorded:
        return steps or [("alias",)], tuple(shape)
    step = _expand_indices(shape, recorded)
    return steps + [step], _index_tensor_shape(shape, [a.shape for a in step[1]], step[2])


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
                raise IndexOpError(f"The shape of the mask {_shape_text(mask.shape)} at index {j} "
                                   f"does not match the shape of the indexed tensor "
                                   f"{_shape_text(shape)} at index {d + j}")
        arrays.extend(np.nonzero(mask))
        dims.extend(range(d, d + mask.ndim))
    return ("index", arrays, tuple(dims))


def _index(input, indices):
    from .table import _Tensor
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
            arrays = [_like_device(a, like) for a in arrays]
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
    from ..backend import module_of
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
       jvp="linear",
       method=False, forward=_copy_slices, dtype="none", vjp=_SETITEM_VJPS[_name],
       shape=lambda self, indices, value: self)


def _copy_into(self, positions, value):
    """``self`` with the elements at flat ``positions`` replaced by ``value`` (broadcast):
    an in-place op on a view, written into its base."""
    from ..backend import module_of
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
    from .. import _tensor
    index = positions.reshape(-1)
    if isinstance(grad, _tensor.Tensor):
        index = _tensor.Tensor._make(index)
    flat = F._index_backward(F.reshape(grad, (-1,)), (_numel(self_shape),), [index], (0,))
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
    from ..backend import module_of
    return module_of(array)


def _setitem(self, indices, value):
    """Index tensors alone go straight to index_put_ (IndexPutBackward0); anything that
    first takes a view (select, slice, None, ...) copies into it (CopySlices)."""
    steps, _ = index_plan(tuple(self.shape), indices)
    if len(steps) == 1 and steps[0][0] == "index":
        return F._index_put_value(self, indices, value)
    return F.copy_slices(self, indices, value)


op("setitem(Tensor self, Any indices, Tensor value) -> Tensor", None, composite=True,
   method=False, forward=_setitem, shape=lambda self, indices, value: self)


# --------------------------------------------------------------------------- the JSON form
# An index on the wire: a list is a tuple of items; any other value is one item on its own
# (torch treats x[:] and x[(slice(None),)] differently, so the two forms are kept apart).
# Items: int; null (None); "..." (Ellipsis); {"slice": [start, stop, step]} with ints or
# nulls; a (nested) list of ints (an int64 index) or of bools (a mask); true/false; any
# other string names a tensor, left for the caller to resolve.

_ITEM_FORMS = ('an int, null, "...", true/false, {"slice": [start, stop, step]}, a (nested) '
               'list of ints or of bools, or a tensor name')


def decode_index(spec):
    """The JSON form of an index -> the Python index object torch would be given."""
    if isinstance(spec, list):
        return tuple(_decode_item(item) for item in spec)
    return _decode_item(spec)


def _decode_item(item):
    if item is None or isinstance(item, bool):
        return item
    if isinstance(item, int):
        return item
    if isinstance(item, str):
        return Ellipsis if item == "..." else item
    if isinstance(item, dict):
        bounds = item.get("slice")
        if (set(item) != {"slice"} or not isinstance(bounds, list) or len(bounds) != 3
                or any(b is not None and (isinstance(b, bool) or not isinstance(b, int))
                       for b in bounds)):
            raise OpError(f"invalid slice {item!r}: expected {{\"slice\": [start, stop, step]}} "
                          "with ints or nulls")
        return slice(*bounds)
    if isinstance(item, list):
        return _decode_array(item)
    raise OpError(f"invalid index item {item!r}: expected {_ITEM_FORMS}")


def _decode_array(data):
    from .creation import nested_shape
    try:
        nested_shape(data)
    except OpError as e:
        raise OpError(f"invalid index list: {e}") from None
    leaves, stack = [], [data]
    while stack:  # iterative: nesting depth is the user's
        x = stack.pop()
        if isinstance(x, list):
            stack.extend(x)
        else:
            leaves.append(x)
    if leaves and all(isinstance(x, bool) for x in leaves):
        return np.array(data, dtype=np.bool_)
    if all(isinstance(x, int) and not isinstance(x, bool) for x in leaves):
        return np.array(data, dtype=np.int64)
    raise OpError("invalid index list: expected only ints or only bools")


def encode_index(obj):
    """A Python index -> its JSON form (the inverse of :func:`decode_index`)."""
    if isinstance(obj, tuple) or _list_is_tuple(obj):
        return [_encode_item(o) for o in obj]
    item = _encode_item(obj)
    # a lone index list encodes as a list: wrap it so it reads back as one item (torch
    # treats x[idx] and x[(idx,)] the same for these)
    return [item] if isinstance(item, list) else item


def _encode_item(obj):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if obj is Ellipsis:
        return "..."
    if isinstance(obj, np.bool_):
        return bool(obj)
    if _is_int_index(obj):
        return int(obj)
    if isinstance(obj, slice):
        bounds = []
        for b in (obj.start, obj.stop, obj.step):
            try:
                bounds.append(None if b is None else operator.index(b))
            except TypeError:
                raise IndexTypeError("slice indices must be integers or None or have an "
                                     "__index__ method") from None
        return {"slice": bounds}
    arr = _tensor_array(obj)
    if arr is None and isinstance(obj, (list, tuple)):
        arr = _sequence_index(obj)
    if arr is None:
        raise IndexOpError(_BAD_INDEX.format(type(obj).__name__))
    if arr.dtype.kind not in "biu":
        raise IndexOpError("tensors used as indices must be long, int, byte or bool tensors")
    from ..backend import to_numpy
    arr = to_numpy(arr)
    return (arr.astype(bool) if arr.dtype == np.uint8 else arr).tolist()
