"""Derivatives made up for one test: op rows declared for a test and removed after it, and
deliberately wrong custom Functions (the same in torch and in the engine) for the checks
that must catch them (gradcheck, gradcheck(check_forward_ad=True)); and the right ones
(x*x, x**3) that several tests define alike."""

from __future__ import annotations

import contextlib

import torch

from engine.ops import table


@contextlib.contextmanager
def temporary_op(schema: str, grad_fn: str, **row):
    """``table.op(schema, grad_fn, **row)`` for the duration of the block (the table has no
    way to remove a row: the test does it)."""
    declared = table.op(schema, grad_fn, **row)
    try:
        yield declared
    finally:
        del table.ROWS[declared.qualname]
        del table.OVERLOADS[declared.name]
        delattr(table.F, declared.name)


def square(Function, derivative, once=None):
    """x*x as a Function of ``Function``'s library (torch's or the engine's) whose backward
    returns ``derivative(x) * grad`` (2*x is right), its backward wrapped by ``once``
    (once_differentiable) if given."""
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @(once or (lambda backward: backward))
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return derivative(x) * g
    return Square


def wrong_square(Function):
    """x*x whose backward claims 3*x."""
    return square(Function, lambda x: 3 * x)


def scaled(Function, factor, claimed):
    """x * ``factor`` as a Function of ``Function``'s library whose backward claims
    ``grad * claimed`` (right when the two are equal); no jvp."""
    class Scaled(Function):
        @staticmethod
        def forward(ctx, x):
            return x * factor

        @staticmethod
        def backward(ctx, grad):
            return grad * claimed
    return Scaled


def cube(Function):
    """x ** 3 as a Function of ``Function``'s library, saving x; its right backward
    3 * x ** 2 * g reads the saved x (so saved-tensor hooks see it, and it differentiates
    again under create_graph)."""
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * g
    return Cube


class TorchWrongJvpCube(torch.autograd.Function):
    """x ** 3 with a right backward and a wrong JVP (2 x^2 instead of 3 x^2)."""

    @staticmethod
    def forward(x):
        return x ** 3

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * 2 * x ** 2
