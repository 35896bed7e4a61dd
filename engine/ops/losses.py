"""Losses, as torch.nn.functional has them: mse_loss, l1_loss, smooth_l1_loss, nll_loss,
cross_entropy, binary_cross_entropy, binary_cross_entropy_with_logits.

Each public loss is a composite with F's Python signature: it does what torch's Python layer
does (legacy size_average/reduce, the reduction string, size warnings and checks,
broadcasting with visible ExpandBackward0 nodes) and then calls a kernel row named like the
aten op with a leading underscore (``_mse_loss``...), which owns the grad_fn torch shows
(``MseLossBackward0``...) and takes the reduction as torch's enum: none=0, mean=1, sum=2.
l1_loss and cross_entropy have no kernel of their own, in torch as here: their graphs are
made of abs/sub/mean and log_softmax/nll_loss nodes.
"""

import warnings

import numpy as np

from .. import dtypes
from ..backend import module_of, to_numpy
from ..errors import IndexOpError, KernelNotImplemented, OpError
from ..grad_mode import is_grad_enabled
from . import table
from .elementwise import _SUB_BOOLS
from .samples import Const, Sample, explicit, rand
from .table import F, broadcast_shapes, check_same_dtype, op

NONE, MEAN, SUM = 0, 1, 2
_ENUM = {"none": NONE, "mean": MEAN, "sum": SUM}


def _raw(x):
    return x.array if isinstance(x, table._Tensor) else x


def _shape(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else ()


def _size_text(shape) -> str:
    return f"torch.Size([{', '.join(str(s) for s in shape)}])"


def reduction_string(size_average, reduce, reduction) -> str:
    """torch.nn._reduction.legacy_get_string: legacy size_average/reduce win (with torch's
    warning)."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
        warnings.warn(f"size_average and reduce args will be deprecated, please use "
                      f"reduction='{reduction}' instead.", UserWarning, stacklevel=5)
    return reduction


def get_enum(reduction) -> int:
    """torch.nn._reduction.get_enum."""
    if reduction not in _ENUM:
        raise OpError(f"{reduction} is not a valid value for reduction")
    return _ENUM[reduction]


def reduction_enum(size_average, reduce, reduction) -> int:
    return get_enum(reduction_string(size_average, reduce, reduction))


def _pair_dtype(input, target):
    """The promoted dtype of a kernel's operands (a wrapped number has none of its own)."""
    return np.result_type(input.dtype, getattr(target, "dtype", target))


def _reduced(shape, reduction) -> tuple:
    return tuple(shape) if reduction == NONE else ()


def _apply_reduction(loss, reduction):
    """apply_loss_reduction for the array kernels."""
    if reduction == MEAN:
        return np.mean(loss).astype(loss.dtype, copy=False)
    if reduction == SUM:
        return np.sum(loss).astype(loss.dtype, copy=False)
    return loss


def _scale(grad, shape, reduction):
    """The incoming gradient as each element sees it: mean divides by the count."""
    if reduction == MEAN:
        n = int(np.prod(shape)) if shape else 1
        return grad / n
    return grad


def _no_grad_for(fn_name, arg, value):
    if isinstance(value, table._Tensor) and value.requires_grad and is_grad_enabled():
        raise OpError(f"The function '{fn_name}' is not differentiable with respect to "
                      f"argument '{arg}'. This input cannot have requires_grad True.")


def _broadcast_pair(input, target):
    """torch.broadcast_tensors as F.mse_loss uses it: expand only what changes shape."""
    a, b = _shape(input), _shape(target)
    if a == b:
        return input, target
    shape = broadcast_shapes(a, b)
    return (input if a == shape else F.expand(input, shape),
            target if b == shape else F.expand(target, shape))


def _warn_size(input, target):
    if _shape(input) != _shape(target):
        warnings.warn(f"Using a target size ({_size_text(_shape(target))}) that is different "
                      f"to the input size ({_size_text(_shape(input))}). This will likely lead "
                      "to incorrect results due to broadcasting. Please ensure they have the "
                      "same size.", UserWarning, stacklevel=4)


def _pair_shape(input, target, reduction):
    return _reduced(broadcast_shapes(input, target), reduction)


def _f32(a):
    return a.astype(np.float32)


def _probs(rng, *shape):
    """A float32 target in [0, 1) that does not require grad."""
    return Const(_f32(rand(rng, *shape, low=0, high=1)))


_LOSS_KW = "Any size_average=None, Any reduce=None, str reduction='mean'"


def _functional(name):
    return f"torch.nn.functional.{name}"


# --------------------------------------------------------------------------- mse, l1

def _mse_double_backward(grad, input, reduction):
    """torch's mse_loss_double_backward."""
    grad_input = F._mul_scalar(grad, 2)
    return F._div_scalar(grad_input, _numel(input.shape)) if reduction == MEAN else grad_input


def _numel(shape):
    return int(np.prod(shape)) if shape else 1


# torch's derivative kernel for mse_loss, an op of its own (MseLossBackwardBackward0)
def _mse_backward(grad_output, input, target, reduction):
    """torch's kernel: norm * (input - target) * grad_output in the operands' common dtype,
    norm (2/numel for the mean) converted to it first, so integers truncate it."""
    common = np.result_type(grad_output, input, target)
    norm = common.type(2.0 / max(_numel(input.shape), 1) if reduction == MEAN else 2.0)
    return (norm * (input - target) * grad_output).astype(input.dtype, copy=False)


op("mse_loss_backward(Tensor grad_output, Tensor input, Tensor target, int reduction)"
   " -> Tensor", "MseLossBackwardBackward0", method=False, dtype="none",
   jvp="elementwise",
   kernel=("mse_backward_cpu_out", "fi"), forward=lambda grad_output, input, target, reduction:
   _mse_backward(grad_output, input, target, reduction),
   vjp={"grad_output": lambda grad, input, target, reduction: F.mse_loss_backward(
       grad, input, target, reduction),
        "input": lambda grad, grad_output, input, reduction: _mse_double_backward(
       grad * grad_output, input, reduction),
        "target": lambda grad, grad_output, target, reduction: -_mse_double_backward(
       grad * grad_output, target, reduction)},
   shape=lambda grad_output, input, target, reduction: broadcast_shapes(
       grad_output, input, target),
   samples=explicit(lambda r: Sample((rand(r), rand(r, 2, 3), rand(r, 2, 3), 1)),
                    lambda r: Sample((rand(r, 3), rand(r, 3), Const(_f32(rand(r, 3))), 0))),
   torch="torch.ops.aten.mse_loss_backward")

op("_mse_loss(Tensor input, Tensor target, int reduction=1) -> Tensor", "MseLossBackward0",
   jvp="transpose",
   method=False,
   kernel=("mse_cpu", "f"),
   forward=lambda input, target, reduction: _apply_reduction((input - target) ** 2, reduction),
   vjp={"input": lambda grad, input, target, reduction: F.mse_loss_backward(
       grad, input, target, reduction),
        "target": lambda grad, input, target, reduction: F.mse_loss_backward(
       grad, target, input, reduction)},
   shape=lambda input, target, reduction: _pair_shape(input, target, reduction),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3), 1)),
                    lambda r: Sample((rand(r, 3), rand(r, 3), 2)),
                    lambda r: Sample((rand(r, 2, 3), Const(_f32(rand(r, 2, 3))), 0))),
   torch=lambda torch, *a, **k: torch._C._nn.mse_loss(*a, **k))


