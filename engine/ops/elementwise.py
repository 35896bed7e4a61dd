"""Elementwise rows: arithmetic, powers, math functions, comparisons.

VJPs follow tools/autograd/derivatives.yaml; broadcasting is undone by the engine, not here.
"""

import math

import numpy as np

from .. import backend, dtypes
from ..errors import DerivativeNotImplemented, KernelNotImplemented, OpError
from . import table
from .samples import Const, Sample, binary, explicit, rand, unary
from .table import F, broadcast_shapes, op


def same(input, *args, **kwargs):
    return input


def bcast(input, other, *args):
    return broadcast_shapes(input, other)


def bcast3(a, b, c, *args):
    return broadcast_shapes(a, b, c)


# -- arithmetic ---------------------------------------------------------------------------

_SUB_BOOLS = ("Subtraction, the `-` operator, with two bool tensors is not supported. Use the "
              "`^` or `logical_xor()` operator instead.")
_SUB_BOOL = ("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
             "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
_NEG_BOOL = ("Negation, the `-` operator, on a bool tensor is not supported. If you are "
             "trying to invert a mask, use the `~` or `logical_not()` operator instead.")


def _is_bool(a):
    dt = getattr(a, "dtype", None)
    return dt is not None and dt.kind == "b"


def _check_sub(input, other, alpha=1):
    """torch refuses any bool in a subtraction, a Python bool too (a bool tensor to it);
    this sees the arguments before promotion would make a bool beside a number an int."""
    bools = sum(type(v) is bool or _is_bool(v.array if isinstance(v, table._Tensor) else v)
                for v in (input, other))
    if bools:
        raise OpError(_SUB_BOOLS if bools == 2 else _SUB_BOOL)


def _sub(input, other, alpha):
    return input - other if alpha == 1 else input - alpha * other


def _rsub(input, other, alpha):
    return other - input if alpha == 1 else other - alpha * input


def _neg(input):
    if _is_bool(input):
        raise OpError(_NEG_BOOL)
    return -input


def _abs(input):
    if _is_bool(input):
        raise KernelNotImplemented("\"abs_cpu\" not implemented for 'Bool'")
    return np.abs(input)


op("add.Tensor(Tensor input, Tensor other, *, Scalar alpha=1) -> Tensor", "AddBackward0",
   # torch's self_t + maybe_multiply(other_t, alpha): a new tensor (with a node when a
   # tangent requires grad) even where one side has no tangent, as a number has none
   jvp=lambda input_t, other_t, alpha: input_t + (other_t if alpha == 1 else other_t * alpha),
   forward=lambda input, other, alpha: input + other if alpha == 1 else input + alpha * other,
   vjp={"input": lambda grad: grad,
        # torch's maybe_multiply: a mul.Scalar (MulBackward1 under create_graph)
        "other": lambda grad, alpha: grad if alpha == 1 else F._mul_scalar(grad, alpha)},
   shape=bcast, samples=binary(scalar=2.5))

op("sub.Tensor(Tensor input, Tensor other, *, Scalar alpha=1) -> Tensor", "SubBackward0",
   check=_check_sub,
   jvp=lambda input_t, other_t, alpha: input_t - (other_t if alpha == 1 else other_t * alpha),
   forward=_sub,
   vjp={"input": lambda grad: grad,
        "other": lambda grad, alpha: -grad if alpha == 1 else -grad * alpha},
   shape=bcast, samples=binary(scalar=2.5))

op("rsub.Scalar(Tensor input, Scalar other, Scalar alpha=1) -> Tensor", "RsubBackward1",
   check=_check_sub,
   scalar_operands=("other",),
   jvp="elementwise",
   forward=_rsub,
   vjp={"input": lambda grad, alpha: -grad if alpha == 1 else -grad * alpha},
   shape=same, method=False, samples=unary(other=2.0))

op("rsub.Tensor(Tensor input, Tensor other, *, Scalar alpha=1) -> Tensor", "RsubBackward0",
   check=_check_sub,
   jvp="elementwise",
   forward=_rsub,
   vjp={"input": lambda grad, alpha: -grad if alpha == 1 else -grad * alpha,
        "other": lambda grad: grad},
   shape=bcast, samples=binary(shapes=[((3,), (3,)), ((2, 3), (3,))]))

op("mul.Tensor(Tensor input, Tensor other) -> Tensor", "MulBackward0",
   jvp="elementwise",
   forward=lambda input, other: input * other,
   vjp={"input": lambda grad, other: grad * other,
        "other": lambda grad, input: grad * input},
   shape=bcast, samples=binary(scalar=2.5))

op("div.Tensor(Tensor input, Tensor other) -> Tensor", "DivBackward0",
   jvp="elementwise",
   forward=lambda input, other: input / other,
   vjp={"input": lambda grad, other: grad / other,
        "other": lambda grad, input, other: -grad * ((input / other) / other)},
   dtype="float", shape=bcast, samples=binary(other_low=0.5, other_high=2.0, scalar=2.5))


def _div_mode(input, other, rounding_mode):
    if rounding_mode is None:
        out = np.true_divide(input, other)
        return out if input.dtype.kind == "f" else out.astype(dtypes.default_float.np)
    if input.dtype.kind == "b" and rounding_mode in ("floor", "trunc"):  # (both bool here)
        raise KernelNotImplemented(f'"div_{rounding_mode}_cpu" not implemented for \'Bool\'')
    if rounding_mode == "floor":
        return _floor_divide(input, other)
    if rounding_mode == "trunc":
        if input.dtype.kind in "biu":
            _int_zero_check(other)
            return np.trunc(np.true_divide(input, other)).astype(input.dtype)
        return np.trunc(input / other)
    raise OpError("div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                  f"found '{rounding_mode}'")


def _div_mode_vjp(name):
    def vjp(grad, input, other, rounding_mode):
        if rounding_mode is not None:  # a step function: torch's grad.new_zeros
            return F.zeros_like(grad)
        if name == "input":
            return grad / other
        return -grad * ((input / other) / other)
    return vjp


op("div.Tensor_mode(Tensor input, Tensor other, *, str? rounding_mode) -> Tensor",
   "DivBackward2", forward=_div_mode,
   jvp="elementwise",
   vjp={"input": _div_mode_vjp("input"), "other": _div_mode_vjp("other")},
   shape=lambda input, other, rounding_mode: broadcast_shapes(input, other),
   samples=lambda r: (binary(-3.0, 3.0, other_low=0.5, other_high=2.0, rounding_mode="floor")(r)
                      + binary(-3.0, 3.0, other_low=0.5, other_high=2.0,
                               rounding_mode="trunc")(r)
                      + binary(other_low=0.5, other_high=2.0, rounding_mode=None)(r)))

op("neg(Tensor input) -> Tensor", "NegBackward0",
   jvp="elementwise",
   forward=_neg,
   vjp={"input": lambda grad: -grad},
   shape=same, samples=unary())

op("reciprocal(Tensor input) -> Tensor", "ReciprocalBackward0",
   jvp="elementwise",
   forward=lambda input: 1 / input,
   vjp={"input": lambda grad, result: -grad * (result * result)},
   dtype="float", shape=same, samples=unary(0.5, 2.0))


def _pow_scalar_vjp(grad, input, exponent):
    if exponent == 0:
        return F.zeros_like(grad)
    # torch's pow_backward: grad * (exponent * self.pow(exponent - 1)), a mul.Scalar
    if exponent == 2 and not isinstance(input, table._Tensor):
        return grad * (input * 2.0)  # first order, on arrays: one pass fewer than input ** 1
    return grad * F._mul_scalar(input ** (exponent - 1), exponent)


op("pow.Tensor_Scalar(Tensor input, Scalar exponent) -> Tensor", "PowBackward0",
   scalar_operands=("exponent",),
   jvp="elementwise",
   forward=lambda input, exponent: input ** exponent,
   vjp={"input": _pow_scalar_vjp},
   shape=same,
   samples=explicit(lambda r: Sample((rand(r, 3), 2)), lambda r: Sample((rand(r, 2, 3), 3)),
                    lambda r: Sample((rand(r, 3, low=0.5), 2.5)),
                    lambda r: Sample((rand(r, 3, low=0.5), -1.5)),
                    lambda r: Sample((rand(r, 3), 0)),
                    lambda r: Sample((rand(r, 3), 1)),
                    lambda r: Sample((rand(r, 3, low=0.5), 0.5))))


def _pow_self_vjp(grad, input, exponent):
    # torch's pow_backward_self: an exponent of 0 gives 0, even where input ** -1 is inf
    return F.where(exponent == 0.0, 0.0, grad * (exponent * input ** (exponent - 1)))


def _pow_exponent_vjp(grad, input, exponent, result):
    # torch's pow_backward_exponent: 0 ** e has no log, the gradient there is 0 for e >= 0
    return grad * F.where((input == 0) & (exponent >= 0), 0.0, result * F.log(input))


op("pow.Tensor_Tensor(Tensor input, Tensor exponent) -> Tensor", "PowBackward1",
   kernel=("pow", "fi"),
   jvp="elementwise",
   forward=lambda input, exponent: input ** exponent,
   vjp={"input": _pow_self_vjp, "exponent": _pow_exponent_vjp},
   shape=bcast, samples=binary(0.5, 2.0, shapes=[((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3))]))

def _pow_base_scalar(self, exponent):
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 = inf, as torch
        return np.power(self, exponent)


def _pow_base_scalar_vjp(grad, self, exponent, result):
    # torch's pow_backward_exponent with a number base: d/de b**e = b**e * log(b), except
    # that 0 ** e (e >= 0) has no log and gets a zero gradient there
    if self == 0:
        with np.errstate(invalid="ignore"):  # 0 * -inf in the branch where() drops
            return grad * F.where(exponent >= 0, 0.0, result * float("-inf"))
    with np.errstate(invalid="ignore"):
        log_base = float(np.log(np.float64(self)))  # nan for a negative base, as torch
    return grad * F._mul_scalar(result, log_base)


op("pow.Scalar(Scalar self, Tensor exponent) -> Tensor", "PowBackward2",
   jvp="elementwise",
   forward=_pow_base_scalar,
   vjp={"exponent": _pow_base_scalar_vjp},
   dtype="float", shape=lambda self, exponent: exponent, method=False,
   samples=explicit(lambda r: Sample((2.0, rand(r, 3))), lambda r: Sample((0.5, rand(r, 2, 3))),
                    # torch's second order here is nan (the unselected where branch holds
                    # 0 * -inf), so finite differences cannot agree with it
                    lambda r: Sample((0.0, rand(r, 3, low=0.2, high=2.0)), gradcheck=False),
                    lambda r: Sample((0.0, np.array([-1.0, 0.0, 1.5])), gradcheck=False),
                    lambda r: Sample((-2.0, np.array([1.0, 2.0])), gradcheck=False)))

op("square(Tensor input) -> Tensor", None, composite=True,
   forward=lambda input: F.pow(input, 2), shape=same, samples=unary())

op("abs(Tensor input) -> Tensor", "AbsBackward0",
   jvp="elementwise",
   forward=_abs, vjp={"input": lambda grad, input: grad * F.sgn(input)},
   shape=same, samples=unary(0.2, 2.0))

# torch's sgn is sign for real tensors; abs's derivative is written with it
def _sign(input):
    """np.sign, and the identity on bool (NumPy has no bool loop; torch's sign of a bool is
    itself)."""
    return input.copy() if input.dtype.kind == "b" else np.sign(input)


op("sgn(Tensor input) -> Tensor", "SgnBackward0",
   jvp="elementwise",
   # torch's sgn_backward(self, grad, result) saves both (so sgn_ then an in-place edit fails)
   forward=_sign, vjp={"input": lambda grad, input, result: F.zeros_like(grad)},
   shape=same, samples=unary(0.2, 2.0))

op("sign(Tensor input) -> Tensor", "SignBackward0",
   jvp="elementwise",
   forward=_sign, vjp={"input": lambda grad: F.zeros_like(grad)},
   shape=same, samples=unary(0.2, 2.0))

# -- math ---------------------------------------------------------------------------------

op("exp(Tensor input) -> Tensor", "ExpBackward0",
   jvp="elementwise",
   forward=np.exp, vjp={"input": lambda grad, result: grad * result},
   dtype="float", shape=same, samples=unary())

op("log(Tensor input) -> Tensor", "LogBackward0",
   jvp="elementwise",
   forward=np.log, vjp={"input": lambda grad, input: grad / input},
   dtype="float", shape=same, samples=unary(0.2, 3.0))

op("sqrt(Tensor input) -> Tensor", "SqrtBackward0",
   jvp="elementwise",
   forward=np.sqrt, vjp={"input": lambda grad, result: grad / F._mul_scalar(result, 2)},
   dtype="float", shape=same, samples=unary(0.2, 3.0))

op("sin(Tensor input) -> Tensor", "SinBackward0",
   jvp="elementwise",
   forward=np.sin, vjp={"input": lambda grad, input: grad * F.cos(input)},
   dtype="float", shape=same, samples=unary())

op("cos(Tensor input) -> Tensor", "CosBackward0",
   jvp="elementwise",
   forward=np.cos, vjp={"input": lambda grad, input: grad * -F.sin(input)},
   dtype="float", shape=same, samples=unary())

op("tanh(Tensor input) -> Tensor", "TanhBackward0",
   jvp="elementwise",
   forward=np.tanh, vjp={"input": lambda grad, result: F.tanh_backward(grad, result)},
   dtype="float", shape=same, samples=unary())

# From this many elements the derivative kernels write their passes into one temporary
# (a third faster at an MLP's 256x512); below it NumPy's call overhead outweighs that.
_IN_PLACE_MIN = 1024


def _tanh_backward(grad_output, output):
    d = output * output
    if d.size < _IN_PLACE_MIN or d.shape != grad_output.shape:  # (the table cast the dtypes)
        return grad_output * (1 - d)
    xp = backend.module_of(d)
    xp.subtract(1, d, out=d)
    return xp.multiply(grad_output, d, out=d)


def _sigmoid_backward(grad_output, output):
    d = 1 - output
    if d.size < _IN_PLACE_MIN or d.shape != grad_output.shape:
        return grad_output * (d * output)
    xp = backend.module_of(d)
    xp.multiply(d, output, out=d)
    return xp.multiply(grad_output, d, out=d)


# torch's derivative kernels for tanh and sigmoid, ops of their own (TanhBackwardBackward0);
# samples broadcast too (their in-place route, for large inputs, is in test_engine_fastpaths)
_BACKWARD_KERNEL_SHAPES = [((3,), (3,)), ((2, 3), (2, 3)), ((2, 3), (3,)), ((3,), (2, 3)), ((), ())]
op("tanh_backward(Tensor grad_output, Tensor output) -> Tensor", "TanhBackwardBackward0",
   jvp="elementwise",
   kernel=("tanh_backward_cpu", "f"),
   forward=_tanh_backward,
   vjp={"grad_output": lambda grad, output: F.tanh_backward(grad, output),
        "output": lambda grad, grad_output, output: grad * (
            F._mul_scalar(output, -2) * grad_output)},
   dtype="float", shape=bcast, method=False, torch="torch.ops.aten.tanh_backward",
   samples=binary(-0.9, 0.9, shapes=_BACKWARD_KERNEL_SHAPES))

op("sigmoid_backward(Tensor grad_output, Tensor output) -> Tensor",
   "SigmoidBackwardBackward0",
   jvp="elementwise",
   kernel=("sigmoid_backward_cpu", "f"),
   forward=_sigmoid_backward,
   vjp={"grad_output": lambda grad, output: F.sigmoid_backward(grad, output),
        "output": lambda grad, grad_output, output: grad * grad_output * F._add_scalar(
            F._mul_scalar(output, -2), 1)},
   dtype="float", shape=bcast, method=False, torch="torch.ops.aten.sigmoid_backward",
   samples=binary(0.1, 0.9, shapes=_BACKWARD_KERNEL_SHAPES))

def _erf(x):
    """erf elementwise to float64 accuracy: math.erf per element (scipy is no dependency);
    CuPy arrays use cupyx's kernel."""
    if backend.module_of(x) is not np:
        import cupyx.scipy.special
        return cupyx.scipy.special.erf(x)
    return np.asarray(_ERF(x), dtype=np.float64).astype(x.dtype, copy=False)


def _erfc(x):
    if backend.module_of(x) is not np:
        import cupyx.scipy.special
        return cupyx.scipy.special.erfc(x)
    return np.asarray(_ERFC(x), dtype=np.float64).astype(x.dtype, copy=False)


_ERF = np.frompyfunc(math.erf, 1, 1)
_ERFC = np.frompyfunc(math.erfc, 1, 1)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


op("rsqrt(Tensor input) -> Tensor", "RsqrtBackward0",
   jvp="elementwise",
   forward=lambda input: 1 / np.sqrt(input),
   vjp={"input": lambda grad, result: -0.5 * grad * result ** 3},
   dtype="float", shape=same, samples=unary(0.3, 3.0))

op("exp2(Tensor input) -> Tensor", "Exp2Backward0",
   jvp="elementwise",
   forward=np.exp2,
   vjp={"input": lambda grad, result: F._mul_scalar(grad * result, math.log(2.0))},
   dtype="float", shape=same, samples=unary())

op("log2(Tensor input) -> Tensor", "Log2Backward0",
   jvp="elementwise",
   forward=np.log2,
   vjp={"input": lambda grad, input: grad / F._mul_scalar(input, math.log(2.0))},
   dtype="float", shape=same, samples=unary(0.2, 3.0))

op("log10(Tensor input) -> Tensor", "Log10Backward0",
   jvp="elementwise",
   forward=np.log10,
   vjp={"input": lambda grad, input: grad / F._mul_scalar(input, math.log(10.0))},
   dtype="float", shape=same, samples=unary(0.2, 3.0))

op("log1p(Tensor input) -> Tensor", "Log1PBackward0",
   jvp="elementwise",
   forward=np.log1p, vjp={"input": lambda grad, input: grad / F._add_scalar(input, 1)},
   dtype="float", shape=same, samples=unary(-0.8, 2.0))

op("expm1(Tensor input) -> Tensor", "Expm1Backward0",
   jvp="elementwise",
   forward=np.expm1, vjp={"input": lambda grad, result: grad * F._add_scalar(result, 1)},
   dtype="float", shape=same, samples=unary())

op("tan(Tensor input) -> Tensor", "TanBackward0",
   jvp="elementwise",
   forward=np.tan,
   vjp={"input": lambda grad, result: grad * F._add_scalar(result ** 2, 1)},
   dtype="float", shape=same, samples=unary(-1.2, 1.2))

op("asin(Tensor input) -> Tensor", "AsinBackward0",
   jvp="elementwise",
   forward=np.arcsin, vjp={"input": lambda grad, input: grad * F.rsqrt(-input * input + 1)},
   dtype="float", shape=same, samples=unary(-0.9, 0.9))

op("acos(Tensor input) -> Tensor", "AcosBackward0",
   jvp="elementwise",
   forward=np.arccos, vjp={"input": lambda grad, input: grad * -F.rsqrt(-input * input + 1)},
   dtype="float", shape=same, samples=unary(-0.9, 0.9))

op("atan(Tensor input) -> Tensor", "AtanBackward0",
   jvp="elementwise",
   forward=np.arctan,
   vjp={"input": lambda grad, input: grad / F._add_scalar(input * input, 1)},
   dtype="float", shape=same, samples=unary(-3.0, 3.0))

def _atan2_recip(input, other):
    # torch's atan2_backward: 1 / (x^2 + y^2), set to 0 at the origin (0/0 there, not NaN)
    origin = (input == 0) & (other == 0)
    return F._masked_fill(F.reciprocal(input * input + other * other), origin, 0.0)


op("atan2(Tensor input, Tensor other) -> Tensor", "Atan2Backward0",
   jvp="elementwise",
   forward=np.arctan2,
   vjp={"input": lambda grad, input, other: grad * other * _atan2_recip(input, other),
        "other": lambda grad, input, other: grad * -input * _atan2_recip(input, other)},
   dtype="float", shape=bcast,
   samples=lambda r: binary(0.2, 2.0, other_low=-2.0, other_high=-0.2)(r) + [
       Sample((np.array([0.0, 0.0, 1.0]), np.array([0.0, -1.0, 0.0])), gradcheck=False)])

op("sinh(Tensor input) -> Tensor", "SinhBackward0",
   jvp="elementwise",
   forward=np.sinh, vjp={"input": lambda grad, input: grad * F.cosh(input)},
   dtype="float", shape=same, samples=unary())

op("cosh(Tensor input) -> Tensor", "CoshBackward0",
   jvp="elementwise",
   forward=np.cosh, vjp={"input": lambda grad, input: grad * F.sinh(input)},
   dtype="float", shape=same, samples=unary())

op("asinh(Tensor input) -> Tensor", "AsinhBackward0",
   jvp="elementwise",
   forward=np.arcsinh, vjp={"input": lambda grad, input: grad * F.rsqrt(input ** 2 + 1)},
   dtype="float", shape=same, samples=unary(-3.0, 3.0))

op("acosh(Tensor input) -> Tensor", "AcoshBackward0",
   jvp="elementwise",
   forward=np.arccosh, vjp={"input": lambda grad, input: grad * F.rsqrt(input ** 2 - 1)},
   dtype="float", shape=same, samples=unary(1.2, 3.0))

op("atanh(Tensor input) -> Tensor", "AtanhBackward0",
   jvp="elementwise",
   forward=np.arctanh,
   vjp={"input": lambda grad, input: grad / F.sub(1.0, input ** 2)},
   dtype="float", shape=same, samples=unary(-0.9, 0.9))

op("erf(Tensor input) -> Tensor", "ErfBackward0",
   jvp="elementwise",
   forward=_erf,
   vjp={"input": lambda grad, input: F._mul_scalar(F.exp(-(input ** 2)), _TWO_OVER_SQRT_PI)
        * grad},
   dtype="float", shape=same, samples=unary(-2.5, 2.5))

op("erfc(Tensor input) -> Tensor", "ErfcBackward0",
   jvp="elementwise",
   forward=_erfc,
   vjp={"input": lambda grad, input: F._mul_scalar(F.exp(-(input ** 2)), -_TWO_OVER_SQRT_PI)
        * grad},
   dtype="float", shape=same, samples=unary(-2.5, 2.5))


def _sigmoid(x):
    # ATen's formula, 1 / (1 + exp(-x)): exp may overflow to inf, giving torch's exact 0
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


op("sigmoid(Tensor input) -> Tensor", "SigmoidBackward0",
   jvp="elementwise",
   forward=_sigmoid, vjp={"input": lambda grad, result: F.sigmoid_backward(grad, result)},
   dtype="float", shape=same,
   samples=explicit(*[lambda r, s=s: Sample((rand(r, *s, low=-4.0, high=4.0),))
                      for s in [(), (3,), (2, 3)]],
                    lambda r: Sample((np.array([-30.0, -1.0, 0.0, 1.0, 30.0]),))))


def _logit_forward(input, eps):
    if eps is not None:
        input = np.clip(input, eps, 1 - eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(input / (1 - input))


def _logit_vjp(grad, input, eps):
    # torch's logit_backward: outside [eps, 1 - eps] the clamped forward is flat (grad 0);
    # with no eps, outside [0, 1] it is nan
    inner = grad / (input * F.sub(1.0, input))
    if eps is None:
        return F.where((input >= 0.0) & (input <= 1.0), inner, float("nan"))
    return F.where((input >= eps) & (input <= 1 - eps), inner, 0.0)


op("logit(Tensor input, float? eps=None) -> Tensor", "LogitBackward0",
   jvp="elementwise",
   forward=_logit_forward, vjp={"input": _logit_vjp},
   dtype="float", shape=same,
   samples=explicit(*[lambda r, s=s: Sample((rand(r, *s, low=0.05, high=0.95),))
                      for s in [(), (3,), (2, 3)]],
                    lambda r: Sample((rand(r, 2, 3, low=0.01, high=0.99),), {"eps": 0.1}),
                    lambda r: Sample((np.array([0.1, 0.5, 0.9, 0.05]),), {"eps": 0.1},
                                     gradcheck=False)))

# -- clamping, min/max, rounding ----------------------------------------------------------


def _clamp_scalar(input, min, max):
    if min is None and max is None:
        raise OpError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if input.dtype.kind in "biu" and any(isinstance(b, float) for b in (min, max)):
        input = input.astype(dtypes.default_float.np)  # torch promotes int by a float bound
    return _clamp_bounds(input, min, max)


def _clamp_bounds(input, min, max):
    """Both clamps' forward: the lower bound, then the upper (so that where min > max the
    output is max, as in torch)."""
    out = input
    if min is not None:
        out = np.maximum(out, min)
    if max is not None:
        out = np.minimum(out, max)
    return out


def _clamp_input_vjp(grad, input, min, max):
    # torch's clamp_backward (and clamp_backward_min_max for the input): the bounds are
    # inclusive, a value on them keeps its gradient
    if max is None:
        return F.where(input >= min, grad, 0.0)
    if min is None:
        return F.where(input <= max, grad, 0.0)
    return F.where((input >= min) & (input <= max), grad, 0.0)


op("clamp(Tensor input, Scalar? min=None, Scalar? max=None) -> Tensor", "ClampBackward1",
   jvp="elementwise",
   forward=_clamp_scalar, vjp={"input": _clamp_input_vjp}, shape=same,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), -0.5, 0.5)),
                    lambda r: Sample((rand(r, 3),), {"min": 0.2}),
                    lambda r: Sample((rand(r, 3),), {"max": 0.2}),
                    lambda r: Sample((rand(r, 2, 3), 1.0, -1.0)),
                    lambda r: Sample((np.array([-1.0, -0.5, 0.0, 0.5, 1.0]), -0.5, 0.5),
                                     gradcheck=False)))


