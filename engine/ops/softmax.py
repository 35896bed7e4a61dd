"""softmax and log_softmax: the kernels (_softmax, _log_softmax: SoftmaxBackward0,
LogSoftmaxBackward0), their backward rows, and the public composites that pick torch's
implicit dim and dtype. Rows are declared with engine/ops/reductions.py's ``op`` (outputs
made C-contiguous, as torch allocates them)."""

import warnings

import numpy as np

from .. import dtypes
from ..errors import KernelNotImplemented
from .reductions import dims_of, one_dim_shape, op
from .samples import Sample, explicit, rand
from .table import F, broadcast_shapes, normalize_dim


def _lift_0d(fn):
    """Run a dim-wise NumPy kernel on a 0-d input as on shape (1,), as torch allows dim 0/-1
    on scalars."""
    def run(input, dim, *args):
        if input.ndim == 0:
            normalize_dim(dim, 0)
            out = fn(input.reshape(1), 0, *args)
            return out.reshape(()) if not isinstance(out, tuple) else tuple(
                o.reshape(()) for o in out)
        return fn(input, normalize_dim(dim, input.ndim), *args)
    return run


def _softmax_kernel(name, fn):
    def forward(input, dim, half_to_float=False):
        if input.dtype.kind not in "fc":
            last = "lastdim_" if normalize_dim(dim, input.ndim) == max(input.ndim - 1, 0) else ""
            raise KernelNotImplemented(f'"{name}_{last}kernel_impl" not implemented for '
                                       f"'{dtypes.torch_type_name(dtypes.from_numpy(input.dtype))}'")
        # torch allocates the output contiguous, whatever the input's strides
        out = _lift_0d(fn)(input, dim)
        return out if out.flags.c_contiguous else out.copy(order="C")
    return forward


def _is_logits(x, d) -> bool:
    """A batch of class scores: a NumPy matrix of many rows and few columns, reduced over its
    columns. NumPy reduces a short last axis one row at a time (256x10: 14 us for a max, 9 us
    for a sum), so ``_max_keep`` and ``_sum_keep`` take faster routes for it."""
    return (type(x) is np.ndarray and x.ndim == 2 and d in (1, -1) and x.shape[0] >= 64
            and x.shape[1] <= 16)


def _max_keep(x, d):
    """max over dim ``d``, kept; for logits the max down the columns of the transposed copy
    (4 us for 256x10)."""
    if _is_logits(x, d):
        return np.ascontiguousarray(x.T).max(axis=0)[:, None]
    return np.max(x, axis=d, keepdims=True)


def _sum_keep(x, dim):
    """sum over one dim, kept, on arrays (a 0-d array takes dim 0 and -1 and stays itself);
    for logits a matrix-vector product with ones (3 us for 256x10)."""
    if _is_logits(x, dim) and x.dtype.kind == "f":
        return (x @ np.ones(x.shape[1], x.dtype))[:, None]
    return np.sum(x, axis=dims_of(dim, x.ndim), keepdims=True)


def _softmax_np(x, d):
    e = np.exp(x - _max_keep(x, d)) if x.size else x
    return e / _sum_keep(e, d)


def _log_softmax_np(x, d):
    if not x.size:
        return x.copy()
    shifted = x - _max_keep(x, d)
    return shifted - np.log(_sum_keep(np.exp(shifted), d))


def _implicit_dim(ndim):
    """torch.nn.functional._get_softmax_dim, for a call without dim (deprecated there too)."""
    warnings.warn("Implicit dimension choice for softmax has been deprecated. Change the call "
                  "to include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_family(kernel):
    def forward(input, dim=None, dtype=None):
        if dim is None:
            dim = _implicit_dim(len(input.shape))
        if dtype is not None:
            input = F.to_dtype(input, dtype)
        return getattr(F, kernel)(input, dim, False)
    return forward


def _softmax_vjp(grad, result, dim):
    return F._softmax_backward_data(grad, result, dim)


def _log_softmax_vjp(grad, result, dim):
    return F._log_softmax_backward_data(grad, result, dim)


def _softmax_backward_data_jvp(grad_output_t, output_t, grad_output, output, dim):
    # d[y (g - sum(g y))] = y (g_t - sum(g_t y)) + y_t (g - sum(g y)) - y sum(g y_t)
    return (F._softmax_backward_data(grad_output_t, output, dim)
            + output_t * (grad_output - F.sum(grad_output * output, dim, True))
            - output * F.sum(grad_output * output_t, dim, True))


def _log_softmax_backward_data_jvp(grad_output_t, output_t, grad_output, output, dim):
    # d[g - exp(y) sum(g)] = g_t - exp(y) sum(g_t) - y_t exp(y) sum(g)
    return (F._log_softmax_backward_data(grad_output_t, output, dim)
            - output_t * F.exp(output) * F.sum(grad_output, dim, True))


# torch's derivative kernels for softmax and log_softmax, ops of their own, whose VJPs are
# derivatives.yaml's (softmax_double_backward). torch's last argument, input_dtype, only
# matters for half inputs, so these rows leave it out.
op("_softmax_backward_data(Tensor grad_output, Tensor output, int dim) -> Tensor",
   "SoftmaxBackwardDataBackward0", method=False, jvp=_softmax_backward_data_jvp,
   forward=lambda grad_output, output, dim: output * (
       grad_output - _sum_keep(grad_output * output, dim)),
   vjp={"grad_output": lambda grad, output, dim: F._softmax_backward_data(grad, output, dim),
        "output": lambda grad, grad_output, output, dim: grad_output * grad - F.sum(
            output * grad_output, dim, True) * grad - grad_output * F.sum(
            output * grad, dim, True)},
   shape=lambda grad_output, output, dim: broadcast_shapes(grad_output, output),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3, low=0.1, high=0.9), 1)),
                    lambda r: Sample((rand(r, 3), rand(r, 3, low=0.1, high=0.9), 0)),
                    lambda r: Sample((rand(r), rand(r, low=0.1, high=0.9), -1)),
                    lambda r: Sample((rand(r, 64, 3), rand(r, 64, 3, low=0.1, high=0.9), 1))),
   torch=lambda torch, grad_output, output, dim: torch._softmax_backward_data(
       grad_output, output, dim, output.dtype))

