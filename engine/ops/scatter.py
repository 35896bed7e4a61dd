"""scatter (of a value), index_fill, scatter_reduce and index_reduce: src's elements reduced (sum, prod, mean, amax, amin)
into input at the places an index says, with torch's scatter_reduce_backward (ties of
amax/amin share their gradient; mean divides by each place's count; prod's has cases of its
own for zeros)."""

import warnings

import numpy as np

from .. import dtypes
from ..errors import IndexOpError, KernelNotImplemented, OpError
from . import table
from .delayed_error import delayed_error
from .indexing import _check_bounds, _gather_check, _gather_key
from .samples import Const, Sample, explicit, rand
from .table import F, normalize_dim, op

_REDUCE = {"sum": np.add, "prod": np.multiply, "mean": np.add, "amax": np.maximum,
           "amin": np.minimum}


def _raw(x):
    return getattr(x, "array", x)


def _places(input_shape, dim, index):
    """(dim, NumPy key of the places, the part of src they take): checked as torch does."""
    d = _gather_check(input_shape, dim, index.shape, index.dtype)
    _check_bounds(index, (tuple(input_shape) or (1,))[d], d)
    return d, _gather_key(index.astype(np.int64), d)


def _counts(shape, key, include_self):
    """How many values each place of the output reduces (at least one)."""
    n = np.full(shape, 1.0 if include_self else 0.0)
    np.add.at(n, key, 1.0)
    return np.maximum(n, 1.0)


def _scattered(shape, key):
    mask = np.zeros(shape, dtype=bool)
    mask[key] = True
    return mask


def _reduce_into(input, dim, index, src, reduce, include_self):
    if reduce not in _REDUCE:
        raise OpError("reduce argument must be either sum, prod, mean, amax or amin, got "
                      f"{reduce}")
    if input.dtype != src.dtype:
        raise OpError("scatter(): Expected self.dtype to be equal to src.dtype")
    if reduce == "mean" and input.dtype == np.bool_:
        raise KernelNotImplemented('"div_floor_cpu" not implemented for \'Bool\'')
    if input.ndim == 0:  # a 0-d input scatters like a 1-element vector
        return _reduce_into(input.reshape(1), dim, index.reshape(1), src.reshape(1), reduce,
                            include_self).reshape(())
    _, key = _places(input.shape, dim, index)
    values = src[tuple(slice(0, n) for n in index.shape)]
    out = input.copy()
    if not include_self:
        out[key] = {"prod": 1, "amax": -np.inf, "amin": np.inf}.get(reduce, 0)
    _REDUCE[reduce].at(out, key, values)
    if reduce == "mean":
        counts = _counts(input.shape, key, include_self)
        out = out // counts if out.dtype.kind in "iu" else out / counts
    return out.astype(input.dtype)


def _vjps(input, dim, index, src, reduce, include_self, result, name="scatter_reduce",
          index_1d=None):
    """(input's gradient, src's gradient) as functions of grad: torch's
    scatter_reduce_backward (and index_reduce_backward, ``name``)."""
    x, s, r, idx = _raw(input), _raw(src), _raw(result), _raw(index).astype(np.int64)
    if x.ndim == 0:  # as 1-element vectors
        if reduce == "prod":  # (its rule reads the Tensors themselves)
            input, src, result = (F.reshape(t, (1,)) for t in (input, src, result))
        else:
            input, src, result = x.reshape(1), s.reshape(1), r.reshape(1)
        fns = _vjps(input, dim, idx.reshape(1), src, reduce, include_self, result, name,
                    None if index_1d is None else np.reshape(_raw(index_1d), (1,)))
        return tuple(lambda grad, fn=fn: F.reshape(fn(F.reshape(grad, (1,))), ())
                     for fn in fns)
    d, key = _places(x.shape, dim, idx)
    s = s[tuple(slice(0, n) for n in idx.shape)]
    keep = ~_scattered(x.shape, key) if not include_self else None

    def for_input(g):
        return g if keep is None else F.where(keep, g, 0.0)

    if reduce == "sum":
        return (lambda grad: for_input(grad), lambda grad: F.gather(grad, d, idx))
    if reduce == "mean":
        n = _counts(x.shape, key, include_self).astype(x.dtype)
        return (lambda grad: for_input(grad / n), lambda grad: F.gather(grad / n, d, idx))
    if reduce == "prod":
        return _prod_vjps(input, d, idx, src, include_self, result, key, name, index_1d)
    value = np.take_along_axis(r, idx, d)
    self_is = (x == r).astype(x.dtype)
    src_is = (s == value).astype(x.dtype)
    count = self_is.copy()  # (torch counts the input's ties even when include_self=False)
    np.add.at(count, key, src_is)
    count = np.maximum(count, 1.0)
    return (lambda grad: for_input((grad / count) * self_is),
            lambda grad: F.gather(grad / count, d, idx) * src_is)