def _weighted(errors, weight, input, reduction):
    """F.mse_loss/F.l1_loss with a weight: torch's Python does it with plain ops."""
    if _shape(weight) != _shape(input):
        raise OpError("Weights and input must have the same size.")
    _check_weighted_reduction(reduction)
    weighted = F.mul(errors, weight)
    if reduction == "none":
        return weighted
    total = F.sum(weighted)
    return total if reduction == "sum" else F.div(total, F.sum(weight))


def _check_weighted_reduction(reduction):
    if reduction not in _ENUM:
        raise OpError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', "
                      "'sum'.")


def _mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _warn_size(input, target)
    reduction = reduction_string(size_average, reduce, reduction)
    input_, target_ = _broadcast_pair(input, target)
    if weight is not None:
        return _weighted(F.pow(F.sub(input_, target_), 2), weight, input, reduction)
    return F._mse_loss(input_, target_, get_enum(reduction))


def _pair_loss_shape(input, target, size_average=None, reduce=None, reduction="mean",
                     weight=None):
    reduction = reduction_string(size_average, reduce, reduction)
    shape = broadcast_shapes(input, target)
    if weight is not None:
        if tuple(weight) != tuple(input):
            raise OpError("Weights and input must have the same size.")
        _check_weighted_reduction(reduction)
    return _reduced(shape, get_enum(reduction))


PAIR_SAMPLES = explicit(
    lambda r: Sample((rand(r, 2, 3), Const(_f32(rand(r, 2, 3))))),
    lambda r: Sample((rand(r, 2, 3), Const(_f32(rand(r, 2, 3)))), {"reduction": "sum"}),
    lambda r: Sample((rand(r, 2, 3), Const(_f32(rand(r, 2, 3)))), {"reduction": "none"}),
    lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3))),                  # target needs grad
    lambda r: Sample((rand(r, 3), rand(r, 2, 3)), {"reduction": "none"}),  # input broadcast
    lambda r: Sample((rand(r, 2, 3), Const(_f32(rand(r, 3))))),
    lambda r: Sample((rand(r), Const(_f32(rand(r))))),
    lambda r: Sample((rand(r, 4), Const(_f32(rand(r, 4))), None, False)),  # legacy reduce=False
    lambda r: Sample((rand(r, 2, 3), Const(_f32(rand(r, 2, 3)))),
                     {"weight": Const(_f32(rand(r, 2, 3, low=0.5, high=2.0)))}),
    lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3)),
                     {"weight": rand(r, 2, 3, low=0.5, high=2.0), "reduction": "sum"}),
    lambda r: Sample((rand(r, 3), Const(_f32(rand(r, 2, 3)))),
                     {"weight": rand(r, 3, low=0.5, high=2.0), "reduction": "none"}),
    lambda r: Sample((rand(r, 2, 3), Const(_f32(rand(r, 2, 3)))),
                     {"weight": rand(r, 2, 3, low=0.5, high=2.0)}))

op(f"mse_loss(Tensor input, Tensor target, {_LOSS_KW}, Tensor? weight=None) -> Tensor", None,
   composite=True, method=False, forward=_mse_loss, shape=_pair_loss_shape,
   samples=PAIR_SAMPLES, torch=_functional("mse_loss"))


def _l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """CompositeImplicit in torch too: (input - target).abs(), then mean or sum."""
    _warn_size(input, target)
    reduction = reduction_string(size_average, reduce, reduction)
    input_, target_ = _broadcast_pair(input, target)
    if weight is not None:
        return _weighted(F.abs(F.sub(input_, target_)), weight, input, reduction)
    return _l1(input_, target_, get_enum(reduction))


def _l1(input, target, reduction):
    """at::l1_loss on already broadcast operands."""
    loss = F.abs(F.sub(input, target))
    if reduction == MEAN:
        return F.mean(loss)
    return F.sum(loss) if reduction == SUM else loss


op(f"l1_loss(Tensor input, Tensor target, {_LOSS_KW}, Tensor? weight=None) -> Tensor", None,
   composite=True, method=False, forward=_l1_loss, shape=_pair_loss_shape,
   samples=PAIR_SAMPLES, torch=_functional("l1_loss"))


# --------------------------------------------------------------------------- smooth l1

def _smooth_l1_forward(input, target, reduction, beta):
    d = np.abs(input - target)
    loss = np.where(d < beta, 0.5 * d * d / beta if beta else d, d - 0.5 * beta)
    return _apply_reduction(loss.astype(_pair_dtype(input, target), copy=False), reduction)


def _smooth_l1_backward(grad_output, input, target, reduction, beta):
    """d loss / d input: (x - t) / beta inside the quadratic zone, sign(x - t) outside."""
    d = input - target
    grad = _scale(grad_output, input.shape, reduction)
    # torch's kernel writes into a tensor like the input (its dtype, whatever the target's)
    return (np.where(np.abs(d) < beta, d / beta, np.sign(d)) * grad).astype(
        input.dtype, copy=False)


def _smooth_l1_double_backward(grad, input, target, reduction, beta):
    """torch's smooth_l1_loss_double_backward: 1 / beta inside the quadratic zone."""
    inside = np.abs(_raw(input) - _raw(target)) < beta
    out = F._div_scalar(grad * inside, beta)
    return F._div_scalar(out, _numel(input.shape)) if reduction == MEAN else out


op("smooth_l1_loss_backward(Tensor grad_output, Tensor input, Tensor target, int reduction,"
   " float beta) -> Tensor", "SmoothL1LossBackwardBackward0", method=False, dtype="none",
   jvp="elementwise",
   kernel=("smooth_l1_backward_cpu_out", "fi"), forward=_smooth_l1_backward,
   vjp={"grad_output": lambda grad, input, target, reduction, beta: F.smooth_l1_loss_backward(
       grad, input, target, reduction, beta),
        "input": lambda grad, grad_output, input, target, reduction, beta:
            _smooth_l1_double_backward(grad * grad_output, input, target, reduction, beta),
        "target": lambda grad, grad_output, input, target, reduction, beta:
            -_smooth_l1_double_backward(grad * grad_output, input, target, reduction, beta)},
   shape=lambda grad_output, input, target, reduction, beta: broadcast_shapes(
       grad_output, input, target),
   samples=explicit(lambda r: Sample((rand(r), rand(r, 2, 3), rand(r, 2, 3), 1, 1.0)),
                    lambda r: Sample((rand(r, 3), rand(r, 3), Const(_f32(rand(r, 3))), 0,
                                      0.5))),
   torch="torch.ops.aten.smooth_l1_loss_backward")


def _smooth_l1_grad(grad, input, target, reduction, beta):
    return F.smooth_l1_loss_backward(grad, input, target, reduction, beta)


