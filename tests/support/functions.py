"""Small custom autograd Functions that a scenario defines for one check, built alike in
torch and in the engine: ``function(lib, "Name", forward=..., backward=...)`` is the
class statement

    class Name(lib.autograd.Function):
        forward = staticmethod(...)
        backward = staticmethod(...)

written once, so that a scenario shows only what its Function computes. The class is made
by ``lib.autograd.Function``'s own metaclass (``type(name, bases, namespace)`` runs it as
a class statement does), so its node is ``NameBackward`` in both libraries. Functions
whose body is the subject of the check (saved tensors, ctx flags, views) stay class
statements in their tests."""

from __future__ import annotations

from collections.abc import Callable


def function(
    lib, name: str, forward: Callable, backward: Callable | None = None, **staticmethods: Callable
):
    """A subclass ``name`` of ``lib.autograd.Function`` (``lib`` is torch or the engine)
    with ``forward``, ``backward`` (left out: the class has none of its own) and any other
    ``staticmethods`` (jvp, vjp, setup_context) as its static methods."""
    methods = {"forward": forward, **staticmethods}
    if backward is not None:
        methods["backward"] = backward
    return type(
        name, (lib.autograd.Function,), {key: staticmethod(value) for key, value in methods.items()}
    )


def product(lib, name: str, backward: Callable, **staticmethods: Callable):
    """``a * b`` as a Function ``name`` of ``lib`` whose backward is ``backward(ctx, grad)``
    (the scenario's claim of the two inputs' gradients)."""
    return function(lib, name, lambda ctx, a, b: a * b, backward, **staticmethods)