def _prod_vjps(input, d, idx, src, include_self, result, key, name, index_1d):
    """torch's rule for 'prod', written with differentiable ops on the input, src and
    result: an element's gradient is the product of the others at its place, worked out
    without dividing by zero where a place has one zero (a place with two or more has
    none); src's gradient refuses a double backward where two zeros share a place."""
    x, s = _raw(input), _raw(src)
    take = tuple(slice(0, n) for n in idx.shape)
    if s.shape != idx.shape:  # (src's elements beyond the index take no part)
        src, s = src[take], s[take]
    if name == "scatter_reduce":
        def reduce_into(a, b):
            return F.scatter_reduce(a, d, idx, b, "prod", include_self=include_self)

        def pick(t):
            return F.gather(t, d, idx)
    else:  # index_reduce's own ops, on its 1-D index
        index_1d = np.asarray(_raw(index_1d), dtype=np.int64)

        def reduce_into(a, b):
            return F.index_reduce(a, d, index_1d, b, "prod", include_self=include_self)

        def pick(t):
            return F.index_select(t, d, index_1d)
    masked_self = F.masked_fill(input, x == 0, 1.0)
    masked_self_result = reduce_into(masked_self, src)
    src_zero = s == 0
    zeros_at = np.zeros(x.shape, dtype=x.dtype)
    np.add.at(zeros_at, key, src_zero.astype(x.dtype))
    zeros_at = np.take_along_axis(zeros_at, idx, d)
    single_zero = src_zero & (zeros_at == 1)
    masked_src_result = reduce_into(input, F.masked_fill(src, single_zero, 1.0))
    nonzero_src = F.masked_fill(src, src_zero, 1.0)
    several_zeros = bool((zeros_at > 1).any())

    def for_src(grad):
        g = F.where(single_zero, pick(grad * masked_src_result),
                    pick(grad * result) / nonzero_src)
        if several_zeros and isinstance(g, table._Tensor) and g.requires_grad:
            arg = "src" if name == "scatter_reduce" else "source"
            g = delayed_error(g, f"{name}(): Double backward is unsupported for {arg} when >1 "
                                 f"zeros in {arg} are scattered to the same position in self")
        return g

    def for_self(grad):
        g = grad * masked_self_result / masked_self
        if include_self:
            return g
        if name == "scatter_reduce":
            return F.scatter(g, d, idx, 0)
        return F.index_fill(g, d, index_1d, 0)

    return for_self, for_src


def _input_vjp(grad, input, dim, index, src, reduce, include_self, result):
    return _vjps(input, dim, index, src, reduce, include_self, result)[0](grad)


def _src_vjp(grad, input, dim, index, src, reduce, include_self, result):
    return _vjps(input, dim, index, src, reduce, include_self, result)[1](grad)


