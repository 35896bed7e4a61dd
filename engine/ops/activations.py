"""Activation rows (torch.nn.functional names).

Forwards and VJPs follow ATen's kernels and tools/autograd/derivatives.yaml, so values at the
kinks (relu at 0, hardtanh on its bounds, elu/selu at 0) are torch's choices.

Where torch's first derivative is itself an op with a ``*BackwardBackward`` node
(threshold_backward, hardtanh_backward, elu_backward...), that op is a row here too: its
output stays connected to the input, so ``x.grad`` after ``create_graph=True`` requires grad
(with torch's second derivative, often zero). Smooth activations write their VJP with plain
``F`` ops, which give torch's second-order values.
"""

import math

import numpy as np

from ..errors import DerivativeNotImplemented, OpError
from .elementwise import _erf, _sigmoid, same
from .samples import Sample, explicit, rand
from .table import F, check_same_dtype, op

_FN = "torch.nn.functional."


def _no_bool(message, forward):
    def checked(input, *args):
        if input.dtype.kind == "b":
            raise OpError(message)
        return forward(input, *args)
    return checked


def _kinks(*values, **kwargs):
    """A sample sitting exactly on the kinks: compared with torch, not finite differences."""
    return lambda r: Sample((np.array(values, dtype=np.float64),), kwargs, gradcheck=False)


def _smooth(low=-2.0, high=2.0, shapes=((), (3,), (2, 3), (2, 1, 3)), **kwargs):
    return [lambda r, s=s: Sample((rand(r, *s, low=low, high=high),), dict(kwargs))
            for s in shapes]


def _zero(grad):
    return F.zeros_like(grad)


# -- backward kernels: torch's *_backward ops, differentiable as derivatives.yaml says ----------

op("threshold_backward(Tensor grad_output, Tensor input, Scalar threshold) -> Tensor",
   "ThresholdBackwardBackward0",
   jvp="elementwise",
   kernel=("threshold_cpu", "fi"), forward=lambda grad_output, input, threshold: np.where(
       input <= threshold, 0, grad_output).astype(grad_output.dtype, copy=False),
   vjp={"grad_output": lambda grad, input, threshold: F.threshold_backward(
       grad, input, threshold), "input": _zero},
   shape=lambda grad_output, *args: grad_output, method=False,
   torch="torch.ops.aten.threshold_backward",
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3), 0.1))))

op("leaky_relu_backward(Tensor grad_output, Tensor input, Scalar negative_slope, "
   "bool self_is_result) -> Tensor", "LeakyReluBackwardBackward0",
   jvp="elementwise",
   kernel=("leaky_relu_backward_cpu", "f"),
   forward=lambda grad_output, input, negative_slope, self_is_result: np.where(
       input > 0, grad_output, grad_output * negative_slope),
   vjp={"grad_output": lambda grad, input, negative_slope: F.leaky_relu_backward(
       grad, input, negative_slope, False), "input": _zero},
   shape=lambda grad_output, *args: grad_output, method=False,
   torch="torch.ops.aten.leaky_relu_backward",
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3), 0.2, False))))

op("hardtanh_backward(Tensor grad_output, Tensor input, Scalar min_val, Scalar max_val) "
   "-> Tensor", "HardtanhBackwardBackward0",
   jvp="elementwise",
   # the bounds themselves pass no gradient (clamp's do)
   kernel=("hardshrink_backward_cpu", "f"),
   forward=lambda grad_output, input, min_val, max_val: np.where(
       (input <= min_val) | (input >= max_val), 0, grad_output
   ).astype(grad_output.dtype, copy=False),
   vjp={"grad_output": lambda grad, input, min_val, max_val: F.hardtanh_backward(
       grad, input, min_val, max_val), "input": _zero},
   shape=lambda grad_output, *args: grad_output, method=False,
   torch="torch.ops.aten.hardtanh_backward",
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3), -1.0, 1.0))))


def _shrink_mask(input, lambd):
    return (input >= -lambd) & (input <= lambd)


def _shrink_backward(grad_output, input, lambd):
    return np.where(_shrink_mask(input, lambd), 0, grad_output).astype(grad_output.dtype,
                                                                        copy=False)


