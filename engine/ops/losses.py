"""Losses, as torch.nn.functional has them: mse_loss, l1_loss, smooth_l1_loss,
binary_cross_entropy, binary_cross_entropy_with_logits (nll_loss and cross_entropy:
engine/ops/nll.py), and the reduction helpers they share.

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
from ..errors import KernelNotImplemented, OpError
from ..grad_mode import is_grad_enabled
from . import table
from .elementwise import _SUB_BOOLS
from .samples import Const, Sample, explicit, rand
from .sizes import numel
from .table import F, broadcast_shapes, check_same_dtype, op

NONE, MEAN, SUM = 0, 1, 2
_ENUM = {"none": NONE, "mean": MEAN, "sum": SUM}


def raw(x):
    return x.array if isinstance(x, table._Tensor) else x


def value_shape(x) -> tuple:
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


def no_grad_for(fn_name, arg, value):
    if isinstance(value, table._Tensor) and value.requires_grad and is_grad_enabled():
        raise OpError(f"The function '{fn_name}' is not differentiable with respect to "
                      f"argument '{arg}'. This input cannot have requires_grad True.")


def _broadcast_pair(input, target):
    """torch.broadcast_tensors as F.mse_loss uses it: expand only what changes shape."""
    a, b = value_shape(input), value_shape(target)
    if a == b:
        return input, target
    shape = broadcast_shapes(a, b)
    return (input if a == shape else F.expand(input, shape),
            target if b == shape else F.expand(target, shape))


def _warn_size(input, target):
    if value_shape(input) != value_shape(target):
        warnings.warn(f"Using a target size ({_size_text(value_shape(target))}) that is different "
                      f"to the input size ({_size_text(value_shape(input))}). This will likely lead "
                      "to incorrect results due to broadcasting. Please ensure they have the "
                      "same size.", UserWarning, stacklevel=4)


def _pair_shape(input, target, reduction):
    return _reduced(broadcast_shapes(input, target), reduction)


def f32(a):
    return a.astype(np.float32)


def probs(rng, *shape):
    """A float32 target in [0, 1) that does not require grad."""
    return Const(f32(rand(rng, *shape, low=0, high=1)))


_LOSS_KW = "Any size_average=None, Any reduce=None, str reduction='mean'"


def functional(name):
    return f"torch.nn.functional.{name}"


# --------------------------------------------------------------------------- mse, l1

def _mse_double_backward(grad, input, reduction):
    """torch's mse_loss_double_backward."""
    grad_input = F._mul_scalar(grad, 2)
    return F._div_scalar(grad_input, numel(input.shape)) if reduction == MEAN else grad_input


# torch's derivative kernel for mse_loss, an op of its own (MseLossBackwardBackward0)
def _mse_backward(grad_output, input, target, reduction):
    """torch's kernel: norm * (input - target) * grad_output in the operands' common dtype,
    norm (2/numel for the mean) converted to it first, so integers truncate it."""
    common = np.result_type(grad_output, input, target)
    norm = common.type(2.0 / max(numel(input.shape), 1) if reduction == MEAN else 2.0)
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
                    lambda r: Sample((rand(r, 3), rand(r, 3), Const(f32(rand(r, 3))), 0))),
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
                    lambda r: Sample((rand(r, 2, 3), Const(f32(rand(r, 2, 3))), 0))),
   torch=lambda torch, *a, **k: torch._C._nn.mse_loss(*a, **k))


def _weighted(errors, weight, input, reduction):
    """F.mse_loss/F.l1_loss with a weight: torch's Python does it with plain ops."""
    if value_shape(weight) != value_shape(input):
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
    lambda r: Sample((rand(r, 2, 3), Const(f32(rand(r, 2, 3))))),
    lambda r: Sample((rand(r, 2, 3), Const(f32(rand(r, 2, 3)))), {"reduction": "sum"}),
    lambda r: Sample((rand(r, 2, 3), Const(f32(rand(r, 2, 3)))), {"reduction": "none"}),
    lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3))),                  # target needs grad
    lambda r: Sample((rand(r, 3), rand(r, 2, 3)), {"reduction": "none"}),  # input broadcast
    lambda r: Sample((rand(r, 2, 3), Const(f32(rand(r, 3))))),
    lambda r: Sample((rand(r), Const(f32(rand(r))))),
    lambda r: Sample((rand(r, 4), Const(f32(rand(r, 4))), None, False)),  # legacy reduce=False
    lambda r: Sample((rand(r, 2, 3), Const(f32(rand(r, 2, 3)))),
                     {"weight": Const(f32(rand(r, 2, 3, low=0.5, high=2.0)))}),
    lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3)),
                     {"weight": rand(r, 2, 3, low=0.5, high=2.0), "reduction": "sum"}),
    lambda r: Sample((rand(r, 3), Const(f32(rand(r, 2, 3)))),
                     {"weight": rand(r, 3, low=0.5, high=2.0), "reduction": "none"}),
    lambda r: Sample((rand(r, 2, 3), Const(f32(rand(r, 2, 3)))),
                     {"weight": rand(r, 2, 3, low=0.5, high=2.0)}))