def _jvp(input_t, src_t, input, dim, index, src, reduce, include_self, result):
    """Forward mode as torch 2.13's: linear for sum and mean; for amax/amin the tangents
    of the elements equal to the result, averaged over the ties (the VJP transposed);
    none for prod (torch gives its result no tangent)."""
    if reduce in ("sum", "mean"):
        return F.scatter_reduce(input_t, dim, index, src_t, reduce, include_self=include_self)
    if reduce == "prod":
        return None
    x, s, r, idx = _raw(input), _raw(src), _raw(result), _raw(index).astype(np.int64)
    if x.ndim == 0:
        return F.reshape(_jvp(F.reshape(input_t, (1,)), F.reshape(src_t, (1,)), x.reshape(1),
                              dim, idx.reshape(1), s.reshape(1), reduce, include_self,
                              r.reshape(1)), ())
    d, key = _places(x.shape, dim, idx)
    take = tuple(slice(0, n) for n in idx.shape)
    s = s[take]
    if tuple(src_t.shape) != idx.shape:
        src_t = src_t[take]
    self_is = (x == r).astype(x.dtype)
    if not include_self:
        self_is[key] = 0  # (and, unlike the VJP's, its ties not counted: torch's)
    src_is = (s == np.take_along_axis(r, idx, d)).astype(x.dtype)
    count = self_is.copy()
    np.add.at(count, key, src_is)
    count = np.maximum(count, 1.0)
    return F.scatter_reduce(input_t * self_is, d, idx, src_t * src_is, "sum") / count


_IDX = np.array([[0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 1, 1]])
op("scatter_reduce.two(Tensor input, int dim, Tensor index, Tensor src, str reduce, *, "
   "bool include_self=True) -> Tensor", "ScatterReduceBackward0", nondiff=("index",),
   jvp=_jvp, dtype="none",
   forward=_reduce_into, vjp={"input": _input_vjp, "src": _src_vjp},
   shape=lambda input, dim, index, src, reduce, include_self=True: input,
   samples=explicit(*[
       (lambda r, how=how, own=own: Sample((rand(r, 2, 4), 0, Const(_IDX), rand(r, 3, 4), how),
                                           {"include_self": own}))
       for how in ("sum", "prod", "mean", "amax", "amin") for own in (True, False)]))


def _along(index, source_shape, dim):
    """index_reduce's 1-D index as scatter's: index[j] wherever source's dim is j."""
    if not source_shape:
        return np.reshape(_raw(index), ()), 0
    d = normalize_dim(dim, len(source_shape))
    shape = [1] * len(source_shape)
    shape[d] = -1
    return np.broadcast_to(np.reshape(_raw(index), shape), tuple(source_shape)).copy(), d


_warned = []  # torch's TORCH_WARN_ONCE: once a process


def _index_reduce(input, dim, index, source, reduce, include_self=True):
    if not _warned:
        _warned.append(True)
        warnings.warn("index_reduce() is in beta and the API may change at any time.",
                      UserWarning, stacklevel=2)
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise OpError("index_reduce(): Expected reduce to be one of prod, mean, amax or amin "
                      f"but got {reduce}.")
    if input.dtype != source.dtype:
        raise OpError(f"index_reduce_(): self ({dtypes.torch_type_name(input.dtype.name)}) and "
                      f"source ({dtypes.torch_type_name(source.dtype.name)}) must have the same "
                      "scalar type")
    if input.ndim == 0:  # as 1-element vectors
        return _index_reduce(input.reshape(1), dim, index.reshape(1), source.reshape(1),
                             reduce, include_self).reshape(())
    idx, d = _along(index, source.shape, dim)
    return _reduce_into(input, d, idx, source, reduce, include_self)


