"""Reductions: sum, mean, ... with dim/keepdim, and sum_to (the engine's unbroadcast)."""

import numpy as np

from ..errors import OpError
from .samples import Sample, explicit, rand
from .table import F, normalize_dim, op


def dims_of(dim, ndim) -> tuple:
    """dim (int, list, or None = all) -> sorted non-negative dims."""
    if dim is None or dim == () or dim == []:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    out = sorted(normalize_dim(d, max(ndim, 1)) if ndim else normalize_dim(d, 0) for d in dim)
    if len(set(out)) != len(out):
        raise OpError(f"dim {out[0]} appears multiple times in the list of dims")
    return tuple(out)


def reduced_shape(shape, dim, keepdim) -> tuple:
    dims = dims_of(dim, len(shape))
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def unsqueeze_to(grad, input_shape, dim, keepdim):
    """Put back the reduced dims (size 1) so grad broadcasts against the input."""
    if keepdim or not input_shape:
        return grad
    dims = dims_of(dim, len(input_shape))
    return F.reshape(grad, reduced_shape(input_shape, dims, True))


def _sum(input, dtype=None):
    return np.sum(input, dtype=_np_dtype(dtype, input))


def _sum_dim(input, dim, keepdim=False, dtype=None):
    return np.sum(input, axis=dims_of(dim, input.ndim), keepdims=keepdim,
                  dtype=_np_dtype(dtype, input))


def _np_dtype(dtype, input):
    from ..dtypes import as_dtype, int64
    if dtype is not None:
        return as_dtype(dtype).np
    if input.dtype.kind in "biu":  # torch sums integers (and bools) as int64
        return int64.np
    return None


def _mean_check(input):
    if input.dtype.kind not in "fc":
        from ..dtypes import from_numpy
        raise OpError("mean(): could not infer output dtype. Input dtype must be either a "
                      f"floating point or complex dtype. Got: {_long_name(from_numpy(input.dtype))}")


def _long_name(d):
    return {"int64": "Long", "int32": "Int", "bool": "Bool", "uint8": "Byte"}.get(d.name, d.name)


def _mean(input, dtype=None):
    _mean_check(input)
    return np.mean(input, dtype=_np_dtype(dtype, input))


def _mean_dim(input, dim, keepdim=False, dtype=None):
    _mean_check(input)
    return np.mean(input, axis=dims_of(dim, input.ndim), keepdims=keepdim,
                   dtype=_np_dtype(dtype, input))


def _count(shape, dim):
    n = 1
    for d in dims_of(dim, len(shape)):
        n *= shape[d]
    return n


REDUCE_SAMPLES = explicit(
    lambda r: Sample((rand(r, 3),)), lambda r: Sample((rand(r, 2, 3),)),
    lambda r: Sample((rand(r),)), lambda r: Sample((rand(r, 2, 3, 2),)))
REDUCE_DIM_SAMPLES = explicit(
    lambda r: Sample((rand(r, 2, 3), 0)), lambda r: Sample((rand(r, 2, 3), 1, True)),
    lambda r: Sample((rand(r, 2, 3), -1)), lambda r: Sample((rand(r, 2, 3, 2), [0, 2])),
    lambda r: Sample((rand(r, 2, 3, 2), (1, -1), True)), lambda r: Sample((rand(r, 3), 0)))

op("sum(Tensor input, *, ScalarType? dtype=None) -> Tensor", "SumBackward0",
   forward=_sum, vjp={"input": lambda grad, input_shape: F.expand(grad, input_shape)},
   dtype="none", shape=lambda input, dtype: (), samples=REDUCE_SAMPLES)

op("sum.dim_IntList(Tensor input, int[]? dim, bool keepdim=False, *, ScalarType? dtype=None)"
   " -> Tensor", "SumBackward1",
   forward=_sum_dim,
   vjp={"input": lambda grad, input_shape, dim, keepdim: F.expand(
       unsqueeze_to(grad, input_shape, dim, keepdim), input_shape)},
   dtype="none", shape=lambda input, dim, keepdim, dtype: reduced_shape(input, dim, keepdim),
   samples=REDUCE_DIM_SAMPLES)

op("mean(Tensor input, *, ScalarType? dtype=None) -> Tensor", "MeanBackward0",
   forward=_mean,
   vjp={"input": lambda grad, input_shape: F.expand(grad, input_shape) / max(
       _count(input_shape, None), 1) if input_shape else grad},
   dtype="none", shape=lambda input, dtype: (), samples=REDUCE_SAMPLES)

op("mean.dim(Tensor input, int[]? dim, bool keepdim=False, *, ScalarType? dtype=None)"
   " -> Tensor", "MeanBackward1",
   forward=_mean_dim,
   vjp={"input": lambda grad, input_shape, dim, keepdim: F.expand(
       unsqueeze_to(grad, input_shape, dim, keepdim), input_shape) / _count(input_shape, dim)},
   dtype="none", shape=lambda input, dim, keepdim, dtype: reduced_shape(input, dim, keepdim),
   samples=REDUCE_DIM_SAMPLES)


def _sum_to(input, size):
    """at::sum_to: sum the leading and broadcast dims so the result has shape ``size``."""
    size = tuple(size)
    shape = tuple(input.shape)
    lead = len(shape) - len(size)
    dims = list(range(lead)) + [lead + i for i, s in enumerate(size)
                                if s == 1 and shape[lead + i] != 1]
    if dims:
        input = F.sum(input, dims, keepdim=True)
    if lead > 0:
        input = F.view(input, size)
    return input


op("sum_to(Tensor input, int[] size) -> Tensor", None, composite=True, method=False,
   forward=_sum_to, shape=lambda input, size: tuple(size))