op("_smooth_l1_loss(Tensor input, Tensor target, int reduction=1, float beta=1.0) -> Tensor",
   "SmoothL1LossBackward0", method=False,
   jvp="transpose",
   kernel=("smooth_l1_cpu", "f"), forward=_smooth_l1_forward,
   vjp={"input": _smooth_l1_grad,
        "target": lambda grad, input, target, reduction, beta: _smooth_l1_grad(
            grad, target, input, reduction, beta)},
   shape=lambda input, target, reduction, beta: _pair_shape(input, target, reduction),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3), 1, 1.0)),
                    lambda r: Sample((rand(r, 3), rand(r, 3), 2, 0.5)),
                    lambda r: Sample((rand(r, 2, 3), Const(_f32(rand(r, 2, 3))), 0, 2.0))),
   torch=lambda torch, *a, **k: torch._C._nn.smooth_l1_loss(*a, **k))


def _smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean",
                    beta=1.0):
    _warn_size(input, target)
    reduction = reduction_string(size_average, reduce, reduction)
    input_, target_ = _broadcast_pair(input, target)
    reduction = get_enum(reduction)
    if beta == 0:  # torch hands this case to l1_loss
        return _l1(input_, target_, reduction)
    if beta < 0:
        raise OpError("smooth_l1_loss does not support negative values for beta.")
    return F._smooth_l1_loss(input_, target_, reduction, float(beta))


op(f"smooth_l1_loss(Tensor input, Tensor target, {_LOSS_KW}, float beta=1.0) -> Tensor",
   None, composite=True, method=False, forward=_smooth_l1_loss,
   shape=lambda input, target, size_average=None, reduce=None, reduction="mean", beta=1.0:
   _pair_shape(input, target, reduction_enum(size_average, reduce, reduction)),
   samples=explicit(
       lambda r: Sample((rand(r, 2, 3), Const(_f32(rand(r, 2, 3))))),
       lambda r: Sample((rand(r, 2, 3), Const(_f32(rand(r, 2, 3)))), {"beta": 0.5}),
       lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3)), {"reduction": "sum", "beta": 3.0}),
       lambda r: Sample((rand(r, 2, 3), Const(_f32(rand(r, 2, 3)))),
                        {"reduction": "none", "beta": 0.7}),
       lambda r: Sample((rand(r, 2, 3), Const(_f32(rand(r, 2, 3)))), {"beta": 0.0}),
       lambda r: Sample((rand(r, 3), Const(_f32(rand(r, 2, 3)))), {"reduction": "none"}),
       # |x - t| == beta exactly: the kink, compared with torch only
       lambda r: Sample((np.array([1.5, -1.0, 0.25]), Const(np.array([0.5, 0.0, 0.25]))),
                        gradcheck=False)),
   torch=_functional("smooth_l1_loss"))


# --------------------------------------------------------------------------- nll_loss

def _nll_parts(input, target, weight, ignore_index):
    """Per-row (class index, weight, valid) with torch's checks. Indices are few (one per
    target): they are worked out in NumPy, wherever the data lives."""
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    t = to_numpy(target).reshape(-1).astype(np.int64)
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= c))
    if bad.any():
        raise OpError(f"Target {int(t[bad][0])} is out of bounds.")
    safe = np.where(valid, t, 0)
    w = np.ones(len(t)) if weight is None else to_numpy(weight)[safe]
    w = np.where(valid, w, 0).astype(input.dtype)
    return safe, w, valid


def _plain_rows(input, target, weight, ignore_index) -> bool:
    """A NumPy (N, C) input, N > 0, no weight, and int64 targets that are all classes in
    [0, C) other than ignore_index: torch's numbers then need no masks and no weights."""
    if weight is not None or type(input) is not np.ndarray or input.ndim != 2 or (
            target.dtype != np.int64 or target.ndim != 1 or not len(target)):
        return False
    low, high = target.min(), target.max()
    return 0 <= low and high < input.shape[1] and not low <= ignore_index <= high


def _classes_last(x):
    """(N, C, H, W) -> (N, H, W, C), so that rows line up with the flattened target."""
    return x if x.ndim <= 2 else module_of(x).moveaxis(x, 1, -1)


def _nll_forward(input, target, weight=None, reduction=MEAN, ignore_index=-100):
    if input.dtype.kind not in "fc":
        raise KernelNotImplemented('"nll_loss_out_frame" not implemented for '
                                   f"'{dtypes.torch_type_name(input.dtype)}'")
    if reduction != NONE and _plain_rows(input, target, weight, ignore_index):
        # the common case (a batch of rows, no weight, every target a class): no masks
        total = np.sum(input[np.arange(len(target)), target])
        if reduction == MEAN:
            total = total / input.dtype.type(len(target))
        return (-total).astype(input.dtype, copy=False)
    moved = _classes_last(input)
    rows = moved.reshape(-1, moved.shape[-1])
    safe, w, valid = _nll_parts(input, target, weight, ignore_index)
    xp = module_of(input)
    picked = rows[xp.arange(len(safe)), xp.asarray(safe)]
    losses = xp.where(xp.asarray(valid), -xp.asarray(w) * picked, 0).astype(input.dtype)
    if reduction == NONE:  # one loss per target; a (C,) input gives a 0-d loss
        return losses.reshape(np.shape(target) if input.ndim >= 2 else ())
    total = xp.sum(losses)
    if reduction == MEAN:
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / w.sum()  # all ignored: 0/0 = nan, as torch
    return total.astype(input.dtype, copy=False)


def _nll_backward(grad_output, input, target, weight, reduction, ignore_index):
    """-w[t] * grad at each target's class (divided by the total weight for mean)."""
    grad, x, t = grad_output, input, target
    if reduction != NONE and _plain_rows(x, t, weight, ignore_index):
        coef = x.dtype.type(-1) / x.dtype.type(len(t)) if reduction == MEAN else -1
        out = np.zeros(x.shape, x.dtype)
        out[np.arange(len(t)), t] = (grad * coef).astype(x.dtype, copy=False)
        return out
    xp = module_of(x)
    safe, w, valid = _nll_parts(x, t, weight, ignore_index)
    if reduction == MEAN:
        total = w.sum()
        w = w / total if total != 0 else w * 0
    moved_shape = _classes_last(np.empty(x.shape, dtype=bool)).shape
    onehot = np.zeros((len(safe), moved_shape[-1]), dtype=x.dtype)
    onehot[np.arange(len(safe)), safe] = np.where(valid, -w, 0)
    onehot = onehot.reshape(moved_shape)
    coef = xp.asarray(onehot if x.ndim <= 2 else np.moveaxis(onehot, -1, 1))
    if reduction == NONE and x.ndim >= 2:  # (N, ...) losses -> (N, 1, ...) to meet classes
        grad = grad.reshape((x.shape[0], 1, *x.shape[2:]))
    # a new contiguous tensor, as torch's kernel writes (so a view of it needs no copy)
    return xp.ascontiguousarray((grad * coef).astype(x.dtype, copy=False))


def _nll_loss_again(grad, target, weight, reduction, ignore_index):
    return F._nll_loss(grad, target, weight, reduction, ignore_index)