# the two derivative kernels are one ATen kernel (shrink_backward_cpu) under two names
for _Name, _grad_output_vjp in [
        ("Softshrink", lambda grad, input, lambd: F.softshrink_backward(grad, input, lambd)),
        ("Hardshrink", lambda grad, input, lambd: F.hardshrink_backward(grad, input, lambd))]:
    op(f"{_Name.lower()}_backward(Tensor grad_output, Tensor input, Scalar lambd) -> Tensor",
       f"{_Name}BackwardBackward0",
       jvp="elementwise",
       kernel=("shrink_backward_cpu", "f"), forward=_shrink_backward,
       vjp={"grad_output": _grad_output_vjp, "input": _zero},
       shape=lambda grad_output, *args: grad_output, method=False,
       torch=f"torch.ops.aten.{_Name.lower()}_backward",
       samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3), 0.5))))


def _hardsigmoid_backward_vjp(grad):
    raise DerivativeNotImplemented("derivative for aten::hardsigmoid_backward is not implemented")


# torch has no double backward for hardsigmoid: NotImplemented, raising when reached
op("hardsigmoid_backward(Tensor grad_output, Tensor input) -> Tensor",
   "torch::autograd::NotImplemented",
   forward=lambda grad_output, input: np.where(
       (input > -3) & (input < 3), grad_output / 6, 0).astype(grad_output.dtype, copy=False),
   vjp={"grad_output": _hardsigmoid_backward_vjp, "input": _hardsigmoid_backward_vjp},
   shape=lambda grad_output, input: grad_output, method=False)


def _hardswish_backward(grad_output, input):
    # ATen's kernel: 0 up to and at -3, x/3 + 1/2 strictly inside, 1 from 3 on
    return np.where(input <= -3, 0, np.where(input < 3, grad_output * (input / 3 + 0.5),
                                             grad_output)).astype(grad_output.dtype, copy=False)


op("hardswish_backward(Tensor grad_output, Tensor input) -> Tensor",
   "HardswishBackwardBackward0", kernel=("hardswish_backward_cpu", "f"),
   forward=_hardswish_backward,
   jvp="elementwise",
   vjp={"grad_output": lambda grad, input: F.hardswish_backward(grad, input),
        "input": lambda grad, grad_output, input: F.where(
            (input > -3) & (input < 3), F._div_scalar(grad * grad_output, 3.0), 0.0)},
   shape=lambda grad_output, input: grad_output, method=False,
   torch="torch.ops.aten.hardswish_backward",
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3, low=-4.0, high=4.0)))))


def _elu_backward(grad_output, alpha, scale, input_scale, is_result, self_or_result):
    x = self_or_result
    if is_result:  # x is elu's output: on the negative side exp(x*s) = out / (alpha*scale) + 1
        neg = grad_output * input_scale * (x + alpha * scale)
    else:  # 0 takes the negative branch
        neg = grad_output * (input_scale * alpha * scale) * np.exp(np.minimum(x, 0) * input_scale)
    return np.where(x <= 0, neg, grad_output * scale).astype(grad_output.dtype, copy=False)


def _elu_double_backward(grad, grad_output, alpha, scale, input_scale, is_result,
                         self_or_result):
    # torch's elu_double_backward: the mask is strict, so 0 gets no second-order term
    negative = self_or_result < 0
    if is_result:
        return grad * grad_output * input_scale * negative
    return F.elu_backward(grad * grad_output * input_scale, alpha, scale, input_scale,
                          is_result, self_or_result) * negative


op("elu_backward(Tensor grad_output, Scalar alpha, Scalar scale, Scalar input_scale, "
   "bool is_result, Tensor self_or_result) -> Tensor", "EluBackwardBackward0",
   jvp="elementwise",
   kernel=("elu_backward_cpu", "f"), forward=_elu_backward,
   vjp={"grad_output": lambda grad, alpha, scale, input_scale, is_result, self_or_result:
        F.elu_backward(grad, alpha, scale, input_scale, is_result, self_or_result),
        "self_or_result": _elu_double_backward},
   shape=lambda grad_output, *args: grad_output, method=False,
   torch="torch.ops.aten.elu_backward",
   samples=explicit(lambda r: Sample((rand(r, 2, 3), 1.5, 1.0, 1.0, False, rand(r, 2, 3))),
                    lambda r: Sample((rand(r, 3), 1.0, 1.2, 0.5, False, rand(r, 3)))))


# -- relu family -----------------------------------------------------------------------------

op("relu(Tensor input) -> Tensor", "ReluBackward0",
   jvp="elementwise",
   forward=_no_bool("Boolean inputs not supported for relu", lambda input: np.maximum(input, 0)),
   # threshold_backward(grad, result, 0): a zero output (input <= 0) passes no gradient
   vjp={"input": lambda grad, result: F.threshold_backward(grad, result, 0)},
   shape=same, samples=explicit(*_smooth(), _kinks(-1.0, 0.0, 1.0)))