def _clamp_tensor(input, min, max):
    if min is None and max is None:
        raise OpError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if _is_number_bound(min) or _is_number_bound(max):
        # a number beside a Tensor bound fits neither overload: torch's argument parser
        shown = ", ".join(["Tensor"] + [_bound_type(b) for b in (min, max)])
        raise OpError(f"clamp() received an invalid combination of arguments - got ({shown}), "
                      "but expected one of:\n * (Tensor input, Tensor min = None, Tensor max "
                      "= None, *, Tensor out = None)\n * (Tensor input, Number min = None, "
                      "Number max = None, *, Tensor out = None)\n")
    return _clamp_bounds(input, min, max)


def _is_number_bound(b):
    return b is not None and (isinstance(b, (int, float)) or isinstance(b, np.generic))


def _bound_type(b):
    if b is None:
        return "NoneType"
    if isinstance(b, np.generic):
        return type(b.item()).__name__
    return type(b).__name__ if isinstance(b, (int, float)) else "Tensor"


# torch's clamp_backward_min_max: a value on a bound keeps its own gradient; when min > max
# the output is max, so max takes the gradient
def _clamp_min_vjp(grad, input, min, max):
    if max is None:
        return F.where(input < min, grad, 0.0)
    return F.where((input < min) & (min < max), grad, 0.0)