op("_log_softmax_backward_data(Tensor grad_output, Tensor output, int dim) -> Tensor",
   "LogSoftmaxBackwardDataBackward0", method=False, jvp=_log_softmax_backward_data_jvp,
   forward=lambda grad_output, output, dim: grad_output - np.exp(output) * _sum_keep(
       grad_output, dim),
   vjp={"grad_output": lambda grad, output, dim: grad - F.sum(grad * F.exp(output), dim, True),
        "output": lambda grad, grad_output, output, dim: -F.sum(
            grad_output, dim, True) * F.exp(output) * grad},
   shape=lambda grad_output, output, dim: broadcast_shapes(grad_output, output),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3, low=-3.0, high=-0.1), 1)),
                    lambda r: Sample((rand(r, 3), rand(r, 3, low=-3.0, high=-0.1), 0)),
                    lambda r: Sample((rand(r), rand(r, low=-3.0, high=-0.1), -1)),
                    lambda r: Sample((rand(r, 64, 3), rand(r, 64, 3, low=-3.0, high=-0.1),
                                      -1))),
   torch=lambda torch, grad_output, output, dim: torch._log_softmax_backward_data(
       grad_output, output, dim, output.dtype))


SOFTMAX_SAMPLES = explicit(
    lambda r: Sample((rand(r, 3), 0)), lambda r: Sample((rand(r, 2, 3), 1)),
    lambda r: Sample((rand(r, 2, 3), 0)), lambda r: Sample((rand(r, 2, 3, 2), -1)),
    lambda r: Sample((rand(r, 2, 3, 2), 1)), lambda r: Sample((rand(r), 0)),
    lambda r: Sample((rand(r, 4) * 30, -1)),
    # a batch of logits (many rows, few classes): _max_keep's and _sum_keep's fast route
    lambda r: Sample((rand(r, 64, 3) * 5, 1)), lambda r: Sample((rand(r, 64, 3), -1)))


def _softmax_torch(fn):
    def call(torch, input, dim=None, dtype=None):
        return getattr(torch.nn.functional, fn)(input, dim, dtype=getattr(torch, dtype)
                                                if dtype else None)
    return call


for _name, _Name, _np_fn, _vjp in [("softmax", "Softmax", _softmax_np, _softmax_vjp),
                                   ("log_softmax", "LogSoftmax", _log_softmax_np,
                                    _log_softmax_vjp)]:
    op(f"_{_name}(Tensor input, int dim, bool half_to_float=False) -> Tensor",
       f"{_Name}Backward0", method=False,
       jvp="transpose",
       forward=_softmax_kernel(_name, _np_fn),
       vjp={"input": _vjp}, dtype="none",
       shape=lambda input, dim, half_to_float: (one_dim_shape(input, dim, True), input)[1],
       samples=SOFTMAX_SAMPLES,
       torch=lambda torch, input, dim, half_to_float=False, _n=_name: getattr(
           torch, f"_{_n}")(input, dim, half_to_float))
    op(f"{_name}(Tensor input, int? dim=None, ScalarType? dtype=None) -> Tensor", None,
       composite=True, forward=_softmax_family(f"_{_name}"),
       shape=lambda input, dim=None, dtype=None: input,
       samples=explicit(
           lambda r: Sample((rand(r, 2, 3), 1)), lambda r: Sample((rand(r, 2, 3), -2)),
           lambda r: Sample((rand(r, 3),), {"dim": 0}),
           lambda r: Sample((rand(r, 2, 3), 1), {"dtype": "float64"})),
       torch=_softmax_torch(_name))


# torch.max(a, b) / torch.min(a, b): the elementwise maximum/minimum under the reduction's name
