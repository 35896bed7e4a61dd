"""Reductions and scans: sum, mean, prod, max/min (full, dim, other), amax/amin,
argmax/argmin, var/std, norm, cumsum/cumprod, logsumexp, and sum_to (the engine's
unbroadcast); softmax/log_softmax are engine/ops/softmax.py.

VJPs follow torch's FunctionsManual.cpp formulas (prod_backward, evenly_distribute_backward,
value_selecting_reduction_backward, var_backward, norm_backward, cumprod_backward, ...), with
the same saved values. Masks and indices (which element was the max, where the zeros are)
are never differentiated, so they are computed with NumPy on the raw arrays (``_raw``); the
differentiable parts use F.* only, so the same code gives double backward.
"""

import warnings

import numpy as np

from .. import dtypes
from ..backend import module_of
from ..errors import OpError
from . import table as _table
from .samples import Const, Sample, explicit, rand
from .table import F, broadcast_shapes, contiguous, normalize_dim
from .table import op as _table_op


def op(schema, grad_fn, **fields):
    """table.op, with outputs made C-contiguous: torch allocates every reduction's and
    scan's output contiguous, while NumPy may hand back strided results for permuted inputs
    (and contiguity decides later view/reshape graphs)."""
    forward = fields.get("forward")
    if forward is not None and not fields.get("composite"):
        fields["forward"] = _contiguous_outputs(forward)
    return _table_op(schema, grad_fn, **fields)


def _contiguous_outputs(forward):
    def run(*args):
        out = forward(*args)
        if isinstance(out, tuple):
            return tuple(_c_order(o) for o in out)
        return _c_order(out)
    run.__name__ = getattr(forward, "__name__", "forward")
    run.__doc__ = forward.__doc__
    return run


def _c_order(a):
    return a if a.flags.c_contiguous else a.copy(order="C")


def dims_of(dim, ndim) -> tuple:
    """dim (int, list, or None = all) -> sorted non-negative dims."""
    if dim is None or dim == () or dim == []:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    if ndim == 0:  # torch lets a 0-d tensor take dim 0 and -1; there is nothing to reduce
        for d in dim:
            normalize_dim(d, 0)
        return ()
    out = sorted(normalize_dim(d, ndim) for d in dim)
    if len(set(out)) != len(out):
        raise OpError(f"dim {out[0]} appears multiple times in the list of dims")
    return tuple(out)


def reduced_shape(shape, dim, keepdim) -> tuple:
    dims = dims_of(dim, len(shape))
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def unsqueeze_to(grad, input_shape, dim, keepdim):
    """Put back the reduced dims (size 1) so grad broadcasts against the input: torch's
    unsqueeze_multiple, one unsqueeze per dim."""
    if keepdim or not input_shape:
        return grad
    for d in dims_of(dim, len(input_shape)):
        grad = F.unsqueeze(grad, d)
    return grad


def _sum(input, dtype=None):
    return np.sum(input, dtype=_np_dtype(dtype, input))


def _sum_dim(input, dim, keepdim=False, dtype=None):
    return np.sum(input, axis=dims_of(dim, input.ndim), keepdims=keepdim,
                  dtype=_np_dtype(dtype, input))


def _np_dtype(dtype, input):
    if dtype is not None:
        return dtypes.as_dtype(dtype).np
    if input.dtype.kind in "biu":  # torch sums integers (and bools) as int64
        return dtypes.int64.np
    return None


def _mean_check(input):
    if input.dtype.kind not in "fc":
        raise OpError("mean(): could not infer output dtype. Input dtype must be either a "
                      "floating point or complex dtype. Got: "
                      f"{dtypes.torch_type_name(input.dtype)}")


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
    lambda r: Sample((rand(r, 2, 3, 2), (1, -1), True)), lambda r: Sample((rand(r, 3), 0)),
    # a 0-d tensor takes dim 0 and -1, as in torch
    lambda r: Sample((rand(r), 0)), lambda r: Sample((rand(r), -1, True)))

op("sum(Tensor input, *, ScalarType? dtype=None) -> Tensor", "SumBackward0",
   jvp="linear",
   forward=_sum, vjp={"input": lambda grad, input_shape: F.expand(grad, input_shape)},
   dtype="none", shape=lambda input, dtype: (), samples=REDUCE_SAMPLES)

def _sum_dim_vjp(grad, input_shape, dim, keepdim):
    return F.expand(unsqueeze_to(grad, input_shape, dim, keepdim), input_shape)


op("sum.dim_IntList(Tensor input, int[]? dim, bool keepdim=False, *, ScalarType? dtype=None)"
   " -> Tensor", "SumBackward1",
   jvp="linear",
   forward=_sum_dim,
   vjp={"input": _sum_dim_vjp},
   dtype="none", shape=lambda input, dim, keepdim, dtype: reduced_shape(input, dim, keepdim),
   samples=REDUCE_DIM_SAMPLES)