def _clamp_max_vjp(grad, input, min, max):
    if min is None:
        return F.where(input > max, grad, 0.0)
    return F.where((input > max) | (max < min), grad, 0.0)


def _clamp_shape(input, min, max):
    return broadcast_shapes(*[s for s in (input, min, max) if s is not None])


def _clamp_jvp(input, input_t, min, min_t, max, max_t):
    """torch's clamp_jvp: a bound's tangent where that bound clamps, else the input's (at a
    tie, the input's); max's where min > max (the result is max there)."""
    out = input_t
    if max is not None:
        out = F.where(input > max, max_t, out)
    if min is not None:
        out = F.where(input < min, min_t, out)
    if min is not None and max is not None:
        out = F.where(min > max, max_t, out)
    return out


op("clamp.Tensor(Tensor input, Tensor? min=None, Tensor? max=None) -> Tensor",
   "ClampBackward0", forward=_clamp_tensor, kernel=("clamp_cpu", "fi"),
   jvp=_clamp_jvp,
   vjp={"input": _clamp_input_vjp, "min": _clamp_min_vjp, "max": _clamp_max_vjp},
   shape=_clamp_shape,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 3, low=-1.5, high=-0.2),
                                      rand(r, 2, 1, low=0.2, high=1.5))),
                    lambda r: Sample((rand(r, 2, 3), rand(r, 2, 3), None)),
                    lambda r: Sample((rand(r, 3),), {"max": rand(r, 2, 3)}),
                    lambda r: Sample((rand(r, 3), rand(r, 3, low=0.5, high=1.0),
                                      rand(r, 3, low=-1.0, high=-0.5))),
                    lambda r: Sample((np.array([-1.0, 0.0, 1.0, 2.0]),
                                      np.array([-1.0, 0.5, 0.0, 2.0]),
                                      np.array([1.0, 0.5, 1.0, 2.0])), gradcheck=False)))