op("leaky_relu(Tensor input, Scalar negative_slope=0.01) -> Tensor", "LeakyReluBackward0",
   jvp="elementwise",
   forward=lambda input, negative_slope: np.where(input > 0, input, input * negative_slope),
   kernel=("leaky_relu_cpu", "f"),
   vjp={"input": lambda grad, input, negative_slope:
        F.leaky_relu_backward(grad, input, negative_slope, False)},
   shape=same, method=False, torch=_FN + "leaky_relu",
   samples=explicit(*_smooth(), *_smooth(shapes=[(2, 3)], negative_slope=0.2),
                    _kinks(-1.0, 0.0, 1.0, negative_slope=0.2)))

op("threshold(Tensor input, Scalar threshold, Scalar value) -> Tensor", "ThresholdBackward0",
   jvp="elementwise",
   kernel=("threshold_cpu", "fi"),
   forward=lambda input, threshold, value: np.where(
       input <= threshold, input.dtype.type(value), input),
   vjp={"input": lambda grad, input, threshold: F.threshold_backward(
       grad, input, threshold)},
   shape=same, method=False, torch=_FN + "threshold",
   samples=explicit(lambda r: Sample((rand(r, 2, 3), 0.1, 20.0)),
                    lambda r: Sample((np.array([-1.0, 0.1, 1.0]), 0.1, -3.0), gradcheck=False)))


def _hardtanh_vjp(grad, input, min_val, max_val):
    return F.hardtanh_backward(grad, input, min_val, max_val)


op("hardtanh(Tensor input, Scalar min_val=-1, Scalar max_val=1) -> Tensor",
   "HardtanhBackward0",
   jvp="elementwise",
   forward=_no_bool("Bool inputs not supported for hardtanh", lambda input, min_val, max_val:
                    np.minimum(np.maximum(input, min_val), max_val).astype(input.dtype)),
   vjp={"input": _hardtanh_vjp}, shape=same, method=False, torch=_FN + "hardtanh",
   samples=explicit(*_smooth(), *_smooth(shapes=[(2, 3)], min_val=-0.5, max_val=1.5),
                    _kinks(-2.0, -1.0, 0.0, 1.0, 2.0)))

op("relu6(Tensor input) -> Tensor", None, composite=True,
   forward=lambda input: F.hardtanh(input, 0.0, 6.0), shape=same, method=False,
   torch=_FN + "relu6",
   samples=explicit(*_smooth(-2.0, 8.0), _kinks(-1.0, 0.0, 3.0, 6.0, 7.0)))

# -- exponential units -----------------------------------------------------------------------

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _elu_forward(input, alpha, scale, input_scale):
    return np.where(input <= 0, np.expm1(np.minimum(input, 0) * input_scale) * (alpha * scale),
                    input * scale)


def _elu_vjp(grad, input, alpha, scale, input_scale):
    return F.elu_backward(grad, alpha, scale, input_scale, False, input)


op("elu(Tensor input, Scalar alpha=1.0, *, Scalar scale=1, Scalar input_scale=1) -> Tensor",
   "EluBackward0", forward=_elu_forward, kernel=("elu_cpu", "f"), vjp={"input": _elu_vjp},
   shape=same,
   jvp="elementwise",
   method=False, torch=lambda torch, input, alpha=1.0, scale=1, input_scale=1:
   torch.ops.aten.elu(input, alpha, scale, input_scale),
   samples=explicit(*_smooth(), *_smooth(shapes=[(2, 3)], alpha=0.5),
                    _kinks(-1.0, 0.0, 1.0, alpha=2.0)))

op("selu(Tensor input) -> Tensor", None, composite=True,
   forward=lambda input: F.elu(input, _SELU_ALPHA, scale=_SELU_SCALE),
   shape=same, method=False,
   samples=explicit(*_smooth(), _kinks(-1.0, 0.0, 1.0)))


def _celu_forward(input, alpha):
    if alpha == 0:
        raise OpError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _elu_forward(input, alpha, 1.0, 1.0 / alpha)


op("celu(Tensor input, Scalar alpha=1.0) -> Tensor", "CeluBackward0",
   jvp="elementwise",
   forward=_celu_forward, kernel=("elu_cpu", "f"),
   vjp={"input": lambda grad, input, alpha: _elu_vjp(grad, input, alpha, 1.0, 1.0 / alpha)},
   shape=same, method=False,
   samples=explicit(*_smooth(), *_smooth(shapes=[(2, 3)], alpha=0.5),
                    _kinks(-1.0, 0.0, 1.0, alpha=2.0)))

