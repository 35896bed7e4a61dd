"""Shape rows: views, permutations, expansion."""

import numpy as np

from ..errors import OpError
from .samples import Sample, explicit, rand
from .table import F, is_contiguous, normalize_dim, op


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
   forward=_view, vjp={"input": lambda grad, input_shape: F.reshape(grad, input_shape)},
   dtype="none", shape=lambda input, size: infer_size(size, _numel(input)),
   samples=VIEW_SAMPLES, torch=lambda torch, input, size: input.view(size))


def _reshape(input, shape):
    if is_contiguous(input):
        return F.view(input, shape)
    return F._unsafe_view(F.clone(input), shape)


op("reshape(Tensor input, int[] shape) -> Tensor", None, varargs=True, composite=True,
   forward=_reshape, shape=lambda input, shape: infer_size(shape, _numel(input)),
   samples=VIEW_SAMPLES)

op("_unsafe_view(Tensor input, int[] size) -> Tensor", "UnsafeViewBackward0", method=False,
   forward=lambda input, size: np.reshape(input, infer_size(size, input.size)),
   vjp={"input": lambda grad, input_shape: F.reshape(grad, input_shape)},
   dtype="none", shape=lambda input, size: infer_size(size, _numel(input)),
   samples=VIEW_SAMPLES,
   torch=lambda torch, input, size: torch.ops.aten._unsafe_view(input, size))

op("clone(Tensor input) -> Tensor", "CloneBackward0",
   forward=lambda input: np.array(input, copy=True), vjp={"input": lambda grad: grad},
   dtype="none", shape=lambda input: input,
   samples=explicit(lambda r: Sample((rand(r, 2, 3),))))


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


op("expand(Tensor input, int[] size, *, bool implicit=False) -> Tensor", "ExpandBackward0", varargs=True,
   forward=lambda input, size, implicit: np.broadcast_to(input, _expand_size(input.shape, size)),
   vjp={"input": lambda grad, input_shape: F.sum_to(grad, input_shape)},
   dtype="none", shape=lambda input, size, implicit: _expand_size(input, size),
   samples=explicit(lambda r: Sample((rand(r, 3), (2, 3))),
                    lambda r: Sample((rand(r, 2, 1), (2, 4))),
                    lambda r: Sample((rand(r, 1), (-1,))),
                    lambda r: Sample((rand(r), (3, 2)))),
   torch=lambda torch, input, size, implicit=False: input.expand(size))


def _perm(dims, ndim):
    dims = tuple(normalize_dim(d, ndim) for d in as_size(dims))
    if sorted(dims) != list(range(ndim)):
        raise OpError("permute(sparse_coo): number of dimensions in the tensor input does not "
                      "match the length of the desired ordering of dimensions i.e. input.dim() "
                      f"= {ndim} is not equal to len(dims) = {len(dims)}" if len(dims) != ndim
                      else "permute(): duplicate dims are not allowed.")
    return dims


op("permute(Tensor input, int[] dims) -> Tensor", "PermuteBackward0", varargs=True,
   forward=lambda input, dims: np.transpose(input, _perm(dims, input.ndim)),
   vjp={"input": lambda grad, dims, input_shape: F.permute(
       grad, tuple(np.argsort(_perm(dims, len(input_shape))).tolist()))},
   dtype="none",
   shape=lambda input, dims: tuple(input[d] for d in _perm(dims, len(input))),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), (1, 0))),
                    lambda r: Sample((rand(r, 2, 3, 4), (2, 0, 1)))))


# --------------------------------------------------------------------------- errors

class IndexOpError(OpError, IndexError):
    """torch raises IndexError for these (indices and dims out of range)."""


class IndexTypeError(OpError, TypeError):
    """torch raises TypeError for these (bad Python index objects)."""


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

op("squeeze(Tensor input) -> Tensor", "SqueezeBackward0",
   forward=lambda input: np.reshape(input, tuple(s for s in input.shape if s != 1)),
   vjp={"input": lambda grad, input_shape: F.reshape(grad, input_shape)},
   dtype="none", shape=lambda input: tuple(s for s in input if s != 1),
   samples=explicit(*SQUEEZE_SAMPLES))

op("squeeze.dim(Tensor input, int dim) -> Tensor", "SqueezeBackward1",
   forward=lambda input, dim: np.reshape(input, _squeeze_dims_shape(input.shape, dim)),
   vjp={"input": lambda grad, input_shape: F.reshape(grad, input_shape)},
   dtype="none", shape=lambda input, dim: _squeeze_dims_shape(input, dim),
   samples=explicit(lambda r: Sample((rand(r, 2, 1, 3), 1)),
                    lambda r: Sample((rand(r, 2, 1, 3), -1)),
                    lambda r: Sample((rand(r, 2, 3, 1), -1)),
                    lambda r: Sample((rand(r), 0))))

op("squeeze.dims(Tensor input, int[] dim) -> Tensor", "SqueezeBackward2", varargs=True,
   forward=lambda input, dim: np.reshape(input, _squeeze_dims_shape(input.shape, dim)),
   vjp={"input": lambda grad, input_shape: F.reshape(grad, input_shape)},
   dtype="none", shape=lambda input, dim: _squeeze_dims_shape(input, dim),
   samples=explicit(lambda r: Sample((rand(r, 2, 1, 3, 1), (1, 3))),
                    lambda r: Sample((rand(r, 2, 1, 3, 1), [1, -1, 0])),
                    lambda r: Sample((rand(r, 2, 1, 3, 1), ()))))


def _unsqueeze_shape(shape, dim) -> tuple:
    d = normalize_dim(dim, len(shape) + 1)
    return tuple(shape[:d]) + (1,) + tuple(shape[d:])


op("unsqueeze(Tensor input, int dim) -> Tensor", "UnsqueezeBackward0",
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