def _nll_loss2d_again(grad, target, weight, reduction, ignore_index):
    return F._nll_loss2d(grad, target, weight, reduction, ignore_index)


def _single_grad_output(grad_output):
    gshape = _shape(grad_output)
    if len(gshape) > 1 or int(np.prod(gshape)) != 1:
        raise OpError("Expected a single element grad_output tensor, but got: "
                      f"{_dims_text(gshape)}")


def _nll_backward_check(grad_output, input, target, weight, reduction, ignore_index):
    """torch's nll_loss_backward meta checks, in its order."""
    shape, tshape, gshape = _shape(input), _shape(target), _shape(grad_output)
    if len(shape) not in (1, 2):
        raise OpError("input tensor should be 1D or 2D")
    if len(tshape) > 1:
        raise OpError("0D or 1D target tensor expected, multi-target not supported")
    if not (len(shape) == 1 and not tshape) and shape[0] != (tshape[0] if tshape else 1):
        raise OpError(f"size mismatch (got input: {_dims_text(shape)}, target: "
                      f"{_dims_text(tshape)})")
    if weight is not None and int(np.prod(_shape(weight))) != shape[-1]:
        raise OpError("weight tensor should be defined either for all or no classes")
    if reduction == NONE and len(shape) == 2:
        if not gshape:  # torch's message reads grad_output.size(0)
            raise IndexOpError("Dimension specified as 0 but tensor has no dimensions")
        if len(gshape) != 1 or gshape[0] != shape[0]:
            raise OpError(f"Expected a tensor of dimension 1 and tensor.size[0] == {shape[0]} "
                          f"but got: dimension {len(gshape)} and tensor.size[0] = {gshape[0]}")
    else:
        _single_grad_output(grad_output)
    _nll_same_dtype(input, weight, grad_output)


def _nll_same_dtype(input, *tensors):
    """nll_loss's kernels do not promote: the weight (then grad_output) must have the
    input's dtype, as torch's."""
    check_same_dtype(input, *tensors, text="expected scalar type {expected} but found {found}")


def _nll2d_backward_check(grad_output, input, target, weight, reduction, ignore_index):
    """torch's check_inputs_nll_loss2d and grad_output checks, in its order (its texts)."""
    shape, tshape, gshape = _shape(input), _shape(target), _shape(grad_output)
    if len(tshape) != 3:
        raise OpError("only batches of spatial targets supported (3D tensors) but got targets "
                      f"of dimension: {len(tshape)}")
    if len(shape) != 4:
        raise OpError("only batches of spatial inputs supported (4D tensors), but got input "
                      f"of dimension: {len(shape)}")
    if weight is not None and int(np.prod(_shape(weight))) != shape[1]:
        raise OpError("weight tensor should be defined either for all or no classes")
    if (shape[0], *shape[2:]) != tshape:
        raise OpError(f"size mismatch (got input: {_dims_text(shape)} , target: "
                      f"{_dims_text(tshape)}")
    if reduction == NONE:
        if len(gshape) != 3:
            raise OpError("grad_output must have same dimension as target (3) but got "
                          f"dimension: {_dims_text(gshape)}")
        if gshape != tshape:
            raise OpError(f"size mismatch (got grad_output: {_dims_text(gshape)} target: "
                          f"{_dims_text(tshape)}")
    else:
        _single_grad_output(grad_output)
    _nll_same_dtype(input, weight, grad_output)


# torch's derivative kernels for nll_loss: ops of their own whose output depends on
# grad_output linearly (its VJP is nll_loss again) and on the input not at all (zeros, so that
# under create_graph the gradient still requires grad, as torch's does)
for _suffix, _Name in [("", "NllLoss"), ("2d", "NllLoss2D")]:
    op(f"nll_loss{_suffix}_backward(Tensor grad_output, Tensor input, Tensor target,"
       " Tensor? weight, int reduction, int ignore_index) -> Tensor",
       f"{_Name}BackwardBackward0", method=False, dtype="none",
       kernel=(f"nll_loss{_suffix}_backward_out_frame", "f"),
       check=_nll2d_backward_check if _suffix else _nll_backward_check,
       forward=_nll_backward, nondiff=("target", "weight"),
       jvp="linear",  # linear in grad_output; the input gives only its shape and dtype
       vjp={"grad_output": _nll_loss2d_again if _suffix else _nll_loss_again,
            "input": lambda grad: F.zeros_like(grad)},
       shape=lambda grad_output, input, *rest: input,
       samples=explicit(
           (lambda r: Sample((rand(r), rand(r, 3, 4), Const(np.array([0, 3, 1])), None, 1,
                              -100))) if not _suffix else
           (lambda r: Sample((rand(r, 2, 2, 2), rand(r, 2, 3, 2, 2),
                              Const(r.integers(0, 3, (2, 2, 2))), None, 0, -100)))),
       torch=lambda torch, grad_output, input, target, weight, reduction, ignore_index,
       _s=_suffix: getattr(torch.ops.aten, f"nll_loss{_s}_backward")(
           grad_output, input, target, weight, reduction, ignore_index,
           _nll_total_weight(torch, target, weight, ignore_index)))


def _nll_total_weight(torch, target, weight, ignore_index):
    """torch's nll_loss_backward takes the forward's total weight; the tests compute it."""
    valid = target != ignore_index
    if weight is None:
        return valid.sum().to(torch.float32)
    return torch.where(valid, weight[target.clamp(min=0)], 0).sum()


def _nll_vjp(grad, input, target, weight, reduction, ignore_index):
    return F.nll_loss_backward(grad, input, target, weight, reduction, ignore_index)


def _nll2d_vjp(grad, input, target, weight, reduction, ignore_index):
    return F.nll_loss2d_backward(grad, input, target, weight, reduction, ignore_index)


def _nll_kernel_shape(input, target, weight, reduction, ignore_index):
    return tuple(target) if reduction == NONE and len(input) >= 2 else ()


NLL_SAMPLES = [
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1])))),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1]))), {"reduction": "sum"}),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1]))), {"reduction": "none"}),
    lambda r: Sample((rand(r, 4), Const(np.array(2)))),
    lambda r: Sample((rand(r, 4), Const(np.array(2))), {"reduction": "none"}),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, -100, 1])))),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([2, 2, 1]))), {"ignore_index": 2}),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([2, 2, 1]))),
                     {"ignore_index": 2, "reduction": "none"}),
    # an ignore_index no target has, inside and outside the targets' range
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 2, 2]))), {"ignore_index": 1}),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 2, 2]))), {"ignore_index": 3}),
    # a batch of logits: the fast route of nll_loss and log_softmax
    lambda r: Sample((rand(r, 64, 3), Const(r.integers(0, 3, 64)))),
    lambda r: Sample((rand(r, 2, 4), Const(np.array([-100, -100]))),  # all ignored: nan
                     gradcheck=False),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1]))),
                     {"weight": Const(_f32(rand(r, 4, low=0.5, high=2.0)))}),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 3]))),
                     {"weight": Const(_f32(rand(r, 4, low=0.5, high=2.0))), "reduction": "none"}),
    # spatial: (N, C, d) and (N, C, d1, d2, d3) are viewed as 4-D; (N, C, H, W) is direct
    lambda r: Sample((rand(r, 2, 3, 4), Const(r.integers(0, 3, (2, 4))))),
    lambda r: Sample((rand(r, 2, 3, 4), Const(r.integers(0, 3, (2, 4)))), {"reduction": "none"}),
    lambda r: Sample((rand(r, 2, 3, 2, 3), Const(r.integers(0, 3, (2, 2, 3)))),
                     {"reduction": "sum"}),
    lambda r: Sample((rand(r, 2, 3, 2, 3), Const(np.array([[[0, 1, -100], [2, 2, 1]]] * 2))),
                     {"reduction": "none"}),
    lambda r: Sample((rand(r, 2, 3, 2, 1, 2), Const(r.integers(0, 3, (2, 2, 1, 2)))),
                     {"weight": Const(_f32(rand(r, 3, low=0.5, high=2.0)))}),
    lambda r: Sample((rand(r, 2, 3, 1, 2, 2), Const(r.integers(0, 3, (2, 1, 2, 2)))),
                     {"reduction": "none"}),
]