# -- smooth activations ----------------------------------------------------------------------

_SQRT1_2 = math.sqrt(0.5)
_GELU_PDF = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_BETA = math.sqrt(2.0 / math.pi)  # M_SQRT2 * M_2_SQRTPI * 0.5
_GELU_KAPPA = 0.044715


def _check_approximate(approximate):
    if approximate not in ("none", "tanh"):
        raise OpError("approximate argument must be either none or tanh.")


def _gelu_forward(input, approximate):
    _check_approximate(approximate)
    if approximate == "tanh":
        inner = _GELU_BETA * (input + _GELU_KAPPA * input ** 3)
        return 0.5 * input * (1 + np.tanh(inner))
    return input * 0.5 * (1 + _erf(input * _SQRT1_2))


def _gelu_backward(grad, input, approximate):
    # GeluBackward0's kernel, term by term
    if approximate == "tanh":
        x_sq = input * input
        tanh_inner = F.tanh(_GELU_BETA * (input + _GELU_KAPPA * x_sq * input))
        left_derivative = 0.5 * (1 + tanh_inner)
        right_derivative = 0.5 * input * (1 - tanh_inner * tanh_inner)
        inner_derivative = _GELU_BETA * (1 + 3 * _GELU_KAPPA * x_sq)
        return grad * (left_derivative + right_derivative * inner_derivative)
    cdf = 0.5 * (1 + F.erf(input * _SQRT1_2))
    pdf = _GELU_PDF * F.exp(-0.5 * input * input)
    return grad * (cdf + input * pdf)


def _gelu_double_backward(grad, grad_output, input, approximate):
    """d/dx of gelu_backward: grad * grad_output * gelu''(x)."""
    if approximate == "tanh":
        x_sq = input * input
        t = F.tanh(_GELU_BETA * (input + _GELU_KAPPA * x_sq * input))
        inner = _GELU_BETA * (1 + 3 * _GELU_KAPPA * x_sq)  # u'
        inner2 = (6 * _GELU_BETA * _GELU_KAPPA) * input  # u''
        dtanh = 1 - t * t
        second = dtanh * (inner + 0.5 * input * inner2) + (-input * t) * dtanh * inner * inner
    else:  # 2 pdf - x^2 pdf
        pdf = _GELU_PDF * F.exp(-0.5 * input * input)
        second = F._mul_scalar(pdf, 2) - input * input * pdf
    return grad * grad_output * second


def _gelu_backward_check(grad_output, input, approximate="none"):
    """torch runs the exact GELU's backward of a float32 input in oneDNN, which refuses a
    float64 grad in its own words (other mixes promote)."""
    if (approximate == "none" and input.array.dtype == np.float32
            and grad_output.array.dtype == np.float64):
        raise OpError("itensor_view_from_dense expects float/bfloat16/half/int8/fp8 tensor "
                      "inputDouble")


op("gelu_backward(Tensor grad_output, Tensor input, *, str approximate='none') -> Tensor",
   "GeluBackwardBackward0", kernel=("GeluBackwardKernelImpl", "f"), forward=_gelu_backward,
   check=_gelu_backward_check,
   jvp="elementwise",
   vjp={"grad_output": lambda grad, input, approximate: F.gelu_backward(
       grad, input, approximate=approximate), "input": _gelu_double_backward},
   shape=lambda grad_output, input, approximate: grad_output, method=False,
   torch="torch.ops.aten.gelu_backward",
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3, low=-3.0, high=3.0))),
                    lambda r: Sample((rand(r, 3), rand(r, 3, low=-3.0, high=3.0)),
                                     {"approximate": "tanh"})))


def _gelu_vjp(grad, input, approximate):
    return F.gelu_backward(grad, input, approximate=approximate)


op("gelu(Tensor input, *, str approximate='none') -> Tensor", "GeluBackward0",
   jvp="elementwise",
   forward=_gelu_forward, kernel=("GeluKernelImpl", "f"), vjp={"input": _gelu_vjp}, shape=same,
   method=False,
   torch=_FN + "gelu",
   samples=explicit(*_smooth(-3.0, 3.0), *_smooth(-3.0, 3.0, approximate="tanh"),
                    _kinks(0.0, approximate="none"), _kinks(0.0, approximate="tanh")))