op("clamp_min(Tensor input, Scalar min) -> Tensor", "ClampMinBackward0",
   jvp="elementwise",
   forward=lambda input, min: _clamp_scalar(input, min, None),
   vjp={"input": lambda grad, input, min: F.where(input >= min, grad, 0.0)}, shape=same,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), 0.1)),
                    lambda r: Sample((np.array([-1.0, 0.1, 1.0]), 0.1), gradcheck=False)))

op("clamp_min.Tensor(Tensor input, Tensor min) -> Tensor", "ClampMinBackward1",
   jvp="elementwise",
   forward=np.maximum,
   vjp={"input": lambda grad, input, min: F.where(input >= min, grad, 0.0),
        "min": lambda grad, input, min: F.where(input < min, grad, 0.0)},
   shape=bcast, samples=binary(shapes=[((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3))]))

op("clamp_max(Tensor input, Scalar max) -> Tensor", "ClampMaxBackward0",
   jvp="elementwise",
   forward=lambda input, max: _clamp_scalar(input, None, max),
   vjp={"input": lambda grad, input, max: F.where(input <= max, grad, 0.0)}, shape=same,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), 0.1)),
                    lambda r: Sample((np.array([-1.0, 0.1, 1.0]), 0.1), gradcheck=False)))

op("clamp_max.Tensor(Tensor input, Tensor max) -> Tensor", "ClampMaxBackward1",
   jvp="elementwise",
   forward=np.minimum,
   vjp={"input": lambda grad, input, max: F.where(input <= max, grad, 0.0),
        "max": lambda grad, input, max: F.where(input > max, grad, 0.0)},
   shape=bcast, samples=binary(shapes=[((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3))]))