op("mean(Tensor input, *, ScalarType? dtype=None) -> Tensor", "MeanBackward0",
   jvp="linear",
   forward=_mean,
   vjp={"input": lambda grad, input_shape: F.expand(grad, input_shape) / max(
       _count(input_shape, None), 1) if input_shape else grad},
   dtype="none", shape=lambda input, dtype: (), samples=REDUCE_SAMPLES)

op("mean.dim(Tensor input, int[]? dim, bool keepdim=False, *, ScalarType? dtype=None)"
   " -> Tensor", "MeanBackward1",
   jvp="linear",
   forward=_mean_dim,
   # sum's gradient spread evenly
   vjp={"input": lambda grad, input_shape, dim, keepdim: _sum_dim_vjp(
       grad, input_shape, dim, keepdim) / _count(input_shape, dim)},
   dtype="none", shape=lambda input, dim, keepdim, dtype: reduced_shape(input, dim, keepdim),
   samples=REDUCE_DIM_SAMPLES)


def _sum_to(input, size):
    """at::sum_to: sum the leading and broadcast dims so the result has shape ``size``."""
    size = tuple(size)
    if not size:  # at::sum_to sums a 0-d target in one go (SumBackward0, no view)
        return F.sum(input)
    shape = tuple(input.shape)
    lead = len(shape) - len(size)
    dims = list(range(lead)) + [lead + i for i, s in enumerate(size)
                                if s == 1 and shape[lead + i] != 1]
    if not isinstance(input, _table._Tensor):  # a first-order walk's array: the same sum
        # and view in one NumPy call, without two dispatches through the table
        if dims:
            input = input.sum(axis=tuple(dims), keepdims=True)
        return input.reshape(size) if lead > 0 else input
    if dims:
        input = F.sum(input, dims, keepdim=True)
    if lead > 0:
        input = F.view(input, size)
    return input


op("sum_to(Tensor input, int[] size) -> Tensor", None, composite=True, method=False,
   forward=_sum_to, shape=lambda input, size: tuple(size))


# --------------------------------------------------------------------------- helpers

def _raw(x):
    """The array behind a Tensor (or the array itself): for masks and indices, which are
    never differentiated, so both backward modes may build them with NumPy."""
    return x.array if isinstance(x, _table._Tensor) else x


def _xp(x):
    return module_of(_raw(x))


def _dtype_of(array):
    return dtypes.from_numpy(array.dtype)


def _dim_shape(ndim, dim, n) -> tuple:
    """A shape of ``ndim`` ones with ``n`` at ``dim``: for masks built along one dim."""
    return tuple(n if i == dim else 1 for i in range(ndim))


def _restore(x, input_shape, dim, keepdim):
    """unsqueeze_to for an optional dim list where None (or []) means every dim."""
    return unsqueeze_to(x, input_shape, dim, keepdim)


def one_dim_shape(shape, dim, keepdim) -> tuple:
    """Output shape of a reduction over one dim (0-d inputs take dim 0 or -1)."""
    if not shape:
        normalize_dim(dim, 0)
        return ()
    return reduced_shape(shape, [dim], keepdim)


# --------------------------------------------------------------------------- prod

def _prod_safe_zeros_backward(grad, inp, dim):
    """torch's prod_safe_zeros_backward: the product of the elements before and after each
    one along dim (exclusive cumprods from both ends), exact at every order whatever the
    zeros."""
    n = inp.shape[dim]
    if n == 0:
        return F.expand(grad, inp.shape)
    ones = F.ones_like(F.narrow(inp, dim, 0, 1))
    exclusive_normal = F.cumprod(F.cat([ones, F.narrow(inp, dim, 0, n - 1)], dim), dim)
    narrow_reverse = F.flip(F.narrow(inp, dim, 1, n - 1), (dim,))
    exclusive_reverse = F.flip(F.cumprod(F.cat([ones, narrow_reverse], dim), dim), (dim,))
    return grad * (exclusive_normal * exclusive_reverse)


def _prod_vjp(grad, input, result, dim=None, keepdim=False):
    """torch's prod_backward."""
    shape = tuple(input.shape)
    if len(shape) == 0:
        return grad
    zeros = _xp(input).any(_raw(input) == 0)
    if dim is None:
        if not zeros:
            return grad * (result / input)
        flat = F.view(contiguous(input), (-1,))
        return F.view(_prod_safe_zeros_backward(grad, flat, 0), shape)
    d = normalize_dim(dim, len(shape))
    if not keepdim:
        grad, result = F.unsqueeze(grad, d), F.unsqueeze(result, d)
    if not zeros:
        return grad * (result / input)
    return _prod_safe_zeros_backward(grad, input, d)


def _prod_dim_forward(input, dim, keepdim=False, dtype=None):
    d = normalize_dim(dim, input.ndim)
    if input.ndim == 0:
        return input.astype(_np_dtype(dtype, input) or input.dtype)
    return np.prod(input, axis=d, keepdims=keepdim, dtype=_np_dtype(dtype, input))