def _silu_forward(input):
    with np.errstate(over="ignore"):  # ATen's x / (1 + exp(-x)); inf gives torch's -0
        return input / (1 + np.exp(-input))


def _silu_vjp(grad, input):
    # torch's infinitely_differentiable_silu_backward
    s = F.sigmoid(input)
    return grad * s * F._add_scalar(input * F.sub(1.0, s), 1.0)


op("silu(Tensor input) -> Tensor", "SiluBackward0",
   jvp="elementwise",
   forward=_silu_forward, kernel=("silu_cpu", "f"), vjp={"input": _silu_vjp},
   shape=same, method=False, torch=_FN + "silu",
   samples=explicit(*_smooth(-4.0, 4.0)))


def _softplus_forward(input, beta, threshold):
    scaled = input * beta
    with np.errstate(over="ignore"):  # the exp of the linear branch is never used
        soft = np.log1p(np.exp(scaled)) / beta
    return np.where(scaled > threshold, input, soft).astype(input.dtype, copy=False)


def _softplus_backward(grad_output, input, beta, threshold):
    # softplus_backward: z / (z + 1) with z = exp(beta x), i.e. sigmoid(beta x); above the
    # threshold the forward is x itself
    scaled = input * beta
    return np.where(scaled > threshold, grad_output, grad_output * _sigmoid(scaled)).astype(
        grad_output.dtype, copy=False)


def _softplus_double_backward(grad, grad_output, input, beta, threshold):
    # torch's softplus_double_backward
    x = F._mul_scalar(input, beta)
    return F._mul_scalar(F.sigmoid_backward(grad * grad_output, F.sigmoid(x)) * (x < threshold),
                         beta)


op("softplus_backward(Tensor grad_output, Tensor input, Scalar beta, Scalar threshold)"
   " -> Tensor", "SoftplusBackwardBackward0", kernel=("softplus_backward_cpu", "f"),
   forward=_softplus_backward,
   jvp="elementwise",
   vjp={"grad_output": lambda grad, input, beta, threshold: F.softplus_backward(
       grad, input, beta, threshold), "input": _softplus_double_backward},
   shape=lambda grad_output, *args: grad_output, method=False,
   torch="torch.ops.aten.softplus_backward",
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3, low=-4.0, high=4.0), 1.0,
                                      20.0)),
                    lambda r: Sample((rand(r, 3), rand(r, 3), 2.0, 3.0))))


def _softplus_vjp(grad, input, beta, threshold):
    return F.softplus_backward(grad, input, beta, threshold)


op("softplus(Tensor input, Scalar beta=1, Scalar threshold=20) -> Tensor", "SoftplusBackward0",
   jvp="elementwise",
   forward=_softplus_forward, kernel=("softplus_cpu", "f"), vjp={"input": _softplus_vjp},
   shape=same,
   method=False, torch=_FN + "softplus",
   samples=explicit(*_smooth(-4.0, 4.0), *_smooth(shapes=[(2, 3)], beta=2.0, threshold=3.0),
                    lambda r: Sample((np.array([-30.0, 0.0, 19.0, 25.0]),), gradcheck=False)))


def _mish_forward(input):
    with np.errstate(over="ignore"):  # ATen's x * tanh(log1p(exp(x))); tanh(inf) = 1
        return input * np.tanh(np.log1p(np.exp(input)))


def _mish_vjp(grad, input):
    t = F.tanh(F.softplus(input))
    return grad * (t + input * F.sigmoid(input) * (1 - t * t))


op("mish(Tensor input) -> Tensor", "MishBackward0",
   jvp="elementwise",
   forward=_mish_forward, kernel=("mish_cpu", "f"),
   vjp={"input": _mish_vjp}, shape=same, method=False, torch=_FN + "mish",
   samples=explicit(*_smooth(-4.0, 4.0)))

op("softsign(Tensor input) -> Tensor", None, composite=True,
   forward=lambda input: input / (F.abs(input) + 1), shape=same, method=False,
   torch=_FN + "softsign", samples=explicit(*_smooth(0.2, 2.0), *_smooth(-2.0, -0.2)))

op("tanhshrink(Tensor input) -> Tensor", None, composite=True,
   forward=lambda input: input - F.tanh(input), shape=same, method=False,
   torch=_FN + "tanhshrink", samples=explicit(*_smooth()))


def _logsigmoid_forward(input):
    # min(x, 0) - log1p(exp(-|x|)): no overflow for either sign
    return np.minimum(input, 0) - np.log1p(np.exp(-np.abs(input)))


