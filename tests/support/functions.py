"""Custom autograd Functions that a scenario defines for one check, built alike in torch
and in the engine: ``function(lib, "Name", forward=..., backward=...)`` is the class
statement

    class Name(lib.autograd.Function):
        forward = staticmethod(...)
        backward = staticmethod(...)

written once, so that a scenario shows only what its Function computes (its own lambdas,
or local defs where a method is longer). The class is made by ``lib.autograd.Function``'s
own metaclass (``type(name, bases, namespace)`` runs it as a class statement does), so
its node is ``NameBackward`` in both libraries."""

from __future__ import annotations

from collections.abc import Callable


def function(lib, name: str, forward: Callable, backward: Callable | None = None, **more):
    """A subclass ``name`` of ``lib.autograd.Function`` (``lib`` is torch or the engine)
    with ``forward``, ``backward`` (left out: the class has none of its own) and ``more``:
    callables (jvp, vjp, setup_context) as its static methods, other values
    (clear_saved_tensors_on_access=True) as class attributes."""
    namespace = {"forward": forward, **more}
    if backward is not None:
        namespace["backward"] = backward
    namespace = {
        key: staticmethod(value) if callable(value) else value for key, value in namespace.items()
    }
    return type(name, (lib.autograd.Function,), namespace)


def product(lib, name: str, backward: Callable, **more):
    """``a * b`` as a Function ``name`` of ``lib`` whose backward is ``backward(ctx, grad)``
    (the scenario's claim of the two inputs' gradients)."""
    return function(lib, name, lambda ctx, a, b: a * b, backward, **more)