PROD_SAMPLES = explicit(
    lambda r: Sample((rand(r, 3),)), lambda r: Sample((rand(r, 2, 3),)),
    lambda r: Sample((rand(r),)), lambda r: Sample((rand(r, 2, 3, 2, low=0.5),)),
    lambda r: Sample((np.array([1.5, 0.0, -2.0, 0.7]),)),           # one zero
    lambda r: Sample((np.array([[1.5, 0.0], [0.0, 0.7]]),)),          # two zeros
    lambda r: Sample((np.array([0.0, 0.0, 2.0, 0.0]),)),              # three zeros
    lambda r: Sample((np.zeros((0, 2)),), gradcheck=False))  # empty: nothing to perturb

op("prod(Tensor input, *, ScalarType? dtype=None) -> Tensor", "ProdBackward0",
   jvp="transpose",
   forward=lambda input, dtype=None: np.prod(input, dtype=_np_dtype(dtype, input)),
   vjp={"input": lambda grad, input, result: _prod_vjp(grad, input, result)},
   dtype="none", shape=lambda input, dtype: (), samples=PROD_SAMPLES)

op("prod.dim_int(Tensor input, int dim, bool keepdim=False, *, ScalarType? dtype=None)"
   " -> Tensor", "ProdBackward1",
   jvp="transpose",
   forward=_prod_dim_forward,
   vjp={"input": lambda grad, input, result, dim, keepdim: _prod_vjp(
       grad, input, result, dim, keepdim)},
   dtype="none",
   shape=lambda input, dim, keepdim, dtype: one_dim_shape(input, dim, keepdim),
   samples=explicit(
       lambda r: Sample((rand(r, 2, 3), 0)), lambda r: Sample((rand(r, 2, 3), 1, True)),
       lambda r: Sample((rand(r, 2, 3, 2), -1)), lambda r: Sample((rand(r), 0)),
       lambda r: Sample((np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 0.7]]), 1)),
       lambda r: Sample((np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 0.7]]), 0, True)),
       lambda r: Sample((np.array([[0.0, 0.0], [0.0, 3.0], [1.0, 2.0]]), -1))))


# --------------------------------------------------------------------------- max, min, ...

def _evenly_distribute(grad, input, result):
    """torch's evenly_distribute_backward: ties (or NaNs, when the result is NaN) share the
    gradient equally."""
    x, r = _raw(input), _raw(result)
    xp = _xp(x)
    mask = xp.isnan(x) if bool(xp.isnan(r)) else x == r
    return F.where(mask, grad / int(mask.sum()), 0.0)


def _select_index(grad, indices, input_shape, dim, keepdim):
    """value_selecting_reduction_backward: the gradient goes to the returned index only."""
    if not input_shape:
        return grad
    d = normalize_dim(dim, len(input_shape))
    idx = _raw(indices)
    xp = _xp(idx)
    if not keepdim:
        idx = xp.expand_dims(idx, d)
        grad = unsqueeze_to(grad, input_shape, [d], False)
    mask = xp.arange(input_shape[d]).reshape(_dim_shape(len(input_shape), d, -1)) == idx
    return F.where(mask, grad, 0.0)


def _scale_by_count(grad, input, result, dim, keepdim):
    """amax/amin: ties in each reduced slice share its gradient equally."""
    shape = tuple(input.shape)
    r = _raw(result)
    if not keepdim and shape:
        r = r.reshape(reduced_shape(shape, dim, True))
    x = _raw(input)
    mask = x == r
    count = _xp(mask).sum(mask, axis=dims_of(dim, len(shape)), keepdims=True)
    return F.where(mask, _restore(grad, shape, dim, keepdim) / count, 0.0)


def _full_reduce(name, fn):
    def forward(input):
        if input.size == 0:
            raise OpError(f"{name}(): Expected reduction dim to be specified for input.numel() "
                          "== 0. Specify the reduction dim with the 'dim' argument.")
        return fn(input)
    return forward


def _check_nonempty(name, input, dims):
    for d in dims:
        if input.ndim and input.shape[d] == 0:
            raise OpError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def _dim_reduce(name, fn, argfn):
    def forward(input, dim, keepdim=False):
        d = normalize_dim(dim, input.ndim)
        if input.ndim == 0:
            return input.copy(), _xp(input).zeros((), dtype=np.int64)
        _check_nonempty(name, input, [d])
        idx = argfn(input, axis=d, keepdims=keepdim)
        return fn(input, axis=d, keepdims=keepdim), idx.astype(np.int64)
    return forward


def _amax_like(name, fn):
    def forward(input, dim=(), keepdim=False):
        dims = dims_of(dim, input.ndim)
        if not dim and input.size == 0:
            _full_reduce(name, fn)(input)  # raises torch's "specify the dim" text
        _check_nonempty(name, input, dims)
        return fn(input, axis=dims, keepdims=keepdim)
    return forward