_TIES = explicit(lambda r: Sample((np.array([1.0, -0.5, 2.0, 0.0]), np.array([1.0, 0.5, -2.0, 0.0])),
                                  gradcheck=False))


def _with_ties(make):
    return lambda r: make(r) + _TIES(r)


# torch's maximum/minimum backward: at a tie each input gets half the gradient
op("maximum(Tensor input, Tensor other) -> Tensor", "MaximumBackward0",
   jvp="elementwise",
   forward=np.maximum,
   vjp={"input": lambda grad, input, other: F.where(
            input == other, grad / 2, F.where(input < other, 0.0, grad)),
        "other": lambda grad, input, other: F.where(
            input == other, grad / 2, F.where(input > other, 0.0, grad))},
   shape=bcast, samples=_with_ties(binary()))

op("minimum(Tensor input, Tensor other) -> Tensor", "MinimumBackward0",
   jvp="elementwise",
   forward=np.minimum,
   vjp={"input": lambda grad, input, other: F.where(
            input == other, grad / 2, F.where(input > other, 0.0, grad)),
        "other": lambda grad, input, other: F.where(
            input == other, grad / 2, F.where(input < other, 0.0, grad))},
   shape=bcast, samples=_with_ties(binary()))


def _keep_ints(fn):
    """Rounding is the identity on integers, and keeps their dtype (NumPy would not)."""
    return lambda input: input.copy() if input.dtype.kind in "biu" else fn(input)


