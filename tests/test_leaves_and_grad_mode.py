"""Leaves and requires_grad as torch: detach, requires_grad on leaves and non-leaves, integer
tensors, .grad assignment, in-place on leaves; grad modes (no_grad, enable_grad,
set_grad_enabled, inference_mode) as contexts, decorators and calls.

Every scenario runs under torch and under the engine (support.semantics_harness.same):
values, dtypes, grad_fn names, next_functions, exact error messages and warnings must agree.
"""

from __future__ import annotations

import pytest
from support.semantics_harness import leaf_and_double, leaf_vector, same, same_as_torch

# ---------------------------------------------------------------- leaves and flags

@same_as_torch
def test_detach_shares_nothing_of_the_graph(lib):
    x, h = leaf_and_double(lib)
    d = h.detach()
    return d, d.requires_grad, d.is_leaf, d.grad_fn


@same_as_torch
def test_detach_in_place(lib):
    x, h = leaf_and_double(lib)
    h.detach_()
    return h, h.requires_grad, h.is_leaf, h.grad_fn


@same_as_torch
def test_requires_grad_false_on_non_leaf(lib):
    h = leaf_vector(lib) * 2
    h.requires_grad_(False)


@same_as_torch
def test_requires_grad_setter_false_on_non_leaf(lib):
    h = leaf_vector(lib) * 2
    h.requires_grad = False


@same_as_torch
def test_requires_grad_true_on_non_leaf_is_fine(lib):
    h = leaf_vector(lib) * 2
    h.requires_grad_(True)
    h.requires_grad = True
    return h


@pytest.mark.parametrize("how", ["factory", "setter", "method"])
def test_int_tensors_cannot_require_grad(how):
    def fn(lib):
        if how == "factory":
            lib.tensor([1, 2], requires_grad=True)
        elif how == "setter":
            lib.tensor([1, 2]).requires_grad = True
        else:
            lib.tensor([1, 2]).requires_grad_()
    same(fn)


@same_as_torch
def test_int_tensor_requires_grad_false_is_fine(lib):
    t = lib.tensor([1, 2])
    t.requires_grad = False
    t.requires_grad_(False)
    return t


@same_as_torch
def test_numpy_on_requires_grad(lib):
    leaf_vector(lib).numpy()


@same_as_torch
def test_numpy_after_detach(lib):
    return leaf_vector(lib).detach().numpy().tolist()


@same_as_torch
def test_grad_setter_shape_error(lib):
    x = leaf_vector(lib)
    x.grad = lib.tensor([1.0, 2.0])


@same_as_torch
def test_grad_setter_ok_then_accumulates(lib):
    x = leaf_vector(lib)
    x.grad = lib.tensor([1.0, 1.0, 1.0])
    (x * 2).sum().backward()
    got = x.grad.clone()
    x.grad = None
    (x * 2).sum().backward()
    return got, x.grad


@same_as_torch
def test_leaf_in_place_error(lib):
    x = leaf_vector(lib)
    x.add_(1)


@same_as_torch
def test_leaf_in_place_under_no_grad_is_allowed(lib):
    x = leaf_vector(lib)
    with lib.no_grad():
        x.mul_(2)
    (x * x).sum().backward()
    return x, x.grad


@same_as_torch
def test_frozen_leaf_gets_no_grad(lib):
    w = leaf_vector(lib)
    b = leaf_vector(lib, (1.0, 1.0, 1.0))
    b.requires_grad = False
    (w * b).sum().backward()
    return w.grad, b.grad, b.requires_grad


# ---------------------------------------------------------------- grad modes

@same_as_torch
def test_no_grad_context(lib):
    x = leaf_vector(lib)
    with lib.no_grad():
        y = x * 2
        inner = lib.is_grad_enabled()
    return y, y.requires_grad, inner, lib.is_grad_enabled()


@same_as_torch
def test_grad_mode_decorators_and_calls(lib):
    x = leaf_vector(lib)

    @lib.no_grad()
    def off(t):
        return t * 2

    @lib.enable_grad()
    def on(t):
        return t * 2

    @lib.set_grad_enabled(False)
    def off2(t):
        return t * 2

    a = off(x)
    with lib.no_grad():
        b = on(x)
    c = off2(x)
    mode_after_decorating = lib.is_grad_enabled()
    lib.set_grad_enabled(False)
    d = x * 2
    lib.set_grad_enabled(True)
    with lib.set_grad_enabled(False):
        e = x * 2
    return (a.requires_grad, b.requires_grad, c.requires_grad, d.requires_grad,
            e.requires_grad, mode_after_decorating, lib.is_grad_enabled())


@same_as_torch
def test_autograd_namespace_grad_modes(lib):
    x = leaf_vector(lib)
    with lib.autograd.no_grad():
        a = x + 1
        with lib.autograd.enable_grad():
            b = x + 1
    with lib.autograd.set_grad_enabled(False):
        c = x + 1
    return a.requires_grad, b.requires_grad, c.requires_grad


@same_as_torch
def test_no_grad_on_bare_decorator(lib):
    x = leaf_vector(lib)

    @lib.no_grad
    def off(t):
        return t * 2
    return off(x).requires_grad


@same_as_torch
def test_tensors_made_under_no_grad_are_leaves(lib):
    x = leaf_vector(lib)
    with lib.no_grad():
        y = x * 2
    return y.is_leaf, y.requires_grad, y.grad_fn, y.grad


@same_as_torch
def test_leaf_that_does_not_require_grad_has_no_grad_and_no_warning(lib):
    c = lib.tensor([1.0, 2.0])
    return c.grad, c.is_leaf, c.requires_grad


@same_as_torch
def test_requires_grad_after_detach_makes_a_new_leaf(lib):
    x = leaf_vector(lib)
    d = (x * 2).detach().requires_grad_()
    (d * d).sum().backward()
    return d.grad, x.grad, d.is_leaf


@same_as_torch
def test_requires_grad_propagates_through_integer_mixing(lib):
    x = leaf_vector(lib)
    idx = lib.tensor([2, 0, 1])
    y = (x * idx).sum() + (idx * 2).sum()
    y.backward()
    return y, x.grad
