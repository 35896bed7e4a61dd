"""Elementwise rows: arithmetic, powers, math functions, comparisons.

VJPs follow tools/autograd/derivatives.yaml; broadcasting is undone by the engine, not here.
"""

import numpy as np

from .samples import Const, Sample, binary, explicit, rand, unary
from .table import F, broadcast_shapes, op


def same(input, *args, **kwargs):
    return input


def bcast(input, other, *args):
    return broadcast_shapes(input, other)


def bcast3(a, b, c, *args):
    return broadcast_shapes(a, b, c)


# -- arithmetic ---------------------------------------------------------------------------

op("add.Tensor(Tensor input, Tensor other, *, Scalar alpha=1) -> Tensor", "AddBackward0",
   forward=lambda input, other, alpha: input + other if alpha == 1 else input + alpha * other,
   vjp={"input": lambda grad: grad,
        "other": lambda grad, alpha: grad if alpha == 1 else grad * alpha},
   shape=bcast, samples=binary(scalar=2.5))

op("sub.Tensor(Tensor input, Tensor other, *, Scalar alpha=1) -> Tensor", "SubBackward0",
   forward=lambda input, other, alpha: input - other if alpha == 1 else input - alpha * other,
   vjp={"input": lambda grad: grad,
        "other": lambda grad, alpha: -grad if alpha == 1 else -grad * alpha},
   shape=bcast, samples=binary(scalar=2.5))

op("rsub.Scalar(Tensor input, Scalar other, Scalar alpha=1) -> Tensor", "RsubBackward1",
   forward=lambda input, other, alpha: other - input if alpha == 1 else other - alpha * input,
   vjp={"input": lambda grad, alpha: -grad if alpha == 1 else -grad * alpha},
   shape=same, method=False, samples=unary(other=2.0))

op("rsub.Tensor(Tensor input, Tensor other, *, Scalar alpha=1) -> Tensor", "RsubBackward0",
   forward=lambda input, other, alpha: other - input if alpha == 1 else other - alpha * input,
   vjp={"input": lambda grad, alpha: -grad if alpha == 1 else -grad * alpha,
        "other": lambda grad: grad},
   shape=bcast, samples=binary(shapes=[((3,), (3,)), ((2, 3), (3,))]))

op("mul.Tensor(Tensor input, Tensor other) -> Tensor", "MulBackward0",
   forward=lambda input, other: input * other,
   vjp={"input": lambda grad, other: grad * other,
        "other": lambda grad, input: grad * input},
   shape=bcast, samples=binary(scalar=2.5))

op("div.Tensor(Tensor input, Tensor other) -> Tensor", "DivBackward0",
   forward=lambda input, other: input / other,
   vjp={"input": lambda grad, other: grad / other,
        "other": lambda grad, input, other: -grad * ((input / other) / other)},
   dtype="float", shape=bcast, samples=binary(other_low=0.5, other_high=2.0, scalar=2.5))

op("neg(Tensor input) -> Tensor", "NegBackward0",
   forward=lambda input: -input,
   vjp={"input": lambda grad: -grad},
   shape=same, samples=unary())

op("reciprocal(Tensor input) -> Tensor", "ReciprocalBackward0",
   forward=lambda input: 1 / input,
   vjp={"input": lambda grad, result: -grad * (result * result)},
   dtype="float", shape=same, samples=unary(0.5, 2.0))


def _pow_scalar_vjp(grad, input, exponent):
    if exponent == 0:
        return F.zeros_like(grad)
    if exponent == 2:  # the common square: one pass fewer than input ** 1
        return grad * (input * 2.0)
    return grad * (exponent * input ** (exponent - 1))


op("pow.Tensor_Scalar(Tensor input, Scalar exponent) -> Tensor", "PowBackward0",
   forward=lambda input, exponent: input ** exponent,
   vjp={"input": _pow_scalar_vjp},
   shape=same,
   samples=explicit(lambda r: Sample((rand(r, 3), 2)), lambda r: Sample((rand(r, 2, 3), 3)),
                    lambda r: Sample((rand(r, 3, low=0.5), 2.5)),
                    lambda r: Sample((rand(r, 3, low=0.5), -1.5)),
                    lambda r: Sample((rand(r, 3), 0)),
                    lambda r: Sample((rand(r, 3), 1)),
                    lambda r: Sample((rand(r, 3, low=0.5), 0.5))))