op("index_reduce(Tensor input, int dim, Tensor index, Tensor source, str reduce, *, "
   "bool include_self=True) -> Tensor", "IndexReduceBackward0", nondiff=("index",),
   dtype="none", forward=_index_reduce,  # (no forward mode: torch has none)
   vjp={"input": lambda grad, input, dim, index, source, reduce, include_self, result:
        _vjps(input, *_along(index, source.shape, dim)[::-1], source, reduce, include_self,
              result, "index_reduce", index)[0](grad),
        "source": lambda grad, input, dim, index, source, reduce, include_self, result:
        _vjps(input, *_along(index, source.shape, dim)[::-1], source, reduce, include_self,
              result, "index_reduce", index)[1](grad)},
   shape=lambda input, dim, index, source, reduce, include_self=True: input,
   samples=explicit(*[
       (lambda r, how=how, own=own: Sample((rand(r, 3, 2), 0, Const(np.array([0, 2, 0, 2])),
                                            rand(r, 4, 2), how), {"include_self": own}))
       for how in ("prod", "mean", "amax", "amin") for own in (True, False)]))


# -- writing one value at the places an index says (what the 'prod' rules above use, as
#    torch's: scatter(dim, index, 0), index_fill(dim, index, 0))

def _value_fill(schema: str, grad_fn: str, forward, samples) -> None:
    """A row writing ``value`` where its index says: its derivative is the same op writing
    0 there (torch's scatter(dim, index, 0), index_fill(dim, index, 0))."""
    name = schema[:schema.index(".")]
    op(schema, grad_fn, nondiff=("index",), dtype="none", forward=forward,
       vjp={"input": lambda grad, dim, index: getattr(F, name)(grad, dim, index, 0)},
       jvp=lambda input_t, dim, index: getattr(F, name)(input_t, dim, index, 0),
       shape=lambda input, dim, index, value: input, samples=samples)


def _scatter_value(input, dim, index, value):
    if np.dtype(index.dtype).kind not in "iu":
        raise OpError("scatter(): Expected dtype int32/int64 for index")
    if input.ndim == 0:  # as a 1-element vector
        return _scatter_value(input.reshape(1), dim, index.reshape(1), value).reshape(())
    if index.ndim != input.ndim:
        raise OpError("Index tensor must have the same number of dimensions as self tensor")
    _, key = _places(input.shape, dim, index)
    out = input.copy()
    out[key] = value
    return out


_value_fill(
   "scatter.value(Tensor input, int dim, Tensor index, Scalar value) -> Tensor",
   "ScatterBackward1", _scatter_value, explicit(lambda r: Sample((rand(r, 2, 4), 0, Const(_IDX[:2]), 0.0)),
                    lambda r: Sample((rand(r, 3, 4), 1, Const(np.array([[0, 3], [1, 1], [2, 0]])),
                                      1.5)),
                    lambda r: Sample((rand(r), 0, Const(np.array(0)), -2.0))))


def _index_fill(input, dim, index, value):
    if index.dtype != np.int64:
        raise IndexOpError("index_fill_(): Expected dtype int64 for index.")
    if index.ndim > 1:
        raise OpError("Index has to be a vector/scalar")
    d = normalize_dim(dim, input.ndim)
    size = input.shape[d] if input.ndim else 1
    idx = np.reshape(index, (-1,))
    bad = (idx < -size) | (idx >= size)
    if bool(np.any(bad)):
        raise IndexOpError(f"index {int(idx[bad][0])} is out of bounds for dimension {d} with "
                           f"size {size}")
    if input.ndim == 0:  # (a raw 0-d gradient may be a NumPy scalar, which takes no writes)
        return np.full_like(input, value) if idx.size else input.copy()
    out = input.copy()
    where = [slice(None)] * input.ndim
    where[d] = idx
    out[tuple(where)] = value
    return out


_value_fill(
   "index_fill.int_Scalar(Tensor input, int dim, Tensor index, Scalar value) -> Tensor",
   "IndexFillBackward0", _index_fill, explicit(lambda r: Sample((rand(r, 3, 2), 0, Const(np.array([0, 2])), 0.0)),
                    lambda r: Sample((rand(r, 2, 4), 1, Const(np.array([-1, 1, 1])), 2.5)),
                    lambda r: Sample((rand(r), 0, Const(np.array([0])), -1.0))))