# torch's log_sigmoid_backward also takes the forward's buffer, which the CPU kernel fills
# with exp(-|x|): it is a cache, never differentiated, so this row recomputes it
op("log_sigmoid_backward(Tensor grad_output, Tensor input) -> Tensor",
   "LogSigmoidBackwardBackward0",
   jvp="elementwise",
   kernel=("log_sigmoid_cpu", "f"),
   check=lambda grad_output, input: check_same_dtype(input, grad_output),  # no promotion
   forward=lambda grad_output, input: grad_output * _sigmoid(-input),
   vjp={"grad_output": lambda grad, input: F.log_sigmoid_backward(grad, input),
        # torch's log_sigmoid_double_backward
        "input": lambda grad, grad_output, input: _log_sigmoid_double_backward(
            grad * grad_output, input)},
   shape=lambda grad_output, input: grad_output, method=False,
   torch=lambda torch, grad_output, input: torch.ops.aten.log_sigmoid_backward(
       grad_output, input, torch.ops.aten.log_sigmoid_forward(input)[1]),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3, low=-4.0, high=4.0)))))


def _log_sigmoid_double_backward(grad, input):
    z = F.sigmoid(input)
    return grad * F._add_scalar(z, -1) * z


op("logsigmoid(Tensor input) -> Tensor", "LogSigmoidBackward0",
   jvp="elementwise",
   forward=_logsigmoid_forward, kernel=("log_sigmoid_cpu", "f"),
   vjp={"input": lambda grad, input: F.log_sigmoid_backward(grad, input)},
   shape=same, method=False, torch=_FN + "logsigmoid",
   samples=explicit(*_smooth(-4.0, 4.0), lambda r: Sample((np.array([-30.0, 0.0, 30.0]),))))

# -- hard (piecewise linear) activations -----------------------------------------------------

op("hardsigmoid(Tensor input) -> Tensor", "HardsigmoidBackward0",
   jvp="elementwise",
   forward=lambda input: np.minimum(np.maximum(input + 3, 0), 6) / 6,
   kernel=("hardsigmoid_cpu", "f"),
   # open interval: at -3 and 3 the gradient is 0
   vjp={"input": lambda grad, input: F.hardsigmoid_backward(grad, input)},
   shape=same, method=False, torch=_FN + "hardsigmoid",
   twice_differentiable=False,  # torch: derivative for aten::hardsigmoid_backward is not implemented
   samples=explicit(*_smooth(-4.0, 4.0), _kinks(-4.0, -3.0, 0.0, 3.0, 4.0)))


op("hardswish(Tensor input) -> Tensor", "HardswishBackward0",
   jvp="elementwise",
   forward=lambda input: input * np.minimum(np.maximum(input + 3, 0), 6) / 6,
   kernel=("hardswish_cpu", "f"),
   vjp={"input": lambda grad, input: F.hardswish_backward(grad, input)}, shape=same, method=False,
   torch=_FN + "hardswish",
   samples=explicit(*_smooth(-4.0, 4.0), _kinks(-4.0, -3.0, 0.0, 3.0, 4.0)))


def _softshrink(input, lambd):
    out = np.where(input > lambd, input - lambd, np.where(input < -lambd, input + lambd, 0))
    return out.astype(input.dtype, copy=False)


def _hardshrink(input, lambd):
    return np.where(_shrink_mask(input, lambd), 0, input).astype(input.dtype, copy=False)


op("softshrink(Tensor input, Scalar lambd=0.5) -> Tensor", "SoftshrinkBackward0",
   jvp="elementwise",
   forward=_softshrink, kernel=("softshrink_check", "f"),
   vjp={"input": lambda grad, input, lambd: F.softshrink_backward(grad, input, lambd)},
   shape=same, method=False, torch=_FN + "softshrink",
   samples=explicit(*_smooth(), *_smooth(shapes=[(2, 3)], lambd=1.0),
                    _kinks(-1.0, -0.5, 0.0, 0.5, 1.0)))

op("hardshrink(Tensor input, Scalar lambd=0.5) -> Tensor", "HardshrinkBackward0",
   jvp="elementwise",
   forward=_hardshrink, kernel=("hardshrink_cpu", "f"),
   vjp={"input": lambda grad, input, lambd: F.hardshrink_backward(grad, input, lambd)},
   shape=same, torch=_FN + "hardshrink",
   samples=explicit(*_smooth(), *_smooth(shapes=[(2, 3)], lambd=1.0),
                    _kinks(-1.0, -0.5, 0.0, 0.5, 1.0)))
