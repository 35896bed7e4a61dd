"""scatter_reduce and index_reduce: src's elements reduced (sum, prod, mean, amax, amin)
into input at the places an index says, with torch's scatter_reduce_backward (ties of
amax/amin share their gradient; mean divides by each place's count). The derivative of
'prod' (torch's has cases of its own for zeros) raises, as a missing derivative does."""

import numpy as np

from .. import dtypes
from ..errors import DerivativeNotImplemented, KernelNotImplemented, OpError
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


def _vjps(input, dim, index, src, reduce, include_self, result):
    """(input's gradient, src's gradient) as functions of grad: torch's
    scatter_reduce_backward."""
    x, s, r, idx = _raw(input), _raw(src), _raw(result), _raw(index).astype(np.int64)
    if x.ndim == 0:  # as 1-element vectors
        fns = _vjps(x.reshape(1), dim, idx.reshape(1), s.reshape(1), reduce, include_self,
                    r.reshape(1))
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
    if reduce == "prod":  # torch's formula has its own cases for zeros: not written yet
        raise DerivativeNotImplemented("the derivative of scatter_reduce and index_reduce "
                                       "with reduce='prod' is not implemented here.")
    value = np.take_along_axis(r, idx, d)
    self_is = (x == r).astype(x.dtype)
    src_is = (s == value).astype(x.dtype)
    count = self_is.copy()  # (torch counts the input's ties even when include_self=False)
    np.add.at(count, key, src_is)
    count = np.maximum(count, 1.0)
    return (lambda grad: for_input((grad / count) * self_is),
            lambda grad: F.gather(grad / count, d, idx) * src_is)


def _input_vjp(grad, input, dim, index, src, reduce, include_self, result):
    return _vjps(input, dim, index, src, reduce, include_self, result)[0](grad)


def _src_vjp(grad, input, dim, index, src, reduce, include_self, result):
    return _vjps(input, dim, index, src, reduce, include_self, result)[1](grad)


_IDX = np.array([[0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 1, 1]])
op("scatter_reduce.two(Tensor input, int dim, Tensor index, Tensor src, str reduce, *, "
   "bool include_self=True) -> Tensor", "ScatterReduceBackward0", nondiff=("index",),
   jvp="transpose", dtype="none",
   forward=_reduce_into, vjp={"input": _input_vjp, "src": _src_vjp},
   shape=lambda input, dim, index, src, reduce, include_self=True: input,
   samples=explicit(*[
       (lambda r, how=how, own=own: Sample((rand(r, 2, 4), 0, Const(_IDX), rand(r, 3, 4), how),
                                           {"include_self": own}))
       for how in ("sum", "mean", "amax", "amin") for own in (True, False)]))


def _along(index, source_shape, dim):
    """index_reduce's 1-D index as scatter's: index[j] wherever source's dim is j."""
    if not source_shape:
        return np.reshape(_raw(index), ()), 0
    d = normalize_dim(dim, len(source_shape))
    shape = [1] * len(source_shape)
    shape[d] = -1
    return np.broadcast_to(np.reshape(_raw(index), shape), tuple(source_shape)).copy(), d


def _index_reduce(input, dim, index, source, reduce, include_self=True):
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
   jvp="transpose", dtype="none", forward=_index_reduce,
   vjp={"input": lambda grad, input, dim, index, source, reduce, include_self, result:
        _input_vjp(grad, input, *_along(index, source.shape, dim)[::-1], source, reduce,
                   include_self, result),
        "source": lambda grad, input, dim, index, source, reduce, include_self, result:
        _src_vjp(grad, input, *_along(index, source.shape, dim)[::-1], source, reduce,
                 include_self, result)},
   shape=lambda input, dim, index, source, reduce, include_self=True: input,
   samples=explicit(*[
       (lambda r, how=how, own=own: Sample((rand(r, 3, 2), 0, Const(np.array([0, 2, 0, 2])),
                                            rand(r, 4, 2), how), {"include_self": own}))
       for how in ("mean", "amax", "amin") for own in (True, False)]))