op("_nll_loss(Tensor input, Tensor target, Tensor? weight=None, int reduction=1,"
   " int ignore_index=-100) -> Tensor", "NllLossBackward0", method=False,
   jvp="transpose",
   check=lambda input, target, weight=None, *rest: _nll_same_dtype(input, weight),
   forward=_nll_forward, nondiff=("target", "weight"), dtype="none",
   vjp={"input": _nll_vjp},
   shape=_nll_kernel_shape,
   samples=explicit(lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1])), None, 1)),
                    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, -100, 1])), None, 0,
                                      -100))),
   torch=lambda torch, *a, **k: torch._C._nn.nll_loss(*a, **k))

op("_nll_loss2d(Tensor input, Tensor target, Tensor? weight=None, int reduction=1,"
   " int ignore_index=-100) -> Tensor", "NllLoss2DBackward0", method=False,
   jvp="transpose",
   check=lambda input, target, weight=None, *rest: _nll_same_dtype(input, weight),
   forward=_nll_forward, nondiff=("target", "weight"), dtype="none",
   vjp={"input": _nll2d_vjp},
   shape=_nll_kernel_shape,
   samples=explicit(lambda r: Sample((rand(r, 2, 3, 2, 2), Const(r.integers(0, 3, (2, 2, 2))),
                                      None, 1)),
                    lambda r: Sample((rand(r, 2, 3, 1, 2), Const(r.integers(0, 3, (2, 1, 2))),
                                      None, 0, -100))),
   torch=lambda torch, *a, **k: torch._C._nn.nll_loss2d(*a, **k))


def _target_dtype_name(target) -> str:
    return dtypes.torch_type_name(_raw(target).dtype)


def _dims_text(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


_TARGET_DTYPES = (np.dtype(np.int64), np.dtype(np.uint8))  # (a dtype's .name is slow)


def _nll_checks(input, target, weight):
    """torch's checks, in its order: nll_loss_nd first, then the kernel's."""
    shape, tshape = _shape(input), _shape(target)
    if len(shape) < 1:
        raise OpError(f"Expected 1 or more dimensions (got {len(shape)})")
    if len(shape) != 1 and shape[0] != (tshape[0] if tshape else 1):
        raise OpError(f"Expected input batch_size ({shape[0]}) to match target batch_size "
                      f"({tshape[0] if tshape else 1}).")
    if (len(shape) == 3 or len(shape) > 4) and tshape[1:] != shape[2:]:
        raise OpError(f"Expected target size {_dims_text((shape[0], *shape[2:]))}, got "
                      f"{_dims_text(tshape)}")
    if _raw(target).dtype not in _TARGET_DTYPES:
        raise OpError("expected target dtype to be Long or Byte, but got "
                      f"{_target_dtype_name(target)}")
    if len(shape) <= 2 and (len(tshape) > 1 or len(shape) == 1 and tshape not in ((), (1,))):
        raise OpError("0D or 1D target tensor expected, multi-target not supported")
    if len(shape) == 4:
        if len(tshape) != 3:
            raise OpError("only batches of spatial targets supported (3D tensors) but got "
                          f"targets of dimension: {len(tshape)}")
        if tshape != (shape[0], *shape[2:]):
            raise OpError(f"size mismatch (got input: {_dims_text(shape)} , target: "
                          f"{_dims_text(tshape)}")
    classes = shape[1] if len(shape) > 1 else shape[0]
    if weight is not None and _shape(weight) != (classes,):
        if len(shape) > 2:  # nll_loss2d words it differently
            raise OpError("weight tensor should be defined either for all or no classes")
        raise OpError(f"weight tensor should be defined either for all {classes} classes or "
                      f"no classes but got weight tensor of shape: "
                      f"{_dims_text(_shape(weight))}")


def _nll_nd(input, target, weight, reduction, ignore_index):
    """torch's nll_loss_nd: (C,) and (N, C) go to nll_loss, (N, C, H, W) to nll_loss2d, and
    other shapes are viewed as (N, C, 1, rest) for nll_loss2d (then back, for 'none')."""
    shape = _shape(input)
    if len(shape) <= 2:
        return F._nll_loss(input, target, weight, reduction, ignore_index)
    if len(shape) == 4:
        return F._nll_loss2d(input, target, weight, reduction, ignore_index)
    n, c = shape[0], shape[1]
    numel = int(np.prod(shape))
    x = table.contiguous(input)
    x = F.view(x, (n, c, 1, numel // (n * c)) if numel else (n, c, 0, 0))
    tnumel = int(np.prod(_shape(target)))
    t = F.reshape(target, (n, 1, tnumel // n) if tnumel else (n, 0, 0))
    out = F._nll_loss2d(x, t, weight, reduction, ignore_index)
    return out if reduction != NONE else F.view(out, (n, *shape[2:]))


def _nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
              reduction="mean"):
    _no_grad_for("nll_loss_forward", "weight", weight)
    reduction = reduction_enum(size_average, reduce, reduction)
    _nll_checks(input, target, weight)
    return _nll_nd(input, target, weight, reduction, ignore_index)


def _nll_shape(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
               reduction="mean", *rest):
    if reduction_enum(size_average, reduce, reduction) != NONE:
        return ()
    if tuple(target) == tuple(input):  # class probabilities: the class dim is summed out
        return tuple(d for i, d in enumerate(input) if i != (0 if len(input) == 1 else 1))
    return tuple(target) if len(input) >= 2 else ()


op("nll_loss(Tensor input, Tensor target, Tensor? weight=None, Any size_average=None,"
   " int ignore_index=-100, Any reduce=None, str reduction='mean') -> Tensor", None,
   composite=True, method=False, forward=_nll_loss, shape=_nll_shape,
   samples=explicit(*NLL_SAMPLES), torch=_functional("nll_loss"))


# Two small kernels that cross_entropy's label smoothing shows in its graph, as torch's C++
# does (a Tensor times a double is mul.Scalar there, and the ignored targets are masked_fill_).
op("_mul_scalar(Tensor input, Scalar other) -> Tensor", "MulBackward1", method=False,
   jvp="elementwise",
   forward=lambda input, other: input * other,
   vjp={"input": lambda grad, other: F._mul_scalar(grad, other)}, dtype="none",
   shape=lambda input, other: input,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), 0.25)), lambda r: Sample((rand(r), -2.0))),
   torch=lambda torch, input, other: torch.ops.aten.mul.Scalar(input, other))