def _arg_reduce(name, fn):
    def forward(input, dim=None, keepdim=False):
        if input.dtype.kind == "b":
            raise OpError(f"{name}(): does not support bool input")
        if dim is None:
            if input.size == 0:
                raise OpError(f"{name}(): Expected reduction dim to be specified for "
                              "input.numel() == 0.")
            out = fn(input.reshape(-1), axis=0)
            out = _xp(input).asarray(out, dtype=np.int64)
            return out.reshape((1,) * input.ndim) if keepdim else out
        d = normalize_dim(dim, input.ndim)
        if input.ndim == 0:
            return _xp(input).zeros((), dtype=np.int64)
        _check_nonempty(name, input, [d])
        return fn(input, axis=d, keepdims=keepdim).astype(np.int64)
    return forward


def _arg_shape(input, dim=None, keepdim=False):
    if dim is None:
        return (1,) * len(input) if keepdim else ()
    return one_dim_shape(input, dim, keepdim)


TIES = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]])
FULL_SAMPLES = explicit(
    lambda r: Sample((rand(r, 3),)), lambda r: Sample((rand(r, 2, 3),)),
    lambda r: Sample((rand(r),)),
    lambda r: Sample((TIES.copy(),), gradcheck=False),
    lambda r: Sample((np.array([2.0, 2.0, 2.0, 2.0]),), gradcheck=False),
    lambda r: Sample((np.array([2.0, np.nan, 1.0, np.nan]),), gradcheck=False))
DIM_SAMPLES = explicit(
    lambda r: Sample((rand(r, 2, 3), 0)), lambda r: Sample((rand(r, 2, 3), 1, True)),
    lambda r: Sample((rand(r, 2, 3, 2), -1)), lambda r: Sample((rand(r), 0)),
    lambda r: Sample((rand(r, 4), 0), {"keepdim": True}),
    lambda r: Sample((TIES.copy(), 1), gradcheck=False),
    lambda r: Sample((TIES.copy(), 0), {"keepdim": True}, gradcheck=False),
    lambda r: Sample((np.array([[2.0, np.nan], [1.0, 0.5]]), 1), gradcheck=False))
AMAX_SAMPLES = explicit(
    lambda r: Sample((rand(r, 2, 3),)), lambda r: Sample((rand(r, 2, 3), 0)),
    lambda r: Sample((rand(r, 2, 3), 1, True)), lambda r: Sample((rand(r, 2, 3, 2), [0, 2])),
    lambda r: Sample((rand(r, 2, 3, 2), (-1,), True)), lambda r: Sample((rand(r),)),
    lambda r: Sample((TIES.copy(), 1), gradcheck=False),
    lambda r: Sample((TIES.copy(),), gradcheck=False),
    lambda r: Sample((TIES.copy(), 0, True), gradcheck=False))
ARG_SAMPLES = explicit(
    lambda r: Sample((rand(r, 2, 3),)), lambda r: Sample((rand(r, 2, 3), 1)),
    lambda r: Sample((rand(r, 2, 3), 0, True)),
    lambda r: Sample((rand(r, 2, 3),), {"keepdim": True}),
    lambda r: Sample((TIES.copy(), 1)), lambda r: Sample((rand(r), 0)))

for _name, _fn, _arg in [("max", np.max, np.argmax), ("min", np.min, np.argmin)]:
    _Name = _name.capitalize()
    op(f"{_name}(Tensor input) -> Tensor", f"{_Name}Backward1",
       jvp="transpose",
       forward=_full_reduce(_name, _fn),
       vjp={"input": lambda grad, input, result: _evenly_distribute(grad, input, result)},
       dtype="none", shape=lambda input: (), samples=FULL_SAMPLES)
    op(f"{_name}.dim(Tensor input, int dim, bool keepdim=False)"
       " -> (Tensor values, Tensor indices)", f"{_Name}Backward0",
       jvp="transpose",
       forward=_dim_reduce(_name, _fn, _arg),
       vjp={"input": lambda grad, result1, input_shape, dim, keepdim: _select_index(
           grad, result1, input_shape, dim, keepdim)},
       dtype="none", shape=lambda input, dim, keepdim: [one_dim_shape(input, dim, keepdim)] * 2,
       samples=DIM_SAMPLES)
    op(f"a{_name}(Tensor input, int[] dim=[], bool keepdim=False) -> Tensor",
       f"A{_name}Backward0",
       jvp="transpose",
       forward=_amax_like(f"a{_name}", _fn),
       vjp={"input": lambda grad, input, result, dim, keepdim: _scale_by_count(
           grad, input, result, dim, keepdim)},
       dtype="none", shape=lambda input, dim, keepdim: reduced_shape(input, dim, keepdim),
       samples=AMAX_SAMPLES)
    op(f"arg{_name}(Tensor input, int? dim=None, bool keepdim=False) -> Tensor", None,
       forward=_arg_reduce(f"arg{_name}", _arg), dtype="none", shape=_arg_shape,
       samples=ARG_SAMPLES)


# --------------------------------------------------------------------------- var, std

