"""Indexing rows as ATen has them: select, slice, narrow, gather, index_select and
aten::index with its backward (x[index] itself is engine/ops/subscript.py)."""

import numpy as np

from ..backend import module_of
from ..errors import IndexOpError, OpError
from .samples import Const, Sample, explicit, rand
from .sizes import as_size, checked, index_key, numel, shape_text
from .table import F, broadcast_shapes, normalize_dim, op

# --------------------------------------------------------------------------- select, slice

def _select_check(shape, dim, index) -> tuple:
    """(normalized dim, normalized index), with select()'s texts."""
    if not shape:
        raise IndexOpError("select() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, len(shape))
    size = shape[d]
    if not -size <= index < size:
        raise IndexOpError(f"select(): index {index} out of range for tensor of size "
                           f"{shape_text(shape)} at dimension {d}")
    return d, index + size if index < 0 else index


def _select(input, dim, index):
    d, i = _select_check(input.shape, dim, index)
    return input[index_key(input.ndim, d, i) + (Ellipsis,)]  # a view, 0-d ones included


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
    return _write_into(out, index_key(out.ndim, d, i), grad_output)


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


def slice_shape(input, dim=0, start=None, end=None, step=1) -> tuple:
    if not input:
        raise IndexOpError("slice() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, len(input))
    s, e = _slice_bounds(input[d], start, end, step)
    return tuple(input[:d]) + ((e - s + step - 1) // step,) + tuple(input[d + 1:])


def _slice(input, dim=0, start=None, end=None, step=1):
    slice_shape(input.shape, dim, start, end, step)
    d = normalize_dim(dim, input.ndim)
    s, e = _slice_bounds(input.shape[d], start, end, step)
    return input[index_key(input.ndim, d, slice(s, e, step))]


def _slice_vjp(grad, input_shape, dim, start, end, step):
    d = normalize_dim(dim, len(input_shape))
    s, e = _slice_bounds(input_shape[d], start, end, step)
    return F.slice_backward(grad, input_shape, d, s, e, step)


op("slice.Tensor(Tensor input, int dim=0, int? start=None, int? end=None, int step=1) -> Tensor",
   "SliceBackward0", method=False,
   jvp="linear",
   forward=_slice, vjp={"input": _slice_vjp}, dtype="none", shape=slice_shape,
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
    return _write_into(out, index_key(out.ndim, d, slice(s, e, step)), grad_output)


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
                          f"{shape_text(index_shape)} to be no larger than self "
                          f"{shape_text(shape)} apart from dimension {d}")
    return d


def _check_bounds(index, size, dim):
    bad = (index < 0) | (index >= size)
    if bool(np.any(bad)):
        value = int(index[bad].ravel()[0])
        raise OpError(f"index {value} is out of bounds for dimension {dim} with size {size}")


def _gather_key(index, d):
    """A NumPy key that picks ``index`` along ``d`` (take_along_axis, scatter-add)."""
    grids = [like_device(g, index) for g in np.ix_(*[np.arange(n) for n in index.shape])]
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


def like_device(arr, like):
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
   shape=lambda input, dim, index, sparse_grad: checked(_gather_check(input, dim, index),
                                                         tuple(index)),
   samples=explicit(
       lambda r: Sample((rand(r, 3, 4), 1, Const(np.array([[0, 0], [3, 1], [2, 2]])))),
       lambda r: Sample((rand(r, 3, 4), 0, Const(np.array([[0, 1, 2, 0], [2, 2, 1, 0]])))),
       lambda r: Sample((rand(r, 2, 3, 4), -1, Const(np.array([[[3], [0], [1]]])))),
       lambda r: Sample((rand(r, 3), 0, Const(np.array([2, 2, 0, 1], dtype=np.int32)))),
       lambda r: Sample((rand(r), 0, Const(np.array(0))))))

def _backward_kernel(name, grad_fn, forward, grad_vjp):
    """The row of torch's backward kernel ``name`` of an indexing op: linear in grad (its VJP,
    ``grad_vjp``, is the indexing op again), its output of the input's size."""
    op(f"{name}(Tensor grad, int[] input_sizes, int dim, Tensor index) -> Tensor", grad_fn,
       method=False, nondiff=("index",), jvp="linear", forward=forward,
       vjp={"grad": grad_vjp}, dtype="none",
       shape=lambda grad, input_sizes, dim, index: tuple(input_sizes))


_backward_kernel("_gather_backward", "ScatterAddBackward0", _gather_backward,
                 lambda grad, dim, index: F.gather(grad, dim, index))


def _index_select_check(shape, dim, index_shape, index_dtype=None) -> int:
    if index_dtype is not None and np.dtype(index_dtype).kind not in "iu":
        raise OpError("index_select(): Expected dtype int32 or int64 for index")
    if len(index_shape) > 1:
        raise IndexOpError("index_select(): Index is supposed to be a vector")
    if not shape:
        n = numel(index_shape)
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
    return tuple(input[:d]) + (numel(index),) + tuple(input[d + 1:])


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
    scatter_add(out, index_key(out.ndim, d, idx), grad)
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

_backward_kernel("_index_select_backward", "IndexAddBackward0", _index_select_backward,
                 lambda grad, dim, index: F.index_select(grad, dim, index))


# --------------------------------------------------------------------------- advanced indexing
# aten::index.Tensor, with the index tensors passed as a list plus the dim each one indexes
# (torch's Tensor?[] with gaps). Masks are expanded to integer indices (nonzero) by the
# caller, as torch's expandTensors does, so the output shape follows from shapes alone.

def index_tensor_shape(input, indices, dims, dtypes_=None) -> tuple:
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
                           "with shapes " + ", ".join(shape_text(s) for s in indices)) from None
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
    shape = index_tensor_shape(input.shape, [a.shape for a in indices], dims,
                                [a.dtype for a in indices])
    if numel(np.broadcast_shapes(*[a.shape for a in indices])) and 0 in [
            input.shape[d] for d in as_size(dims)]:
        raise IndexOpError("index is out of bounds for dimension with size 0")
    if numel(shape) == 0:  # torch's kernel visits no element, so checks no other bound
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
   dtype="none", shape=lambda input, indices, dims: index_tensor_shape(input, indices, dims),
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