_ZERO = {"input": lambda grad: F.zeros_like(grad)}
_ROUNDING_SAMPLES = explicit(*[lambda r, s=s: Sample((rand(r, *s, low=-3.0, high=3.0),))
                               for s in [(), (3,), (2, 3)]],
                             lambda r: Sample((np.array([-1.5, -0.5, 0.0, 0.5, 1.5, 2.5]),),
                                              gradcheck=False))

for _name, _fn in [("floor", np.floor), ("ceil", np.ceil), ("trunc", np.trunc),
                   ("round", np.rint)]:
    op(f"{_name}(Tensor input) -> Tensor", f"{_name.capitalize()}Backward0",
       forward=_keep_ints(_fn),
       kernel=(f"{_name}_vml_cpu", "fi"),
       jvp="elementwise",
       vjp=_ZERO, shape=same, samples=_ROUNDING_SAMPLES)
op("round.decimals(Tensor input, *, int decimals) -> Tensor", "RoundBackward1",
   jvp="elementwise",
   forward=np.round, kernel=("round_cpu", "f"), vjp=_ZERO, shape=same,
   samples=explicit(lambda r: Sample((rand(r, 2, 3),), {"decimals": 2}),
                    lambda r: Sample((rand(r, 3, low=-300.0, high=300.0),), {"decimals": -1})))