op(f"mse_loss(Tensor input, Tensor target, {_LOSS_KW}, Tensor? weight=None) -> Tensor", None,
   composite=True, method=False, forward=_mse_loss, shape=_pair_loss_shape,
   samples=PAIR_SAMPLES, torch=functional("mse_loss"))


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
   samples=PAIR_SAMPLES, torch=functional("l1_loss"))


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
    inside = np.abs(raw(input) - raw(target)) < beta
    out = F._div_scalar(grad * inside, beta)
    return F._div_scalar(out, numel(input.shape)) if reduction == MEAN else out


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
                    lambda r: Sample((rand(r, 3), rand(r, 3), Const(f32(rand(r, 3))), 0,
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
                    lambda r: Sample((rand(r, 2, 3), Const(f32(rand(r, 2, 3))), 0, 2.0))),
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
       lambda r: Sample((rand(r, 2, 3), Const(f32(rand(r, 2, 3))))),
       lambda r: Sample((rand(r, 2, 3), Const(f32(rand(r, 2, 3)))), {"beta": 0.5}),
       lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3)), {"reduction": "sum", "beta": 3.0}),
       lambda r: Sample((rand(r, 2, 3), Const(f32(rand(r, 2, 3)))),
                        {"reduction": "none", "beta": 0.7}),
       lambda r: Sample((rand(r, 2, 3), Const(f32(rand(r, 2, 3)))), {"beta": 0.0}),
       lambda r: Sample((rand(r, 3), Const(f32(rand(r, 2, 3)))), {"reduction": "none"}),
       # |x - t| == beta exactly: the kink, compared with torch only
       lambda r: Sample((np.array([1.5, -1.0, 0.25]), Const(np.array([0.5, 0.0, 0.25]))),
                        gradcheck=False)),
   torch=functional("smooth_l1_loss"))


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
    return F._div_scalar(gI, numel(input.shape)) if reduction == MEAN else gI


def _bce_double_backward_target(grad, grad_output, input, weight, reduction):
    """torch's binary_cross_entropy_double_backward_target: -1 / max(x (1 - x), eps)."""
    res = -grad * grad_output
    if weight is not None:
        res = res * weight
    denom = F.sub(1.0, input) * input
    res = res / F.where(raw(denom) < _EPS, _EPS, denom)  # clamp_min_, outside the graph
    return F._div_scalar(res, numel(input.shape)) if reduction == MEAN else res


def _bce_double_backward_grad_output(grad, input, target, weight, reduction):
    """torch's binary_cross_entropy_double_backward_grad_output."""
    ggO = (input - target) / (F._add_scalar(input, _EPS) * F._add_scalar(F.sub(1.0, input), _EPS))
    if weight is not None:
        ggO = ggO * weight
    ggO = ggO * grad
    return F._div_scalar(ggO, numel(input.shape)) if reduction == MEAN else ggO


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
       lambda r: Sample((rand(r, 4), rand(r, 4, low=0.1, high=0.9), probs(r, 4),
                         Const(f32(rand(r, 4, low=0.5, high=2.0))), 0), gradcheck=False)),
   torch="torch.ops.aten.binary_cross_entropy_backward")


def _bce_input_vjp(grad, input, target, weight, reduction):
    return F.binary_cross_entropy_backward(grad, input, target, weight, reduction)


def _bce_target_vjp(grad, input, target, weight, reduction):
    """torch's binary_cross_entropy_target_backward: -logit(x) * grad."""
    out = F.neg(F.logit(input)) * grad
    if weight is not None:
        out = out * weight
    return F._div_scalar(out, numel(input.shape)) if reduction == MEAN else out


op("_binary_cross_entropy(Tensor input, Tensor target, Tensor? weight=None,"
   " int reduction=1) -> Tensor", "BinaryCrossEntropyBackward0", method=False,
   jvp="transpose", dtype="none",  # the kernel's loss has the input's dtype, whatever weight's
   forward=_bce_forward, nondiff=("weight",),
   vjp={"input": _bce_input_vjp, "target": _bce_target_vjp},
   shape=lambda input, target, weight, reduction: _reduced(input, reduction),
   samples=explicit(
       lambda r: Sample((rand(r, 2, 3, low=0.1, high=0.9),
                         probs(r, 2, 3), None, 1), gradcheck=False),
       lambda r: Sample((rand(r, 4, low=0.1, high=0.9), rand(r, 4, low=0.1, high=0.9),
                         None, 0))),
   torch=lambda torch, *a, **k: torch._C._nn.binary_cross_entropy(*a, **k))


def _bce_weight(weight, target):
    """F.binary_cross_entropy expands weight to the target's size."""
    if weight is None or value_shape(weight) == value_shape(target):
        return weight
    return F.expand(weight, broadcast_shapes(value_shape(target), value_shape(weight)))


def _binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                          reduction="mean"):
    no_grad_for("binary_cross_entropy", "weight", weight)
    reduction = reduction_enum(size_average, reduce, reduction)
    if value_shape(target) != value_shape(input):
        raise OpError(f"Using a target size ({_size_text(value_shape(target))}) that is different "
                      f"to the input size ({_size_text(value_shape(input))}) is deprecated. Please "
                      "ensure they have the same size.")
    check_same_dtype(input, target)
    return F._binary_cross_entropy(input, target, _bce_weight(weight, target), reduction)


