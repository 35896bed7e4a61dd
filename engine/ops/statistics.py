"""Statistics rows: var_mean and std_mean (one node for both outputs, as torch's
VarMeanBackward0), median (torch's lower median)."""

import numpy as np

from ..errors import OpError
from .reductions import (
    VAR_CORRECTION_SAMPLES,
    _correction,
    _count,
    _evenly_distribute,
    _select_index,
    _std_vjp,
    _var_forward,
    _var_vjp,
    dims_of,
    one_dim_shape,
    reduced_shape,
    unsqueeze_to,
)
from .samples import Sample, explicit, rand
from .table import normalize_dim, op


def _moments(name):
    spread = _var_forward(name)

    def forward(input, dim=None, correction=None, keepdim=False):
        if input.dtype.kind not in "fc":
            raise OpError(f"{name}_mean only support floating point and complex dtypes")
        mean = np.mean(input, axis=dims_of(dim, input.ndim), keepdims=keepdim)
        return spread(input, dim, _correction(True, correction), keepdim), np.asarray(
            mean, dtype=input.dtype)
    return forward


def _mean_part(grad_mean, input, dim, keepdim):
    """mean's backward: the gradient spread evenly over each reduced slice."""
    shape = tuple(input.shape)
    return unsqueeze_to(grad_mean, shape, dim, keepdim) / _count(shape, dim)


def _var_mean_vjp(grads, input, dim, correction, keepdim):
    grad_var, grad_mean = grads
    return (_var_vjp(grad_var, input, dim, _correction(True, correction), keepdim)
            + _mean_part(grad_mean, input, dim, keepdim))


def _std_mean_vjp(grads, input, result0, dim, correction, keepdim):
    grad_std, grad_mean = grads
    return (_std_vjp(grad_std, input, result0, dim, _correction(True, correction), keepdim)
            + _mean_part(grad_mean, input, dim, keepdim))


for _name, _vjp in [("var", _var_mean_vjp), ("std", _std_mean_vjp)]:
    op(f"{_name}_mean.correction(Tensor input, int[]? dim=None, *, Scalar? correction=None, "
       "bool keepdim=False) -> (Tensor, Tensor)", f"{_name.capitalize()}MeanBackward0",
       jvp="transpose", forward=_moments(_name), method=False, dtype="none",
       vjp={"input": _vjp},
       shape=lambda input, dim, correction, keepdim: [reduced_shape(input, dim, keepdim)] * 2,
       samples=VAR_CORRECTION_SAMPLES)


def _lower_median(input):
    if input.size == 0:
        return np.asarray(np.nan, dtype=input.dtype)
    flat = np.sort(input.reshape(-1))
    if np.isnan(flat[-1]):  # NaN propagates
        return np.asarray(np.nan, dtype=input.dtype)
    return np.asarray(flat[(flat.size - 1) // 2])


def _lower_nanmedian(input):
    """The lower median of the values that are not NaN (NaN when there are none)."""
    flat = input.reshape(-1)
    if flat.dtype.kind == "f":
        flat = flat[~np.isnan(flat)]
    if flat.size == 0:
        return np.asarray(np.nan, dtype=input.dtype)
    return np.asarray(np.sort(flat)[(flat.size - 1) // 2])


def _median_dim(input, dim, keepdim=False):
    d = normalize_dim(dim, input.ndim)
    if input.ndim == 0:
        return input.copy(), np.zeros((), dtype=np.int64)
    if input.shape[d] == 0:
        raise OpError(f"median(): Expected reduction dim {d} to have non-zero size.")
    order = np.argsort(input, axis=d, kind="stable")  # NaN sorts last
    k = (input.shape[d] - 1) // 2
    idx = np.take(order, [k], axis=d)
    has_nan = np.isnan(input).any(axis=d, keepdims=True)
    first_nan = np.argmax(np.isnan(input), axis=d, keepdims=True)
    idx = np.where(has_nan, first_nan, idx)
    values = np.take_along_axis(input, idx, axis=d)
    if not keepdim:
        values, idx = np.squeeze(values, d), np.squeeze(idx, d)
    return np.ascontiguousarray(values), np.ascontiguousarray(idx.astype(np.int64))


op("median(Tensor input) -> Tensor", "MedianBackward0", jvp="transpose",
   kernel=("median_cpu", "fi"),
   forward=_lower_median, dtype="none", shape=lambda input: (),
   vjp={"input": lambda grad, input, result: _evenly_distribute(grad, input, result)},
   samples=explicit(lambda r: Sample((rand(r, 5),)), lambda r: Sample((rand(r, 2, 3),)),
                    lambda r: Sample((np.array([1.0, 2.0, 2.0, 3.0]),), gradcheck=False)))
op("nanmedian(Tensor input) -> Tensor", "NanmedianBackward0", jvp="transpose",
   kernel=("median_cpu", "fi"),  # (torch names the median kernel in nanmedian's errors)
   forward=_lower_nanmedian, dtype="none", shape=lambda input: (),
   vjp={"input": lambda grad, input, result: _evenly_distribute(grad, input, result)},
   samples=explicit(lambda r: Sample((rand(r, 5),)), lambda r: Sample((rand(r, 2, 3),)),
                    lambda r: Sample((np.array([1.0, np.nan, 2.0, 2.0]),), gradcheck=False),
                    lambda r: Sample((np.array([np.nan, np.nan]),), gradcheck=False)))
op("median.dim(Tensor input, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)",
   "MedianBackward1", jvp="transpose", forward=_median_dim, dtype="none",
   kernel=("median_out", "fi"),
   vjp={"input": lambda grad, result1, input_shape, dim, keepdim: _select_index(
       grad, result1, input_shape, dim, keepdim)},
   shape=lambda input, dim, keepdim: [one_dim_shape(input, dim, keepdim)] * 2,
   samples=explicit(lambda r: Sample((rand(r, 3, 4), 1)),
                    lambda r: Sample((rand(r, 3, 4), 0, True)),
                    lambda r: Sample((rand(r, 2, 3, 2), -1))))
