"""Run one scenario under torch and under the engine and compare everything it shows.

A scenario is ``fn(lib)`` where ``lib`` is ``torch`` or ``engine``; it builds tensors with
``lib.tensor`` and returns whatever it wants compared: tensors (values, dtype,
requires_grad, is_leaf, grad_fn name), graph nodes (by name), tuples/lists/dicts of those,
plain values. An exception is compared by builtin class and exact message; warnings by
category and message.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import engine


def leaf_vector(lib, data=(1.0, 2.0, 3.0), **kw):
    """``lib.tensor(data, requires_grad=True)``: the leaf most scenarios start from."""
    return lib.tensor(list(data), requires_grad=True, **kw)


def leaf_and_double(lib):
    """(x, h): a leaf_vector and ``h = x * 2``, the non-leaf the hook, retain_grad and
    detach scenarios act on."""
    x = leaf_vector(lib)
    return x, x * 2


def stories(*functions):
    """``pytest.mark.parametrize("story", functions)``, each case named after its story
    function without the leading underscore (``_dirty_leaf``: ``dirty_leaf``), for a test
    that runs each story (a function of ``lib``) under both libraries."""
    return pytest.mark.parametrize("story", functions, ids=lambda f: f.__name__.strip("_"))


def outcome(fn, kinds=(TypeError, ValueError, RuntimeError, Exception)):
    """("ok", fn()) or, if it raises, (the first of ``kinds`` its class is, by name; its
    message): how a story that may fail ends, to compare across libraries."""
    try:
        value = fn()
    except Exception as e:  # noqa: BLE001 - the kind of error is part of the outcome
        kind = next(k for k in kinds if isinstance(e, k))
        return kind.__name__, str(e)
    return "ok", value


def builtin_class(exc: BaseException) -> str:
    """The first builtin class of an exception: our GradientError reads as RuntimeError."""
    if isinstance(exc, IndexError):  # the engine's IndexOpError is also a RuntimeError
        return "IndexError"
    if isinstance(exc, TypeError):  # and its ArgumentTypeError, IndexTypeError
        return "TypeError"
    for cls in type(exc).__mro__:
        if cls.__module__ == "builtins":
            return cls.__name__
    return type(exc).__name__


def _is_tensor(v) -> bool:
    return isinstance(v, (torch.Tensor, engine.Tensor))


def _node_name(node) -> str:
    return type(node).__name__


def describe(value):
    """A library-neutral picture of a value (iterative for the containers we build)."""
    if _is_tensor(value):
        # force: torch may hand back a ZeroTensor (a second-order grad of abs, sgn...)
        arr = value.detach().cpu().numpy(force=True) if isinstance(value, torch.Tensor) else \
            value.detach().cpu().numpy()
        return ("Tensor", arr, str(value.dtype).split(".")[-1], tuple(value.shape),
                value.requires_grad, value.is_leaf,
                None if value.grad_fn is None else _node_name(value.grad_fn))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, [describe(v) for v in value])
    if isinstance(value, dict):
        return ("dict", {k: describe(v) for k, v in value.items()})
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "next_functions") or type(value).__name__ == "AccumulateGrad":
        return ("Node", _node_name(value))
    if isinstance(value, (torch.Size, engine.Size)):
        return ("Size", tuple(value))
    if isinstance(value, (torch.dtype, engine.dtype)):
        return ("dtype", str(value).split(".")[-1])
    return ("other", type(value).__name__)


def run(fn, lib):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("ok", describe(fn(lib)))
        except Exception as exc:  # the scenario's error is its result
            result = ("error", builtin_class(exc), str(exc))
        finally:
            lib.set_grad_enabled(True)
    # torch appends where a C++ warning came from; that is no part of the text
    # anomaly mode: torch also warns "Error detected in <Node>. Traceback of forward call
    # that caused the error: <the Python stack>": the engine records no forward stacks,
    # so that one warning is left out of the comparison (a known gap)
    seen = [(w.category.__name__, str(w.message).split(" (Triggered internally at ")[0])
            for w in caught
            if not issubclass(w.category, DeprecationWarning)
            and not str(w.message).startswith("Error detected in ")]
    return result, seen


def assert_same(a, b, path="result"):
    """Exact structure, names and messages; tensor values to float tolerance."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), path
        assert a.shape == b.shape, f"{path}: shape {a.shape} != {b.shape}"
        if a.dtype.kind in "fc":
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=path)
        else:
            np.testing.assert_array_equal(b, a, err_msg=path)
        return
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), f"{path}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
        return
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
        return
    if isinstance(a, float) and isinstance(b, float):
        assert np.isclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True), f"{path}: {a} != {b}"
        return
    assert a == b, f"{path}:\n torch:  {a!r}\n engine: {b!r}"


def same(fn, *, warnings_too: bool = True):
    """Run ``fn`` under both libraries; assert identical outcomes. Returns torch's."""
    expected, expected_w = run(fn, torch)
    got, got_w = run(fn, engine)
    assert_same(expected, got)
    if warnings_too:
        assert got_w == expected_w, f"warnings:\n torch:  {expected_w}\n engine: {got_w}"
    return expected


def same_as_torch(story=None, *, warnings_too: bool = True):
    """A test written as a story of ``lib`` (torch or the engine), ``def test_x(lib): ...``,
    made a test that runs it under both and asserts the same outcome (``same``). Also
    ``@same_as_torch(warnings_too=False)``."""
    def decorate(story):
        def test():
            same(story, warnings_too=warnings_too)
        # not functools.wraps: pytest would read story's signature and look for a fixture lib
        test.__name__, test.__qualname__ = story.__name__, story.__qualname__
        test.__module__, test.__doc__ = story.__module__, story.__doc__
        return test
    return decorate if story is None else decorate(story)