op("frac(Tensor input) -> Tensor", "FracBackward0",
   jvp="elementwise",
   forward=lambda input: input - np.trunc(input), kernel=("frac_cpu", "f"),
   vjp={"input": lambda grad: grad},
   shape=same, samples=_ROUNDING_SAMPLES)


def _int_zero_check(other):
    if getattr(other, "dtype", np.dtype("f")).kind in "biu" and np.any(other == 0) or (
            isinstance(other, int) and other == 0):
        raise OpError("ZeroDivisionError")


def _remainder(input, other):
    if input.dtype.kind in "biu":
        _int_zero_check(other)
    return np.remainder(input, other)


def _floor_divide(input, other):
    if input.dtype.kind in "biu":
        _int_zero_check(other)
    return np.floor_divide(input, other)


op("remainder.Scalar(Tensor input, Scalar other) -> Tensor", "RemainderBackward0",
   scalar_operands=("other",),
   jvp="elementwise",
   forward=_remainder, vjp={"input": lambda grad: grad}, shape=same,
   samples=explicit(lambda r: Sample((rand(r, 2, 3, low=-3.0, high=3.0), 0.7)),
                    lambda r: Sample((rand(r, 3, low=-3.0, high=3.0), -0.7))))

op("remainder.Tensor(Tensor input, Tensor other) -> Tensor", "RemainderBackward1",
   kernel=("remainder_cpu", "fi"),
   numbers=("input",),  # torch's remainder.Scalar_Tensor
   jvp="elementwise",
   forward=_remainder,
   vjp={"input": lambda grad: grad,
        # torch: -grad * self.div(other, rounding_mode="floor"), whose own derivative is 0
        "other": lambda grad, input, other: -grad * F.div(input, other, rounding_mode="floor")},
   shape=bcast,
   samples=binary(-3.0, 3.0, other_low=0.5, other_high=2.0,
                  shapes=[((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))]))