def _pow_exponent_vjp(grad, input, exponent, result):
    # torch's pow_backward_exponent: 0 ** e has no log, the gradient there is 0 for e >= 0
    return grad * F.where((input == 0) & (exponent >= 0), 0.0, result * F.log(input))


op("pow.Tensor_Tensor(Tensor input, Tensor exponent) -> Tensor", "PowBackward1",
   forward=lambda input, exponent: input ** exponent,
   vjp={"input": lambda grad, input, exponent: grad * (exponent * input ** (exponent - 1)),
        "exponent": _pow_exponent_vjp},
   shape=bcast, samples=binary(0.5, 2.0, shapes=[((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3))]))

op("pow.Scalar(Scalar self, Tensor exponent) -> Tensor", "PowBackward2",
   forward=lambda self, exponent: np.power(self, exponent),
   vjp={"exponent": lambda grad, self, result: grad * (result * float(np.log(self)))
        if self != 0 else grad * F.where(result == 0, 0.0, result * float("-inf"))},
   dtype="float", shape=lambda self, exponent: exponent, method=False,
   samples=explicit(lambda r: Sample((2.0, rand(r, 3))), lambda r: Sample((0.5, rand(r, 2, 3)))))

op("square(Tensor input) -> Tensor", None, composite=True,
   forward=lambda input: F.pow(input, 2), shape=same, samples=unary())

op("abs(Tensor input) -> Tensor", "AbsBackward0",
   forward=np.abs, vjp={"input": lambda grad, input: grad * F.sign(input)},
   shape=same, samples=unary(0.2, 2.0))

op("sign(Tensor input) -> Tensor", "SignBackward0",
   forward=np.sign, vjp={"input": lambda grad: F.zeros_like(grad)},
   shape=same, samples=unary(0.2, 2.0))

# -- math ---------------------------------------------------------------------------------

op("exp(Tensor input) -> Tensor", "ExpBackward0",
   forward=np.exp, vjp={"input": lambda grad, result: grad * result},
   dtype="float", shape=same, samples=unary())

op("log(Tensor input) -> Tensor", "LogBackward0",
   forward=np.log, vjp={"input": lambda grad, input: grad / input},
   dtype="float", shape=same, samples=unary(0.2, 3.0))

op("sqrt(Tensor input) -> Tensor", "SqrtBackward0",
   forward=np.sqrt, vjp={"input": lambda grad, result: grad / (2 * result)},
   dtype="float", shape=same, samples=unary(0.2, 3.0))

op("sin(Tensor input) -> Tensor", "SinBackward0",
   forward=np.sin, vjp={"input": lambda grad, input: grad * F.cos(input)},
   dtype="float", shape=same, samples=unary())

op("cos(Tensor input) -> Tensor", "CosBackward0",
   forward=np.cos, vjp={"input": lambda grad, input: grad * -F.sin(input)},
   dtype="float", shape=same, samples=unary())

op("tanh(Tensor input) -> Tensor", "TanhBackward0",
   forward=np.tanh, vjp={"input": lambda grad, result: grad * (1 - result * result)},
   dtype="float", shape=same, samples=unary())

# -- selection and comparison -------------------------------------------------------------

op("where.self(Tensor condition, Tensor input, Tensor other) -> Tensor", "WhereBackward0",
   forward=lambda condition, input, other: np.where(condition, input, other),
   vjp={"input": lambda grad, condition: F.where(condition, grad, 0.0),
        "other": lambda grad, condition: F.where(condition, 0.0, grad)},
   nondiff=("condition",), shape=bcast3, dtype="none",
   samples=explicit(lambda r: Sample((Const(rand(r, 2, 3) > 0), rand(r, 2, 3), rand(r, 2, 3))),
                    lambda r: Sample((Const(rand(r, 2, 3) > 0), rand(r, 3), rand(r, 2, 1)))))

for _name, _fn in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                   ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)]:
    op(f"{_name}.Tensor(Tensor input, Tensor other) -> Tensor", None, forward=_fn, shape=bcast)

op("logical_not(Tensor input) -> Tensor", None, forward=np.logical_not, shape=same,
   dtype="none")
op("logical_and(Tensor input, Tensor other) -> Tensor", None, forward=np.logical_and,
   shape=bcast, dtype="none")
op("logical_or(Tensor input, Tensor other) -> Tensor", None, forward=np.logical_or,
   shape=bcast, dtype="none")
