"""The gamma family beside torch: lgamma, digamma, polygamma (their values at poles and
negative arguments, and each one's derivative the next), and the regularized incomplete
gamma functions igamma / igammac: values and edge values, the derivative for ``other``
(and its second derivative), torch's refusals for ``input``, for forward mode, integer
inputs and plain numbers. torch is computed here, side by side."""

import math

import numpy as np
import pytest
import torch

import engine


def _both(fn):
    """fn(lib) under torch and the engine: (outcome kind, value or message) each."""
    out = []
    for lib in (torch, engine):
        try:
            out.append(("ok", fn(lib)))
        except Exception as e:  # noqa: BLE001 - the message is part of the outcome
            out.append(("raises", str(e).split("\n")[0]))
    return out


def _close(ours, theirs, rtol):
    if isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _close(a, b, rtol)
        return
    if isinstance(theirs, float):
        assert (math.isnan(theirs) and math.isnan(ours)) or ours == theirs or (
            math.isclose(ours, theirs, rel_tol=rtol, abs_tol=1e-300)), (ours, theirs)
        return
    assert ours == theirs


def assert_same(fn, rtol=1e-9):
    (tk, theirs), (ok, ours) = _both(fn)
    assert ok == tk, (ours, theirs)
    if tk == "raises":
        assert ours == theirs
    else:
        _close(ours, theirs, rtol)


EDGES = [0.0, -0.0, -1.0, -0.5, -2.3, 1e-8, 0.3, 2.5, 3.7, 10.0, 12.5, 100.0, 1e20,
         math.inf, -math.inf, math.nan]


def _values(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


@pytest.mark.parametrize("name", ["lgamma", "digamma", "polygamma1", "polygamma2",
                                  "polygamma5"])
def test_values_at_poles_and_negative_arguments(name):
    def fn(lib):
        x = lib.tensor(EDGES, dtype=lib.float64)
        if name.startswith("polygamma"):
            return _values(lib.polygamma(int(name[-1]), x))
        return _values(getattr(lib, name)(x))
    assert_same(fn)


@pytest.mark.parametrize("name", ["lgamma", "digamma", "polygamma"])
def test_each_derivative_is_the_next_function(name):
    def fn(lib):
        x = lib.tensor([0.3, 2.5, 7.0], dtype=lib.float64, requires_grad=True)
        y = lib.polygamma(2, x) if name == "polygamma" else getattr(lib, name)(x)
        g, = lib.autograd.grad(y.sum(), [x], create_graph=True)
        gg, = lib.autograd.grad(g.sum(), [x])
        return y.grad_fn.name(), g.grad_fn.name(), _values(g), _values(gg)
    assert_same(fn)


def test_polygamma_forms_and_refusal():
    def fn(lib):
        x = lib.tensor([0.5, 2.0])
        return _values(x.polygamma(2)), str(lib.polygamma(1, x).dtype)
    assert_same(fn, rtol=1e-6)
    assert_same(lambda lib: lib.polygamma(-1, lib.ones(2)))
    assert_same(lambda lib: str(lib.lgamma(lib.tensor([1, 2, 5])).dtype))


@pytest.mark.parametrize("name", ["igamma", "igammac"])
def test_incomplete_gamma_values(name):
    a = [0.0, 0.0, -1.0, 1.0, math.inf, 2.0, 0.5, 3.0, 10.0, 0.1, 1e-3, 7.5]
    x = [1.0, 0.0, 1.0, -1.0, 3.0, math.inf, 0.2, 3.5, 12.0, 5.0, 1e-3, 2.0]

    def fn(lib):
        return _values(getattr(lib, name)(lib.tensor(a, dtype=lib.float64),
                                          lib.tensor(x, dtype=lib.float64)))
    assert_same(fn)


@pytest.mark.parametrize("name", ["igamma", "igammac"])
def test_incomplete_gamma_large_shapes_near_their_mean(name):
    # torch's asymptotic series is good to ~1e-9 here; ours is closer to the true value
    def fn(lib):
        a = lib.tensor([100.0, 50.0, 400.0], dtype=lib.float64)
        return _values(getattr(lib, name)(a, a * 0.95))
    assert_same(fn, rtol=1e-8)


@pytest.mark.parametrize("name", ["igamma", "igammac"])
def test_incomplete_gamma_derivatives(name):
    def fn(lib):
        a = lib.tensor([0.5, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        x = lib.tensor([1.0, 0.5, 4.0], dtype=lib.float64, requires_grad=True)
        y = getattr(lib, name)(a, x)
        g, = lib.autograd.grad(y.sum(), [x], create_graph=True)
        nexts = [None if n is None else n.name() for n, _ in g.grad_fn.next_functions]
        second = [_values(t) for t in lib.autograd.grad(g.sum(), [a, x])]
        return (y.grad_fn.name(), _values(g), g.grad_fn.name(), nexts, second,
                str(getattr(lib, name)(lib.ones(2), lib.ones(2, dtype=lib.float64)).dtype))
    assert_same(fn)


@pytest.mark.parametrize("case", ["derivative_for_input", "forward_mode", "integers",
                                  "plain_number"])
@pytest.mark.parametrize("name", ["igamma", "igammac"])
def test_incomplete_gamma_refusals(name, case):
    def fn(lib):
        f = getattr(lib, name)
        if case == "derivative_for_input":
            a = lib.tensor([0.5, 2.0], dtype=lib.float64, requires_grad=True)
            return lib.autograd.grad(f(a, lib.tensor([1.0, 2.0], dtype=lib.float64)).sum(), [a])
        if case == "forward_mode":
            fw = lib.autograd.forward_ad
            with fw.dual_level():
                x = lib.tensor([1.0, 2.0], dtype=lib.float64)
                return f(x, fw.make_dual(x, lib.ones(2, dtype=lib.float64)))
        if case == "integers":
            return f(lib.tensor([1, 2]), lib.tensor([1, 2]))
        return f(lib.ones(2), 2.0)
    (tk, theirs), (ok, ours) = _both(fn)
    assert tk == ok == "raises" and ours == theirs


def test_float32_inputs_round_as_torchs():
    def fn(lib):
        a = lib.tensor([0.5, 3.0, 1.5])
        x = lib.tensor([0.2, 3.5, 9.0])
        return [np.float32(v).item() for v in _values(lib.igamma(a, x))]
    assert_same(fn, rtol=1e-6)