def _bce_shape(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
               *rest):
    return _reduced(input, reduction_enum(size_average, reduce, reduction))


# Const targets keep float32 while finite differences run in float64, and torch's BCE
# refuses mixed dtypes: those samples are compared with torch only (gradcheck=False).
BCE_SAMPLES = explicit(
    lambda r: Sample((rand(r, 2, 3, low=0.05, high=0.95), probs(r, 2, 3)),
                     gradcheck=False),
    lambda r: Sample((rand(r, 2, 3, low=0.05, high=0.95), probs(r, 2, 3)),
                     {"reduction": "sum"}, gradcheck=False),
    lambda r: Sample((rand(r, 2, 3, low=0.05, high=0.95), probs(r, 2, 3)),
                     {"reduction": "none"}, gradcheck=False),
    lambda r: Sample((rand(r, 4, low=0.05, high=0.95), rand(r, 4, low=0.05, high=0.95))),
    lambda r: Sample((rand(r, 2, 3, low=0.05, high=0.95), rand(r, 2, 3, low=0.05, high=0.95)),
                     {"reduction": "none"}),
    lambda r: Sample((rand(r, 2, 3, low=0.05, high=0.95),
                      Const(f32(np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])))),
                     {"weight": Const(f32(rand(r, 3, low=0.5, high=2.0)))}, gradcheck=False),
    lambda r: Sample((rand(r, low=0.05, high=0.95), probs(r)),
                     gradcheck=False))

op(f"binary_cross_entropy(Tensor input, Tensor target, Tensor? weight=None, {_LOSS_KW})"
   " -> Tensor", None, composite=True, method=False, forward=_binary_cross_entropy,
   shape=_bce_shape, samples=BCE_SAMPLES, torch=functional("binary_cross_entropy"))


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
    return F._div_scalar(out, numel(input.shape)) if reduction == MEAN else out


def _bce_logits_target_vjp(grad, input, target, weight, pos_weight, reduction):
    """torch's binary_cross_entropy_with_logits_target_backward."""
    if pos_weight is None:
        out = -input * grad
    else:  # log_sigmoid(-x) - p log_sigmoid(x) = -x + (p - 1) softplus(-x)
        out = (F.logsigmoid(-input) - F.logsigmoid(input) * pos_weight) * grad
    if weight is not None:
        out = out * weight
    return F._div_scalar(out, numel(target.shape)) if reduction == MEAN else out


op("_binary_cross_entropy_with_logits(Tensor input, Tensor target, Tensor? weight=None,"
   " Tensor? pos_weight=None, int reduction=1) -> Tensor",
   "BinaryCrossEntropyWithLogitsBackward0", method=False,
   jvp="transpose", dtype="none",  # torch's in-place steps give the target's dtype
   forward=_bce_logits_forward, nondiff=("weight", "pos_weight"),
   vjp={"input": _bce_logits_input_vjp, "target": _bce_logits_target_vjp},
   shape=lambda input, target, weight, pos_weight, reduction: _reduced(
       broadcast_shapes(input, target), reduction),
   samples=explicit(
       lambda r: Sample((rand(r, 2, 3), probs(r, 2, 3), None, None,
                         1)),
       lambda r: Sample((rand(r, 4), rand(r, 4, low=0, high=1), None, None, 0))),
   torch=lambda torch, *a, **k: torch.binary_cross_entropy_with_logits(*a, **k))


def _binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                      reduce=None, reduction="mean", pos_weight=None):
    no_grad_for("binary_cross_entropy_with_logits", "weight", weight)
    no_grad_for("binary_cross_entropy_with_logits", "pos_weight", pos_weight)
    reduction = reduction_enum(size_average, reduce, reduction)
    if value_shape(target) != value_shape(input):
        raise OpError(f"Target size ({_size_text(value_shape(target))}) must be the same as input "
                      f"size ({_size_text(value_shape(input))})")
    # torch's formula, log_sigmoid(input) then (1 - target).mul_(input): its refusals, and a
    # loss of the target's dtype
    x, t = raw(input).dtype, raw(target).dtype
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
       lambda r: Sample((rand(r, 2, 3), probs(r, 2, 3))),
       lambda r: Sample((rand(r, 2, 3), probs(r, 2, 3)),
                        {"reduction": "sum"}),
       lambda r: Sample((rand(r, 2, 3), probs(r, 2, 3)),
                        {"reduction": "none"}),
       lambda r: Sample((rand(r, 4), rand(r, 4, low=0, high=1))),
       lambda r: Sample((rand(r, 2, 3) * 30, probs(r, 2, 3))),
       lambda r: Sample((rand(r, 2, 3), probs(r, 2, 3)),
                        {"weight": Const(f32(rand(r, 3, low=0.5, high=2.0)))}),
       lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3, low=0, high=1)),
                        {"pos_weight": Const(f32(rand(r, 3, low=0.5, high=2.0)))})),
   torch=functional("binary_cross_entropy_with_logits"))
