"""Joining and splitting rows: cat, stack, split, split_with_sizes, chunk, their unsafe_
variants, unbind."""

import numpy as np

from ..errors import IndexOpError, OpError
from .samples import Const, Sample, explicit, rand
from .sizes import as_size, index_key, shape_text
from .table import F, normalize_dim, op

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
                          f"{shape_text(ref)} at entry 0 and {shape_text(s)} at entry {k}")
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
                      f"got split_sizes={shape_text(sizes)}")
    if sum(sizes) != shape[d]:
        raise OpError(f"split_with_sizes expects split_sizes to sum exactly to {shape[d]} (input "
                      f"tensor's size at dimension {d}), but got split_sizes="
                      f"{shape_text(sizes)}")
    return d, sizes


def _pieces(input, sizes, d):
    out, offset = [], 0
    for s in sizes:
        out.append(input[index_key(input.ndim, d, slice(offset, offset + s))])
        offset += s
    return out


def _piece_shapes(shape, sizes, d):
    return [tuple(shape[:d]) + (s,) + tuple(shape[d + 1:]) for s in sizes]


def _split(input, split_size, dim):
    return _pieces(input, _split_sizes(input.shape, split_size, dim),
                   normalize_dim(dim, input.ndim))


def _split_shape(input, split_size, dim):
    return _piece_shapes(input, _split_sizes(input, split_size, dim),
                         normalize_dim(dim, len(input)))


op("split.Tensor(Tensor input, int split_size, int dim=0) -> Tensor[]", "SplitBackward0",
   jvp="linear", forward=_split, vjp={"input": lambda grads, dim: F.cat(grads, dim)},
   dtype="none", shape=_split_shape,
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


def _split_with_sizes_shape(input, split_sizes, dim):
    return _piece_shapes(input, *reversed(_check_split_with_sizes(input, split_sizes, dim)))


op("split_with_sizes(Tensor input, int[] split_sizes, int dim=0) -> Tensor[]",
   "SplitWithSizesBackward0", jvp="linear", forward=_split_with_sizes,
   vjp={"input": lambda grads, dim: F.cat(grads, dim)}, dtype="none",
   shape=_split_with_sizes_shape,
   samples=explicit(lambda r: Sample((rand(r, 5, 2), [2, 0, 3])),
                    lambda r: Sample((rand(r, 2, 4), [1, 3], -1))))


def _chunk(input, chunks, dim=0, split=None, split_with_sizes=None):
    if input.ndim == 0:
        raise OpError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise OpError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    size = input.shape[normalize_dim(dim, input.ndim)]
    split_size = (size + chunks - 1) // chunks
    if split_size == 0 and size == 0:  # keep the number of (empty) chunks, as torch does
        return (split_with_sizes or F.split_with_sizes)(input, [0] * chunks, dim)
    return (split or F.split)(input, split_size, dim)


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


# torch's unsafe_split, unsafe_split_with_sizes, unsafe_chunk: split's pieces, sharing the
# input's memory, that autograd does not know as views (each has a version counter of its
# own, and an in-place op on one is checked as on any non-view: the input's graph does not
# learn of it)
op("unsafe_split.Tensor(Tensor input, int split_size, int dim=0) -> Tensor[]",
   "UnsafeSplitBackward0", jvp="linear", untracked_views=True, forward=_split,
   vjp={"input": lambda grads, dim: F.cat(grads, dim)}, dtype="none", shape=_split_shape,
   samples=explicit(lambda r: Sample((rand(r, 4, 3), 2)),
                    lambda r: Sample((rand(r, 2, 5), 2, 1))))

op("unsafe_split_with_sizes(Tensor input, int[] split_sizes, int dim=0) -> Tensor[]",
   "UnsafeSplitWithSizesBackward0", jvp="linear", untracked_views=True,
   forward=_split_with_sizes, vjp={"input": lambda grads, dim: F.cat(grads, dim)},
   dtype="none", shape=_split_with_sizes_shape,
   samples=explicit(lambda r: Sample((rand(r, 5, 2), [2, 0, 3]))))


def _unsafe_chunk(input, chunks, dim=0):
    return _chunk(input, chunks, dim, F.unsafe_split, F.unsafe_split_with_sizes)


op("unsafe_chunk(Tensor input, int chunks, int dim=0) -> Tensor[]", None, composite=True,
   forward=_unsafe_chunk, shape=_chunk_shape,
   samples=explicit(lambda r: Sample((rand(r, 4, 3), 2)),
                    lambda r: Sample((rand(r, 2, 3), 5, -1))))


def _unbind_dim(ndim, dim):
    if ndim == 0:
        raise IndexOpError(f"Dimension specified as {dim} but tensor has no dimensions")
    return normalize_dim(dim, ndim)


def _unbind(input, dim=0):
    d = _unbind_dim(input.ndim, dim)
    return [input[index_key(input.ndim, d, k) + (Ellipsis,)] for k in range(input.shape[d])]


def _unbind_shape(input, dim=0):
    d = _unbind_dim(len(input), dim)
    return [tuple(input[:d]) + tuple(input[d + 1:])] * input[d]


op("unbind.int(Tensor input, int dim=0) -> Tensor[]", "UnbindBackward0",
   jvp="linear",
   forward=_unbind, vjp={"input": lambda grads, dim: F.stack(grads, dim)}, dtype="none",
   shape=_unbind_shape,
   samples=explicit(lambda r: Sample((rand(r, 3, 2),)), lambda r: Sample((rand(r, 2, 3), -1)),
                    lambda r: Sample((rand(r, 2),))))