def _floor_divide_vjp(grad):
    raise DerivativeNotImplemented("derivative for aten::floor_divide is not implemented")


# torch has no derivative for floor_divide: its node is NotImplemented and backward raises
op("floor_divide(Tensor input, Tensor other) -> Tensor", "torch::autograd::NotImplemented",
   jvp="elementwise",
   forward=_floor_divide, vjp={"input": _floor_divide_vjp, "other": _floor_divide_vjp},
   shape=bcast,
   samples=explicit(lambda r: Sample((Const(rand(r, 2, 3, low=-3.0, high=3.0)),
                                      Const(rand(r, 3, low=0.5, high=2.0)))),
                    lambda r: Sample((Const(np.array([7, -7, 6])), Const(np.array([2, 2, -4])))),
                    lambda r: Sample((Const(rand(r, 3, low=-3.0, high=3.0)), -0.7))))

# -- selection and comparison -------------------------------------------------------------

_PYTHON_NUMBERS = (bool, int, float)


def _where(condition, input, other):
    """np.where in torch's result dtype for ``input`` and ``other`` (the condition takes no
    part): a Python number is a wrapped number, so an integer tensor and a float give the
    default float dtype, where NumPy would give float64."""
    values = (input, other)
    numbers = [v for v in values if type(v) in _PYTHON_NUMBERS]  # a NumPy scalar is 0-dim
    want = dtypes.result_type(
        [(dtypes.from_numpy(v.dtype), v.ndim) for v in values
         if type(v) not in _PYTHON_NUMBERS], numbers).np
    input, other = (v if type(v) in _PYTHON_NUMBERS or v.dtype == want else v.astype(want)
                    for v in values)
    out = np.where(condition, input, other)
    return out if out.dtype == want else out.astype(want)


op("where.self(Tensor condition, Tensor input, Tensor other) -> Tensor", "WhereBackward0",
   jvp="elementwise",
   forward=_where,
   vjp={"input": lambda grad, condition: F.where(condition, grad, 0.0),
        "other": lambda grad, condition: F.where(condition, 0.0, grad)},
   nondiff=("condition",), shape=bcast3, dtype="none",
   numbers=("input", "other"),  # torch's where.ScalarSelf, where.ScalarOther, where.Scalar
   samples=explicit(lambda r: Sample((Const(rand(r, 2, 3) > 0), rand(r, 2, 3), rand(r, 2, 3))),
                    lambda r: Sample((Const(rand(r, 2, 3) > 0), rand(r, 3), rand(r, 2, 1)))))

for _name, _fn in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                   ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)]:
    op(f"{_name}.Tensor(Tensor input, Tensor other) -> Tensor", None, forward=_fn, shape=bcast,
       numbers=("other",))  # torch's <name>.Scalar

op("logical_not(Tensor input) -> Tensor", None, forward=np.logical_not, shape=same,
   dtype="none")
op("signbit(Tensor input) -> Tensor", None, forward=np.signbit, shape=same, dtype="none")
op("logical_and(Tensor input, Tensor other) -> Tensor", None, forward=np.logical_and,
   shape=bcast, dtype="none")
op("logical_or(Tensor input, Tensor other) -> Tensor", None, forward=np.logical_or,
   shape=bcast, dtype="none")