def _correction(unbiased=True, correction=None):
    return correction if correction is not None else (1 if unbiased else 0)


def _var_forward(name):
    def forward(input, dim=None, correction=1, keepdim=False):
        if input.dtype.kind not in "fc":
            raise OpError("std and var only support floating point and complex dtypes")
        dims = dims_of(dim, input.ndim)
        n = _count(input.shape, dim)
        if n - correction <= 0:
            warnings.warn(f"{name}(): degrees of freedom is <= 0. Correction should be strictly "
                          "less than the reduction factor (input numel divided by output "
                          "numel).", UserWarning, stacklevel=2)
        mean = np.mean(input, axis=dims, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.sum((input - mean) ** 2, axis=dims, keepdims=keepdim) / max(
                0, n - correction)
            out = out.astype(input.dtype, copy=False)
            return np.sqrt(out) if name == "std" else out
    return forward


def _var_vjp(grad, input, dim, correction, keepdim):
    """torch's var_backward (the full-reduction branch keeps its NaN/inf answer when there
    are no degrees of freedom left)."""
    shape = tuple(input.shape)
    if not shape or dim is None:
        dof = _count(shape, None) - correction
        if dof <= 0:
            mean = F.mean(input)
            xp, x = _xp(input), _raw(input)
            return grad * xp.where(x == _raw(mean), xp.nan, xp.inf).astype(x.dtype)
        return F._mul_scalar(grad, 2.0 / dof) * (input - F.mean(input))
    if not keepdim and len(shape) > 1:
        grad = unsqueeze_to(grad, shape, dim, False)
    d = _count(shape, dim) - correction
    return F._mul_scalar(grad, 2.0 / d if d else float("inf")) * (input - F.mean(
        input, dims_of(dim, len(shape)), keepdim=True))


def _std_vjp(grad, input, result, dim, correction, keepdim):
    grad_var = F._masked_fill(grad / F._mul_scalar(result, 2), _raw(result) == 0, 0.0)
    return _var_vjp(grad_var, input, dim, correction, keepdim)


VAR_SAMPLES = explicit(
    lambda r: Sample((rand(r, 3),)), lambda r: Sample((rand(r, 2, 3),), {"unbiased": False}),
    lambda r: Sample((rand(r, 2, 3), False)),
    lambda r: Sample((rand(r),), gradcheck=False))          # 0-d: NaN
VAR_DIM_SAMPLES = explicit(
    lambda r: Sample((rand(r, 2, 3), 0)), lambda r: Sample((rand(r, 2, 3), 1, False, True)),
    lambda r: Sample((rand(r, 2, 3, 2), [0, 2])),
    lambda r: Sample((rand(r, 2, 3, 2), (-1,)), {"keepdim": True}),
    lambda r: Sample((rand(r, 3),), {"dim": 0}),
    lambda r: Sample((rand(r, 2, 1), 1), gradcheck=False))  # one element per slice: NaN
VAR_CORRECTION_SAMPLES = explicit(
    lambda r: Sample((rand(r, 2, 3), 1), {"correction": 0}),
    lambda r: Sample((rand(r, 4, 3),), {"dim": 0, "correction": 2, "keepdim": True}),
    lambda r: Sample((rand(r, 2, 3),), {"correction": 0.5}),
    lambda r: Sample((rand(r, 3),), {"dim": None, "correction": 0}),
    lambda r: Sample((rand(r, 2, 3),), {"dim": [0, 1], "correction": 3}))

for _name in ("var", "std"):
    _Name = _name.capitalize()
    _vjp = ({"input": lambda grad, input, dim, unbiased, keepdim=False: _var_vjp(
        grad, input, dim, _correction(unbiased), keepdim)} if _name == "var" else
        {"input": lambda grad, input, result, dim, unbiased, keepdim=False: _std_vjp(
            grad, input, result, dim, _correction(unbiased), keepdim)})
    _fwd = _var_forward(_name)
    op(f"{_name}(Tensor input, bool unbiased=True) -> Tensor", f"{_Name}Backward0",
       jvp="transpose",
       forward=lambda input, unbiased, _f=_fwd: _f(input, None, _correction(unbiased)),
       vjp={"input": (lambda grad, input, unbiased: _var_vjp(
           grad, input, None, _correction(unbiased), False)) if _name == "var" else (
           lambda grad, input, result, unbiased: _std_vjp(
               grad, input, result, None, _correction(unbiased), False))},
       dtype="none", shape=lambda input, unbiased: (), samples=VAR_SAMPLES)
    op(f"{_name}.dim(Tensor input, int[]? dim, bool unbiased=True, bool keepdim=False)"
       " -> Tensor", f"{_Name}Backward0",
       jvp="transpose",
       forward=lambda input, dim, unbiased, keepdim, _f=_fwd: _f(
           input, dim, _correction(unbiased), keepdim),
       vjp=_vjp, dtype="none",
       shape=lambda input, dim, unbiased, keepdim: reduced_shape(input, dim, keepdim),
       samples=VAR_DIM_SAMPLES)
    op(f"{_name}.correction(Tensor input, int[]? dim=None, *, Scalar? correction=None,"
       " bool keepdim=False) -> Tensor", f"{_Name}Backward0",
       jvp="transpose",
       forward=lambda input, dim, correction, keepdim, _f=_fwd: _f(
           input, dim, _correction(True, correction), keepdim),
       vjp={"input": (lambda grad, input, dim, correction, keepdim: _var_vjp(
           grad, input, dim, _correction(True, correction), keepdim)) if _name == "var" else (
           lambda grad, input, result, dim, correction, keepdim: _std_vjp(
               grad, input, result, dim, _correction(True, correction), keepdim))},
       dtype="none",
       shape=lambda input, dim, correction, keepdim: reduced_shape(input, dim, keepdim),
       samples=VAR_CORRECTION_SAMPLES)


# --------------------------------------------------------------------------- norm

def _ord(p, dim) -> float:
    """torch.norm's p: a number, or 'fro' (the 2-norm over at most two dims)."""
    if isinstance(p, str):
        if p == "fro":
            if dim is not None and not isinstance(dim, int) and len(dim) > 2:
                raise OpError("linalg.matrix_norm: dim must be a 2-tuple. Got "
                              + " ".join(str(d) for d in dim))
            return 2.0
        if p == "nuc":
            raise OpError("norm(): p='nuc' (the nuclear norm) is not supported")
        raise OpError(f"linalg.matrix_norm: Order {p} not supported.")
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise OpError(f"norm(): argument 'p' must be a number or 'fro', not {type(p).__name__}")
    return float(p)


def _norm_forward(input, p="fro", dim=None, keepdim=False, dtype=None):
    if input.dtype.kind not in "fc":
        raise OpError("linalg.vector_norm: Expected a floating point or complex tensor as "
                      f"input. Got {dtypes.torch_type_name(_dtype_of(input))}")
    if dtype is not None:
        input = input.astype(dtypes.as_dtype(dtype).np)
    ord_ = _ord(p, dim)
    dims = dims_of(dim, input.ndim)
    a = np.abs(input)
    if ord_ in (float("inf"), float("-inf")):
        if input.size == 0 and (not dim or any(input.shape[d] == 0 for d in dims)):
            raise OpError("linalg.vector_norm cannot compute the inf norm on an empty tensor "
                          "because the operation does not have an identity")
        fn = np.max if ord_ > 0 else np.min
        return fn(a, axis=dims, keepdims=keepdim).astype(input.dtype, copy=False)
    if ord_ == 0:
        out = np.sum(a != 0, axis=dims, keepdims=keepdim)
    elif ord_ == 2:
        out = np.sqrt(np.sum(a * a, axis=dims, keepdims=keepdim))
    elif ord_ == 1:
        out = np.sum(a, axis=dims, keepdims=keepdim)
    else:
        with np.errstate(divide="ignore"):
            out = np.sum(a ** ord_, axis=dims, keepdims=keepdim) ** (1.0 / ord_)
    return out.astype(input.dtype, copy=False)


def _norm_vjp(grad, input, result, p, dim, keepdim):
    """torch's norm_backward, case by case."""
    ord_ = _ord(p, dim)
    shape = tuple(input.shape)
    if not keepdim and shape:
        grad = unsqueeze_to(grad, shape, dim, False)
        result = unsqueeze_to(result, shape, dim, False)
    if ord_ == 0:
        return None  # torch returns an undefined gradient: nothing flows
    if ord_ == 1:
        return F.sgn(input) * grad
    zero_norm = _raw(result) == 0
    if ord_ == 2:
        return grad * F._masked_fill(input / result, zero_norm, 0.0)
    if ord_ in (float("inf"), float("-inf")):
        a = _xp(input).abs(_raw(input))
        mask = (a == _raw(result)) | _xp(a).isnan(a)
        count = _xp(mask).sum(mask, axis=dims_of(dim, len(shape)), keepdims=True)
        count = count.astype(_raw(grad).dtype)  # a float count keeps grad's dtype
        return F.sgn(input) * ((grad / count) * mask)
    if ord_ < 1:
        scaled = F.sgn(input) * F._masked_fill(F.abs(input) ** (ord_ - 1), _raw(input) == 0,
                                               0.0)
        return scaled * grad * result ** (1 - ord_)
    scaled = (F.sgn(input) * F.abs(input) ** (ord_ - 1) if ord_ < 2 else
              input * F.abs(input) ** (ord_ - 2))
    return scaled * F._masked_fill(grad / result ** (ord_ - 1), zero_norm, 0.0)


def _norm_shape(input, p="fro", dim=None, keepdim=False, dtype=None):
    _ord(p, dim)
    return reduced_shape(input, dim, keepdim)


INF = float("inf")
op("norm(Tensor input, Any p='fro', int[]? dim=None, bool keepdim=False, *,"
   " ScalarType? dtype=None) -> Tensor", "LinalgVectorNormBackward0",
   jvp="transpose",
   forward=_norm_forward,
   vjp={"input": lambda grad, input, result, p, dim, keepdim: _norm_vjp(
       grad, input, result, p, dim, keepdim)},
   dtype="none", shape=_norm_shape,
   samples=explicit(
       lambda r: Sample((rand(r, 3),)), lambda r: Sample((rand(r, 2, 3),)),
       lambda r: Sample((rand(r, 2, 3), 2, 1)), lambda r: Sample((rand(r, 2, 3), 2, 0, True)),
       lambda r: Sample((rand(r, 2, 3),), {"dim": -1}),
       lambda r: Sample((rand(r, 2, 3, 2),), {"p": "fro", "dim": (0, 2)}),
       lambda r: Sample((rand(r, 2, 3, low=0.2),), {"p": 1}),
       lambda r: Sample((rand(r, 2, 3, low=0.2), 1, 1)),
       lambda r: Sample((rand(r, 2, 3), INF, 1)),
       lambda r: Sample((rand(r, 2, 3), INF)),
       lambda r: Sample((rand(r, 2, 3), -INF, 0)),
       lambda r: Sample((rand(r, 2, 3, low=0.2), 3, 1)),
       lambda r: Sample((rand(r, 2, 3, low=0.2), 1.5)),
       lambda r: Sample((rand(r, 2, 3, low=0.2), 0.5, 0)),
       lambda r: Sample((rand(r, 2, 3), 0), gradcheck=False),
       lambda r: Sample((np.array([[3.0, -3.0, 1.0], [0.0, 0.0, 0.0]]), INF, 1), gradcheck=False),
       lambda r: Sample((np.array([[0.0, 0.0], [3.0, 4.0]]), 2, 1), gradcheck=False),
       lambda r: Sample((rand(r),))))


# --------------------------------------------------------------------------- scans

def _scan_forward(fn):
    def forward(input, dim, dtype=None):
        d = normalize_dim(dim, input.ndim)
        if input.ndim == 0:
            return input.astype(_np_dtype(dtype, input) or input.dtype)
        return fn(input, axis=d, dtype=_np_dtype(dtype, input))
    return forward


def _reversed_cumsum(grad, dim):
    """sum over j >= i along dim: torch's reversed_cumsum (flip, cumsum, flip back)."""
    return F.flip(F.cumsum(F.flip(grad, (dim,)), dim), (dim,))


def _cumsum_vjp(grad, input_shape, dim):
    if not input_shape or input_shape[normalize_dim(dim, len(input_shape))] == 1:
        return grad
    return _reversed_cumsum(grad, normalize_dim(dim, len(input_shape)))


def _cumprod_vjp(grad, input, dim, result):
    """torch's cumprod_backward: without zeros, reversed_cumsum(grad * result) / input. With
    zeros, each input's gradient is sum_{i >= k} grad_i * prod_{j <= i, j != k} x_j, built
    from an (n, n) table along dim in which row k has x_k replaced by 1 (so it stays exact,
    and differentiable, whatever the zeros)."""
    shape = tuple(input.shape)
    if not shape:
        return grad
    d = normalize_dim(dim, len(shape))
    n = shape[d]
    if n == 1:
        return grad
    x = _raw(input)
    xp = _xp(x)
    if not xp.any(x == 0):
        return _reversed_cumsum(grad * result, d) / input
    if isinstance(input, _tensor_class()):
        return _cumprod_backward_with_zeros(grad, input, d, n)
    pre, post = shape[:d], shape[d + 1:]
    table_shape = (1,) * len(pre) + (n, n) + (1,) * len(post)
    k, i = xp.arange(n).reshape(n, 1), xp.arange(n).reshape(1, n)
    eye, later = (k == i).reshape(table_shape), (i >= k).reshape(table_shape)
    rows = F.where(eye, 1.0, F.reshape(input, pre + (1, n) + post))
    prods = F.cumprod(rows, d + 1)
    return F.sum(F.where(later, prods * F.reshape(grad, pre + (1, n) + post), 0.0), d + 1)


def _tensor_class():
    return _table._Tensor


def _cumprod_backward_with_zeros(grad, input, d, n):
    """torch's cumprod_backward under grad mode (create_graph): for each k, the products of
    the elements other than x_k, written into a zeros tensor slice by slice (CopySlices)."""
    ones = F.expand(F.ones_like(F.narrow(input, d, 0, 1)), tuple(
        1 if i == d else s for i, s in enumerate(input.shape)))
    grad_input = F.zeros_like(grad)
    for k in range(n):
        if k == 0:
            omitted = F.cat([ones, F.cumprod(F.narrow(input, d, 1, n - 1), d)], d)
        elif k == n - 1:
            omitted = F.prod(F.narrow(input, d, 0, k), d, True)
        else:
            until_k = F.prod(F.narrow(input, d, 0, k), d, True)
            from_k_plus_1 = F.cumprod(F.narrow(input, d, k + 1, n - k - 1), d)
            omitted = F.cat([until_k, F.expand(until_k, tuple(from_k_plus_1.shape))
                             * from_k_plus_1], d)
        grad_slice = F.sum(F.narrow(grad, d, k, n - k) * omitted, d)
        grad_input = F.copy_slices(grad_input, (slice(None),) * d + (k,), grad_slice)
    return grad_input


SCAN_SAMPLES = [
    lambda r: Sample((rand(r, 4), 0)), lambda r: Sample((rand(r, 2, 3), 1)),
    lambda r: Sample((rand(r, 2, 3), -2)), lambda r: Sample((rand(r, 2, 3, 2), 1)),
    lambda r: Sample((rand(r), 0)), lambda r: Sample((rand(r, 1, 3), 0)),
    lambda r: Sample((rand(r, 2, 3), 1), {"dtype": "float64"})]

op("cumsum(Tensor input, int dim, *, ScalarType? dtype=None) -> Tensor", "CumsumBackward0",
   jvp="linear",
   forward=_scan_forward(np.cumsum),
   vjp={"input": lambda grad, input_shape, dim: _cumsum_vjp(grad, input_shape, dim)},
   dtype="none", shape=lambda input, dim, dtype: (normalize_dim(dim, len(input)), input)[1],
   samples=explicit(*SCAN_SAMPLES),
   torch=lambda torch, input, dim, dtype=None: torch.cumsum(
       input, dim, dtype=getattr(torch, dtype) if dtype else None))

op("cumprod(Tensor input, int dim, *, ScalarType? dtype=None) -> Tensor", "CumprodBackward0",
   jvp="transpose",
   forward=_scan_forward(np.cumprod),
   vjp={"input": lambda grad, input, dim, result: _cumprod_vjp(grad, input, dim, result)},
   dtype="none", shape=lambda input, dim, dtype: (normalize_dim(dim, len(input)), input)[1],
   samples=explicit(
       *SCAN_SAMPLES,
       lambda r: Sample((np.array([1.5, 0.0, -2.0, 0.7]), 0)),                 # one zero
       lambda r: Sample((np.array([[1.5, 0.0, 2.0, 0.0], [0.5, 0.3, 0.0, 2.0]]), 1)),
       lambda r: Sample((np.array([[0.0, 0.0], [0.0, 3.0], [1.0, 2.0]]), 0))),
   torch=lambda torch, input, dim, dtype=None: torch.cumprod(
       input, dim, dtype=getattr(torch, dtype) if dtype else None))


# --------------------------------------------------------------------------- logsumexp

def _logsumexp(input, dim, keepdim=False):
    dims = dims_of(dim, input.ndim) if input.ndim else (dims_of(dim, 0), ())[1]
    m = np.max(input, axis=dims, keepdims=True) if input.size else _xp(input).zeros(
        reduced_shape(input.shape, dims, True), dtype=input.dtype)
    m = np.where(np.isinf(m), 0, m)  # all -inf (or +inf) slices: no shift
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(input - m), axis=dims, keepdims=True)) + m
    out = out if keepdim else out.reshape(reduced_shape(input.shape, dims, False))
    return out.astype(input.dtype, copy=False)