op("_masked_fill(Tensor input, Tensor mask, Scalar value) -> Tensor", "MaskedFillBackward0",
   jvp="elementwise",
   method=False, nondiff=("mask",),
   forward=lambda input, mask, value: np.where(mask, value, input).astype(input.dtype),
   vjp={"input": lambda grad, mask: F.where(mask, 0.0, grad)}, dtype="none",
   shape=lambda input, mask, value: broadcast_shapes(input, mask),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), Const(rand(r, 2, 3) > 0), 0.0)),
                    lambda r: Sample((rand(r, 2, 3), Const(rand(r, 3) > 0), 1.5))),
   torch=lambda torch, input, mask, value: torch.ops.aten.masked_fill.Scalar(input, mask, value))


op("_add_scalar(Tensor input, Scalar other, Scalar alpha=1) -> Tensor", "AddBackward1",
   jvp="elementwise",
   method=False, forward=lambda input, other, alpha: input + alpha * other,
   vjp={"input": lambda grad: grad}, dtype="none",
   shape=lambda input, other, alpha: input,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), 0.25))),
   torch=lambda torch, input, other, alpha=1: torch.ops.aten.add.Scalar(input, other, alpha))

op("_div_scalar(Tensor input, Scalar other) -> Tensor", "DivBackward1",
   jvp="elementwise",
   method=False, forward=lambda input, other: input / other,
   vjp={"input": lambda grad, other: F._div_scalar(grad, other)}, dtype="none",
   shape=lambda input, other: input,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), 4)), lambda r: Sample((rand(r), 0.5))),
   torch=lambda torch, input, other: torch.ops.aten.div.Scalar(input, other))


def _smoothed(log_probs, target, nll, reduction, ignore_index, label_smoothing, class_dim):
    """cross_entropy with label_smoothing > 0 (no weight), as torch's
    cross_entropy_loss_label_smoothing: (1 - ls) * nll + ls / C * mean of -log_probs."""
    classes = _shape(log_probs)[class_dim]
    ignore_mask = F.eq(target, ignore_index)
    smooth = F._masked_fill(F.neg(F.sum(log_probs, class_dim)), ignore_mask, 0.0)
    if reduction == MEAN:
        smooth = F.div(F.sum(smooth), F.sum(F.logical_not(ignore_mask)))
    elif reduction == SUM:
        smooth = F.sum(smooth)
    return F.add(F._mul_scalar(nll, 1 - label_smoothing),
                 F._mul_scalar(smooth, label_smoothing / classes))


def _cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                   reduce=None, reduction="mean", label_smoothing=0.0):
    """torch's cross_entropy_loss: a target shaped like the input holds class
    probabilities; otherwise class indices go to nll_loss(log_softmax(input, class dim)),
    so the graph shows NllLossBackward0 over LogSoftmaxBackward0, as torch's does."""
    reduction = reduction_enum(size_average, reduce, reduction)
    shape = _shape(input)
    class_dim = 0 if len(shape) == 1 else 1
    if _shape(target) == shape:
        if _raw(target).dtype.kind != "f":
            raise OpError("Expected floating point type for target with class probabilities, "
                          f"got {_target_dtype_name(target)}")
        if ignore_index >= 0:
            raise OpError("ignore_index is not supported for floating point target")
        if not shape:  # torch reads the class count, input.size(1), first
            raise IndexOpError("Dimension specified as 1 but tensor has no dimensions")
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing,
                                    class_dim)
    if label_smoothing > 0 and label_smoothing > 1.0:
        raise OpError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing:g}")
    if label_smoothing > 0 and weight is not None:
        raise OpError("cross_entropy(): label_smoothing together with weight is not supported")
    if not shape:  # torch's log_softmax(input, 1) comes before nll_loss's checks
        raise IndexOpError("Dimension out of range (expected to be in range of [-1, 0], but "
                           "got 1)")
    _no_grad_for("nll_loss_forward", "weight", weight)
    _nll_checks(input, target, weight)
    log_probs = F.log_softmax(input, class_dim)
    nll = _nll_nd(log_probs, target, weight, reduction, ignore_index)
    if label_smoothing > 0:
        return _smoothed(log_probs, target, nll, reduction, ignore_index, label_smoothing,
                         class_dim)
    return nll


def _cross_entropy_probs(input, target, weight, reduction, label_smoothing, class_dim):
    """torch's cross_entropy_loss_prob_target: -(log_softmax(input) * target [* weight]),
    summed over classes, then reduced (the mean divides by the number of rows)."""
    shape = _shape(input)
    classes = shape[class_dim]
    if weight is not None and _shape(weight) != (classes,):
        raise OpError(f"cross_entropy: weight tensor should be defined either for all {classes} "
                      "classes or no classes but got weight tensor of shape: "
                      f"{_dims_text(_shape(weight))}")
    log_probs = F.log_softmax(input, class_dim)
    if label_smoothing > 0:
        if label_smoothing > 1.0:
            raise OpError("label_smoothing must be between 0.0 and 1.0. Got: "
                          f"{label_smoothing:g}")
        target = F._add_scalar(F._mul_scalar(target, 1 - label_smoothing),
                               label_smoothing / classes)
    terms = F.mul(log_probs, target)
    if weight is not None:
        if len(shape) > 1:
            weight = F.view(weight, tuple(classes if d == class_dim else 1
                                          for d in range(len(shape))))
        terms = F.mul(terms, weight)
    if reduction == NONE:
        return F.neg(F.sum(terms, class_dim))
    if reduction == SUM:
        return F.neg(F.sum(terms))
    numel = int(np.prod(shape))
    if numel == 0:
        raise OpError("cross_entropy(): the mean over an empty batch of class probabilities is "
                      "not supported")
    return F._div_scalar(F.neg(F.sum(terms)), numel // classes)


op("cross_entropy(Tensor input, Tensor target, Tensor? weight=None, Any size_average=None,"
   " int ignore_index=-100, Any reduce=None, str reduction='mean',"
   " float label_smoothing=0.0) -> Tensor", None,
   composite=True, method=False, forward=_cross_entropy, shape=_nll_shape,
   samples=explicit(
       *NLL_SAMPLES,
       lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1]))), {"label_smoothing": 0.2}),
       lambda r: Sample((rand(r, 3, 4), Const(np.array([0, -100, 1]))),
                        {"label_smoothing": 0.1, "reduction": "sum"}),
       lambda r: Sample((rand(r, 3, 4), Const(np.array([0, -100, 1]))),
                        {"label_smoothing": 0.3, "reduction": "none"}),
       lambda r: Sample((rand(r, 4), Const(np.array(2))), {"label_smoothing": 0.5}),
       lambda r: Sample((rand(r, 2, 3, 4), Const(r.integers(0, 3, (2, 4)))),
                        {"label_smoothing": 1.0}),
       lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1]))), {"label_smoothing": -0.1}),
       # class probabilities: a target shaped like the input
       lambda r: Sample((rand(r, 3, 4), _probs(r, 3, 4))),
       lambda r: Sample((rand(r, 3, 4), rand(r, 3, 4, low=0, high=1)), {"reduction": "sum"}),
       lambda r: Sample((rand(r, 2, 3, 2), _probs(r, 2, 3, 2)), {"reduction": "none"}),
       lambda r: Sample((rand(r, 4), rand(r, 4, low=0, high=1)), {"label_smoothing": 0.3}),
       lambda r: Sample((rand(r, 3, 4), _probs(r, 3, 4)),
                        {"weight": rand(r, 4, low=0.5, high=2.0)}),
       lambda r: Sample((rand(r, 3, 4), _probs(r, 3, 4)),
                        {"weight": Const(_f32(rand(r, 4, low=0.5, high=2.0))),
                         "reduction": "none", "label_smoothing": 0.1})),
   torch=_functional("cross_entropy"))


# --------------------------------------------------------------------------- BCE

_EPS = 1e-12


def _bce_forward(input, target, weight=None, reduction=MEAN):
    if np.any((input < 0) | (input > 1)):
        raise OpError("all elements of input should be between 0 and 1")
    if np.any((target < 0) | (target > 1)):
        raise OpError("all elements of target should be between 0 and 1")
    with np.errstate(divide="ignore"):
        # torch clamps each log at -100 so that 0 * log(0) stays finite
        loss = -(target * np.maximum(np.log(input), -100)
                 + (1 - target) * np.maximum(np.log1p(-input), -100))
    if weight is not None:
        loss = loss * weight
    return _apply_reduction(loss.astype(input.dtype, copy=False), reduction)


def _bce_backward(grad_output, input, target, weight, reduction):
    """w * (x - t) / max(x (1 - x), 1e-12) * grad, torch's binary_cross_entropy_backward."""
    g = _scale(grad_output, input.shape, reduction)
    out = g * (input - target) / np.maximum(input * (1 - input), _EPS)
    return (out if weight is None else out * weight).astype(input.dtype, copy=False)


def _bce_double_backward(grad_output, grad, input, target, weight, reduction):
    """torch's binary_cross_entropy_double_backward (d/dx of the above)."""
    gI = (input * input - F._mul_scalar(input, 2) * target + target) / (
        F._add_scalar(input, _EPS) ** 2 * F._add_scalar(F.sub(1.0, input), _EPS) ** 2)
    gI = gI * (grad * grad_output)
    if weight is not None:
        gI = gI * weight
    return F._div_scalar(gI, _numel(input.shape)) if reduction == MEAN else gI


def _bce_double_backward_target(grad, grad_output, input, weight, reduction):
    """torch's binary_cross_entropy_double_backward_target: -1 / max(x (1 - x), eps)."""
    res = -grad * grad_output
    if weight is not None:
        res = res * weight
    denom = F.sub(1.0, input) * input
    res = res / F.where(_raw(denom) < _EPS, _EPS, denom)  # clamp_min_, outside the graph
    return F._div_scalar(res, _numel(input.shape)) if reduction == MEAN else res


def _bce_double_backward_grad_output(grad, input, target, weight, reduction):
    """torch's binary_cross_entropy_double_backward_grad_output."""
    ggO = (input - target) / (F._add_scalar(input, _EPS) * F._add_scalar(F.sub(1.0, input), _EPS))
    if weight is not None:
        ggO = ggO * weight
    ggO = ggO * grad
    return F._div_scalar(ggO, _numel(input.shape)) if reduction == MEAN else ggO


op("binary_cross_entropy_backward(Tensor grad_output, Tensor input, Tensor target,"
   " Tensor? weight=None, int reduction=1) -> Tensor", "BinaryCrossEntropyBackwardBackward0",
   method=False, nondiff=("weight",), kernel=("binary_cross_entropy_backward", "f"),
   check=lambda grad_output, input, target, weight=None, reduction=1: check_same_dtype(
       grad_output, input, target),  # torch's kernel does not promote (weight aside)
   forward=_bce_backward,
   jvp="elementwise",
   vjp={"grad_output": _bce_double_backward_grad_output,
        "input": lambda grad, grad_output, input, target, weight, reduction:
        _bce_double_backward(grad_output, grad, input, target, weight, reduction),
        "target": lambda grad, grad_output, input, weight, reduction:
        _bce_double_backward_target(grad, grad_output, input, weight, reduction)},
   shape=lambda grad_output, input, *rest: input,
   samples=explicit(
       lambda r: Sample((rand(r), rand(r, 2, 3, low=0.1, high=0.9),
                         rand(r, 2, 3, low=0.1, high=0.9), None, 1)),
       lambda r: Sample((rand(r, 4), rand(r, 4, low=0.1, high=0.9), _probs(r, 4),
                         Const(_f32(rand(r, 4, low=0.5, high=2.0))), 0), gradcheck=False)),
   torch="torch.ops.aten.binary_cross_entropy_backward")


def _bce_input_vjp(grad, input, target, weight, reduction):
    return F.binary_cross_entropy_backward(grad, input, target, weight, reduction)


def _bce_target_vjp(grad, input, target, weight, reduction):
    """torch's binary_cross_entropy_target_backward: -logit(x) * grad."""
    out = F.neg(F.logit(input)) * grad
    if weight is not None:
        out = out * weight
    return F._div_scalar(out, _numel(input.shape)) if reduction == MEAN else out


op("_binary_cross_entropy(Tensor input, Tensor target, Tensor? weight=None,"
   " int reduction=1) -> Tensor", "BinaryCrossEntropyBackward0", method=False,
   jvp="transpose", dtype="none",  # the kernel's loss has the input's dtype, whatever weight's
   forward=_bce_forward, nondiff=("weight",),
   vjp={"input": _bce_input_vjp, "target": _bce_target_vjp},
   shape=lambda input, target, weight, reduction: _reduced(input, reduction),
   samples=explicit(
       lambda r: Sample((rand(r, 2, 3, low=0.1, high=0.9),
                         _probs(r, 2, 3), None, 1), gradcheck=False),
       lambda r: Sample((rand(r, 4, low=0.1, high=0.9), rand(r, 4, low=0.1, high=0.9),
                         None, 0))),
   torch=lambda torch, *a, **k: torch._C._nn.binary_cross_entropy(*a, **k))


def _bce_weight(weight, target):
    """F.binary_cross_entropy expands weight to the target's size."""
    if weight is None or _shape(weight) == _shape(target):
        return weight
    return F.expand(weight, broadcast_shapes(_shape(target), _shape(weight)))