def _logsumexp_vjp(grad, input, result, dim, keepdim):
    shape = tuple(input.shape)
    if not keepdim and shape:
        grad = unsqueeze_to(grad, shape, dim, False)
        result = unsqueeze_to(result, shape, dim, False)
    return grad * F.exp(input - result)


op("logsumexp(Tensor input, int[] dim, bool keepdim=False) -> Tensor", "LogsumexpBackward0",
   jvp="transpose",
   forward=_logsumexp,
   vjp={"input": lambda grad, input, result, dim, keepdim: _logsumexp_vjp(
       grad, input, result, dim, keepdim)},
   dtype="float", shape=lambda input, dim, keepdim: reduced_shape(input, dim, keepdim),
   samples=explicit(
       lambda r: Sample((rand(r, 2, 3), 0)), lambda r: Sample((rand(r, 2, 3), 1, True)),
       lambda r: Sample((rand(r, 2, 3, 2), [0, 2])),
       lambda r: Sample((rand(r, 2, 3, 2), (-1,)), {"keepdim": True}),
       lambda r: Sample((rand(r, 3) * 40, 0)), lambda r: Sample((rand(r), 0)),
       lambda r: Sample((np.array([[1.0, 1.0], [-np.inf, 2.0]]), 1), gradcheck=False),
       lambda r: Sample((Const(np.array([[1, 2, 3], [0, 5, 1]])), 1))))


for _name, _elementwise in [("max", "maximum"), ("min", "minimum")]:
    op(f"{_name}.other(Tensor input, Tensor other) -> Tensor", None, composite=True,
       forward=lambda input, other, _e=_elementwise: getattr(F, _e)(input, other),
       shape=lambda input, other: broadcast_shapes(input, other),
       samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3))),
                        lambda r: Sample((rand(r, 2, 3), rand(r, 3)))))