def _binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                          reduction="mean"):
    _no_grad_for("binary_cross_entropy", "weight", weight)
    reduction = reduction_enum(size_average, reduce, reduction)
    if _shape(target) != _shape(input):
        raise OpError(f"Using a target size ({_size_text(_shape(target))}) that is different "
                      f"to the input size ({_size_text(_shape(input))}) is deprecated. Please "
                      "ensure they have the same size.")
    check_same_dtype(input, target)
    return F._binary_cross_entropy(input, target, _bce_weight(weight, target), reduction)


def _bce_shape(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
               *rest):
    return _reduced(input, reduction_enum(size_average, reduce, reduction))


# Const targets keep float32 while finite differences run in float64, and torch's BCE
# refuses mixed dtypes: those samples are compared with torch only (gradcheck=False).
BCE_SAMPLES = explicit(
    lambda r: Sample((rand(r, 2, 3, low=0.05, high=0.95), _probs(r, 2, 3)),
                     gradcheck=False),
    lambda r: Sample((rand(r, 2, 3, low=0.05, high=0.95), _probs(r, 2, 3)),
                     {"reduction": "sum"}, gradcheck=False),
    lambda r: Sample((rand(r, 2, 3, low=0.05, high=0.95), _probs(r, 2, 3)),
                     {"reduction": "none"}, gradcheck=False),
    lambda r: Sample((rand(r, 4, low=0.05, high=0.95), rand(r, 4, low=0.05, high=0.95))),
    lambda r: Sample((rand(r, 2, 3, low=0.05, high=0.95), rand(r, 2, 3, low=0.05, high=0.95)),
                     {"reduction": "none"}),
    lambda r: Sample((rand(r, 2, 3, low=0.05, high=0.95),
                      Const(_f32(np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])))),
                     {"weight": Const(_f32(rand(r, 3, low=0.5, high=2.0)))}, gradcheck=False),
    lambda r: Sample((rand(r, low=0.05, high=0.95), _probs(r)),
                     gradcheck=False))

op(f"binary_cross_entropy(Tensor input, Tensor target, Tensor? weight=None, {_LOSS_KW})"
   " -> Tensor", None, composite=True, method=False, forward=_binary_cross_entropy,
   shape=_bce_shape, samples=BCE_SAMPLES, torch=_functional("binary_cross_entropy"))


def _bce_logits_forward(input, target, weight=None, pos_weight=None, reduction=MEAN):
    # softplus(-x) = log1p(exp(-|x|)) + max(-x, 0): stable for large |x|
    softplus_neg = np.log1p(np.exp(-np.abs(input))) + np.maximum(-input, 0)
    if pos_weight is None:
        loss = (1 - target) * input + softplus_neg
    else:
        loss = (1 - target) * input + ((pos_weight - 1) * target + 1) * softplus_neg
    if weight is not None:
        loss = loss * weight
    return _apply_reduction(loss.astype(target.dtype, copy=False), reduction)


def _bce_logits_input_vjp(grad, input, target, weight, pos_weight, reduction):
    """torch's binary_cross_entropy_with_logits_backward, in its order of operations."""
    if pos_weight is None:
        out = F.sigmoid(input) - target
    else:  # (p t + 1 - t) sigmoid(x) - p t
        t = pos_weight * target
        out = (F._add_scalar(t, 1) - target) * F.sigmoid(input) - t
    out = out * grad
    if weight is not None:
        out = out * weight
    return F._div_scalar(out, _numel(input.shape)) if reduction == MEAN else out


def _bce_logits_target_vjp(grad, input, target, weight, pos_weight, reduction):
    """torch's binary_cross_entropy_with_logits_target_backward."""
    if pos_weight is None:
        out = -input * grad
    else:  # log_sigmoid(-x) - p log_sigmoid(x) = -x + (p - 1) softplus(-x)
        out = (F.logsigmoid(-input) - F.logsigmoid(input) * pos_weight) * grad
    if weight is not None:
        out = out * weight
    return F._div_scalar(out, _numel(target.shape)) if reduction == MEAN else out


op("_binary_cross_entropy_with_logits(Tensor input, Tensor target, Tensor? weight=None,"
   " Tensor? pos_weight=None, int reduction=1) -> Tensor",
   "BinaryCrossEntropyWithLogitsBackward0", method=False,
   jvp="transpose", dtype="none",  # torch's in-place steps give the target's dtype
   forward=_bce_logits_forward, nondiff=("weight", "pos_weight"),
   vjp={"input": _bce_logits_input_vjp, "target": _bce_logits_target_vjp},
   shape=lambda input, target, weight, pos_weight, reduction: _reduced(
       broadcast_shapes(input, target), reduction),
   samples=explicit(
       lambda r: Sample((rand(r, 2, 3), _probs(r, 2, 3), None, None,
                         1)),
       lambda r: Sample((rand(r, 4), rand(r, 4, low=0, high=1), None, None, 0))),
   torch=lambda torch, *a, **k: torch.binary_cross_entropy_with_logits(*a, **k))


def _binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                      reduce=None, reduction="mean", pos_weight=None):
    _no_grad_for("binary_cross_entropy_with_logits", "weight", weight)
    _no_grad_for("binary_cross_entropy_with_logits", "pos_weight", pos_weight)
    reduction = reduction_enum(size_average, reduce, reduction)
    if _shape(target) != _shape(input):
        raise OpError(f"Target size ({_size_text(_shape(target))}) must be the same as input "
                      f"size ({_size_text(_shape(input))})")
    # torch's formula, log_sigmoid(input) then (1 - target).mul_(input): its refusals, and a
    # loss of the target's dtype
    x, t = _raw(input).dtype, _raw(target).dtype
    if x.kind not in "fc":
        raise KernelNotImplemented(f'"log_sigmoid_cpu" not implemented for '
                                   f"'{dtypes.torch_type_name(x)}'")
    if t.kind == "b":
        raise OpError(_SUB_BOOLS)
    if t.kind not in "fc":
        raise OpError(f"result type {dtypes.torch_type_name(x)} can't be cast to the desired "
                      f"output type {dtypes.torch_type_name(t)}")
    return F._binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction)


op("binary_cross_entropy_with_logits(Tensor input, Tensor target, Tensor? weight=None,"
   f" {_LOSS_KW}, Tensor? pos_weight=None) -> Tensor", None, composite=True, method=False,
   forward=_binary_cross_entropy_with_logits, shape=_bce_shape,
   samples=explicit(
       lambda r: Sample((rand(r, 2, 3), _probs(r, 2, 3))),
       lambda r: Sample((rand(r, 2, 3), _probs(r, 2, 3)),
                        {"reduction": "sum"}),
       lambda r: Sample((rand(r, 2, 3), _probs(r, 2, 3)),
                        {"reduction": "none"}),
       lambda r: Sample((rand(r, 4), rand(r, 4, low=0, high=1))),
       lambda r: Sample((rand(r, 2, 3) * 30, _probs(r, 2, 3))),
       lambda r: Sample((rand(r, 2, 3), _probs(r, 2, 3)),
                        {"weight": Const(_f32(rand(r, 3, low=0.5, high=2.0)))}),
       lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3, low=0, high=1)),
                        {"pos_weight": Const(_f32(rand(r, 3, low=0.5, high=2.0)))})),
   torch=_functional("binary_cross_entropy_with_logits"))
