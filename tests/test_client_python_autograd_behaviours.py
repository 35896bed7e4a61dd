"""PyTorch's simplest autograd behaviours (those test/test_autograd.py and micrograd's tests
check first: accumulation, double backward, grad of non-leaves, unused inputs, hooks, grad
modes, requires_grad flags, in-place writes, `.grad` assignment) run through the Python SDK.

Each behaviour is ONE function written against a `torch` module; it runs once with the
real torch (the oracle) and once with an SDK session standing in for `torch`, and what it
observes (values, grad_fn names, flags, errors and their texts) must be the same. Our own
programs, not copies of PyTorch's tests."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest
import torch
from support.service_server import server_url  # noqa: F401 - live server

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "clients", "python"))
import autograd_client  # noqa: E402

A = [[0.5, -1.0], [2.0, 0.25]]
B = [[1.5, 0.75], [-0.5, 3.0]]


def observed(value):
    """What a behaviour saw, in a form both sides can compare."""
    if isinstance(value, (torch.Tensor, autograd_client.Tensor)):
        arr = value.detach().numpy() if isinstance(value, torch.Tensor) else value.numpy()
        return ("tensor", np.asarray(arr, dtype=np.float64).round(4).tolist())
    if isinstance(value, (list, tuple)):
        return [observed(v) for v in value]
    if isinstance(value, dict):
        return {k: observed(v) for k, v in value.items()}
    return value


def fn_name(f) -> str | None:
    return None if f is None else type(f).__name__


def raised(call) -> tuple:
    """The error a call raises, as (kind, torch's text)."""
    try:
        call()
    except RuntimeError as e:
        return ("RuntimeError", str(e))
    except TypeError as e:
        return ("TypeError", str(e))
    return ("no error", "")


def check(behaviour, url):
    expected = observed(behaviour(torch))
    with autograd_client.connect(url) as remote:
        got = observed(behaviour(remote))
    assert got == expected


# ----------------------------------------------------------------------- the behaviours

def accumulate_grad(t):
    """Two backwards through a retained graph add up in .grad (in place without
    create_graph)."""
    x = t.tensor(A, requires_grad=True)
    y = x + 2
    y.backward(t.ones(2, 2), retain_graph=True)
    first = x.grad.clone()
    y.backward(t.ones(2, 2))
    return {"first": first, "second": x.grad}


def hessian_vector(t):
    """backward(create_graph=True), then a backward through the grads."""
    x = t.tensor(A, requires_grad=True)
    y = t.tensor(B, requires_grad=True)
    z = x ** 2 + y * x + y ** 2
    z.backward(t.ones(2, 2), create_graph=True)
    x_grad, y_grad = x.grad.clone(), y.grad.clone()
    (2 * x.grad + y.grad).backward(t.ones(2, 2))
    return {"x": (x_grad, x.grad), "y": (y_grad, y.grad), "fn": fn_name(x_grad.grad_fn)}


def grad_of_a_grad(t):
    """autograd.grad with create_graph over a graph that holds .grad, and the shape
    mismatch of grad_outputs as torch words it."""
    x = t.tensor(A, requires_grad=True)
    y = t.tensor(B, requires_grad=True)
    (x ** 2 + y * x + y ** 2).backward(t.ones(2, 2), create_graph=True)
    grad_sum = 2 * x.grad + y.grad
    hv, = t.autograd.grad([grad_sum], [x], grad_outputs=[t.ones(2, 2)], create_graph=True)
    error = raised(lambda: t.autograd.grad([grad_sum], [x], grad_outputs=[t.ones(2)],
                                           create_graph=True))
    return {"hv": hv, "x_grad_kept": x.grad, "error": error}


def grad_of_non_leaves(t):
    """autograd.grad on non-leaf inputs leaves every .grad None; the chain of updates
    still reaches the first leaf."""
    x0 = t.tensor(A, requires_grad=True)
    y = t.tensor(B, requires_grad=True)
    x, seen = x0, []
    for _ in range(3):
        g, = t.autograd.grad(x ** 2 + y * x, x, grad_outputs=t.ones(2, 2), create_graph=True)
        seen.append(g)
        x = x + 0.05 * g
    nones = (x0.grad is None, y.grad is None)
    x.backward(t.ones(2, 2))
    return {"grads": seen, "nones": nones, "x0": x0.grad, "y": y.grad}


def grad_of_chunks(t):
    """grad with respect to the parts of a chunk (a multi-output op)."""
    x = t.tensor([[1., 2.], [3., 4.], [5., 6.], [7., 8.]], requires_grad=True)
    a, b = x.chunk(2)
    go = t.tensor(B)
    ga, gb = t.autograd.grad(a + 2 * b, [a, b], grad_outputs=go, create_graph=True)
    return {"ga": ga, "gb": gb, "x": x.grad, "fns": (fn_name(a.grad_fn), fn_name(b.grad_fn))}


def sharded_backward(t):
    """grad to some intermediates, then backward from them (torch.autograd.backward with a
    list of tensors and a list of gradients)."""
    leaves = [t.tensor([float(i), 1.0 - i], requires_grad=True) for i in range(4)]
    mids = [leaf * i + leaf * leaf for i, leaf in enumerate(leaves)]
    loss = (mids[0] * 0 + mids[1] * 1 + mids[2] * 2 + mids[3] * 3).sum()
    d_mids = list(t.autograd.grad(loss, mids[:2], retain_graph=True)) + list(
        t.autograd.grad(loss, mids[2:]))
    t.autograd.backward(mids, d_mids)
    return [leaf.grad for leaf in leaves]


def bad_calls(t):
    """backward/grad of tensors that need no grad: torch's errors, at the call."""
    x = t.ones(1)
    y = x ** 2
    return [raised(lambda: x.backward()), raised(lambda: t.autograd.grad(y, x)),
            raised(lambda: t.autograd.grad(x, y))]


def unused_inputs(t):
    x = t.ones(1, requires_grad=True)
    y = t.ones(1, requires_grad=True)
    gx, gy = t.autograd.grad(x * 2, [x, y], allow_unused=True)
    z = t.ones(1, requires_grad=True)
    gx2, gz = t.autograd.grad(x * 2, [x, z], allow_unused=True, materialize_grads=True)
    error = raised(lambda: t.autograd.grad(x * 2, [x, y], allow_unused=False))
    return {"gx": gx, "gy": gy, "gx2": gx2, "gz": gz, "error": error}


def observing_hooks(t):
    """Hooks see the gradient flowing into a tensor; handles remove them."""
    seen = []
    x = t.tensor(A, requires_grad=True)
    y = t.tensor(B, requires_grad=True)
    z = x ** 2 + x * 2 + x * y + y
    handle = z.register_hook(lambda g: seen.append(("z", g)))
    z.backward(t.ones(2, 2), retain_graph=True)
    handle.remove()
    z.backward(t.ones(2, 2))
    return {"seen": seen, "x": x.grad, "y": y.grad}


def requires_grad_flags(t):
    """requires_grad_ on leaves and non-leaves; the non-leaf error is raised at its own
    call, not at a later one."""
    x = t.tensor(A)
    before = x.requires_grad
    x.requires_grad_()
    y = x * 2
    error = raised(lambda: y.requires_grad_(False))
    ok = y.requires_grad_(True) is y
    z = x.detach()
    later = (z * 3).requires_grad  # an unrelated call after the error: fine
    return {"before": before, "after": x.requires_grad, "error": error, "ok": ok,
            "leaf": (x.is_leaf, y.is_leaf, z.is_leaf), "later": later}


def grad_modes(t):
    """no_grad as a context, a decorator (called and bare) and on a generator;
    enable_grad inside no_grad; set_grad_enabled as a call and a context."""
    x = t.tensor([1., 2.], requires_grad=True)

    @t.no_grad()
    def doubled(v):
        return v * 2

    @t.no_grad
    def tripled(v):
        return v * 3

    @t.no_grad()
    def steps(v):
        yield v * 4
        yield v * 5

    flags = [doubled(x).requires_grad, tripled(x).requires_grad]
    gen = steps(x)
    flags.append(next(gen).requires_grad)
    flags.append((x * 6).requires_grad)  # between a generator's steps: the caller's mode
    flags.append(next(gen).requires_grad)
    with t.no_grad():
        with t.enable_grad():
            flags.append((x * 7).requires_grad)
        flags.append((x * 8).requires_grad)
    t.set_grad_enabled(False)
    flags.append((x * 9).requires_grad)
    t.set_grad_enabled(True)
    with t.set_grad_enabled(False):
        flags.append((x * 10).requires_grad)
    flags.append(t.is_grad_enabled())
    return flags


def retain_grad_of_non_leaf(t):
    x = t.tensor([1., 2., 3.], requires_grad=True)
    h = x * x
    h.retain_grad()
    (h * 3).sum().backward()
    return {"h": h.grad, "retains": h.retains_grad, "x": x.grad}


def item_assignment(t):
    """x[i] = v on a non-leaf: recorded as CopySlices, gradients flow to both; on a leaf
    that requires grad: torch's error."""
    x = t.tensor([1., 2., 3.], requires_grad=True)
    v = t.tensor(5., requires_grad=True)
    h = x * 2
    h[1] = v * 3
    h[0] = 0.5
    (h * t.tensor([1., 10., 100.])).sum().backward()
    leaf_error = raised(lambda: x.__setitem__(0, 1.0))
    nexts = [fn_name(f) for f, _ in h.grad_fn.next_functions]
    return {"fn": h.grad_fn.name(), "next": nexts, "x": x.grad, "v": v.grad, "h": h,
            "leaf_error": leaf_error}


def grad_assignment(t):
    """x.grad = ..., del x.grad, and torch's checks of an assigned grad."""
    x = t.tensor([1., 2.], requires_grad=True)
    (x * 3).sum().backward()
    first = x.grad
    x.grad = None
    none = x.grad is None
    x.grad = t.tensor([10., 20.])
    (x * 3).sum().backward()  # accumulates into the assigned grad
    accumulated = x.grad
    del x.grad
    deleted = x.grad is None
    errors = [raised(lambda: setattr(x, "grad", t.tensor([1., 2., 3.]))),
              raised(lambda: setattr(x, "grad", 2.0))]
    return {"first": first, "none": none, "acc": accumulated, "deleted": deleted,
            "errors": errors}


def next_functions_as_tuples(t):
    """(None, 0) where an input needs no grad; AccumulateGrad's variable is the leaf."""
    x = t.tensor([1., 2.], requires_grad=True)
    c = t.tensor([3., 4.])
    y = x * c
    (acc, nr), (none, nr2) = y.grad_fn.next_functions
    return {"types": (fn_name(acc), nr, none, nr2), "var": acc.variable is x,
            "leaf_next": acc.next_functions, "z": fn_name((y + x).grad_fn)}


def instances(t):
    """Every tensor the program gets is a torch.Tensor."""
    x = t.tensor([1., 2.], requires_grad=True)
    y = (x * 2).exp()
    a, b = t.tensor([[1., 2.], [3., 4.]]).unbind(0)
    g, = t.autograd.grad(y.sum(), x, create_graph=True)
    y.sum().backward()
    return [isinstance(v, t.Tensor) for v in (x, y, a, b, g, x.grad, y.detach(), x[0])]


def micrograd_sanity(t):
    """micrograd's first test: x.grad and y of a small expression."""
    x = t.tensor([-4.0], dtype=t.float64, requires_grad=True)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    return {"y": y, "x": x.grad}


def micrograd_more_ops(t):
    """micrograd's second test: more ops, powers and divisions."""
    a = t.tensor([-4.0], dtype=t.float64, requires_grad=True)
    b = t.tensor([2.0], dtype=t.float64, requires_grad=True)
    c = a + b
    d = a * b + b ** 3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    return {"g": g, "a": a.grad, "b": b.grad}


def backward_into_some_inputs(t):
    """backward(inputs=...) accumulates only into those."""
    x = t.tensor([1., 2.], requires_grad=True)
    y = t.tensor([3., 4.], requires_grad=True)
    (x * y).sum().backward(inputs=[x])
    return {"x": x.grad, "y": y.grad}


def zeroing_a_grad_in_place(t):
    """x.grad.zero_() under no_grad, then accumulation starts again from zero."""
    x = t.tensor([1., 2.], requires_grad=True)
    (x * x).sum().backward()
    with t.no_grad():
        x.grad.zero_()
    zeroed = x.grad.clone()
    (x * 5).sum().backward()
    return {"zeroed": zeroed, "x": x.grad}


def leaves_and_detach(t):
    """detach makes a leaf that needs no grad; in-place on a leaf is allowed under no_grad
    only; integer tensors cannot require grad."""
    x = t.tensor([1., 2.], requires_grad=True)
    d = x.detach()
    with t.no_grad():
        x.mul_(2)
    errors = [raised(lambda: x.mul_(2)),
              raised(lambda: t.tensor([1, 2], requires_grad=True))]
    return {"d": (d.requires_grad, d.is_leaf, fn_name(d.grad_fn)), "x": x, "leaf": x.is_leaf,
            "errors": errors}


def saved_tensor_modified_in_place(t):
    """A value saved for backward, changed in place afterwards: torch's version error."""
    x = t.tensor([1., 2., 3.], requires_grad=True)
    y = x.exp()
    z = (y * 2).sum()
    w = y.sum()
    y.add_(1)
    return {"error": raised(lambda: (z + w).backward()), "y_fn": fn_name(y.grad_fn)}


def non_scalar_roots(t):
    x = t.tensor([1., 2.], requires_grad=True)
    y = x * 2
    error = raised(lambda: y.backward())
    y.backward(t.tensor([1., 10.]))
    return {"error": error, "x": x.grad}


def non_leaf_grad_warns(t):
    """Reading .grad of a non-leaf that does not retain it: None, with torch's warning."""
    x = t.tensor([1., 2.], requires_grad=True)
    y = x * 2
    y.sum().backward()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = y.grad
    # torch's C++ adds where it was raised: " (Triggered internally at <file>:<line>.)"
    return {"g": g, "warnings": [str(w.message).split(" (Triggered internally at ")[0]
                                 for w in caught if w.category is UserWarning]}


def empty_dimensions(t):
    """Broadcasting with an empty dimension: the gradients are empty or zero, as torch's."""
    a = t.zeros(4, 0, requires_grad=True)
    b = t.ones(4, 1, requires_grad=True)
    c = a + b
    c.sum().backward()
    return {"shape": tuple(c.shape), "a": (tuple(a.grad.shape), a.grad), "b": b.grad}


def hooks_on_the_parts_of_unbind(t):
    """A hook on one part of x.unbind() sees only the backward that reaches it; x.grad
    accumulates one part at a time."""
    x = t.tensor([1., 2., 3., 4.], requires_grad=True)
    parts = x.unbind()
    seen = []
    parts[0].register_hook(lambda g: seen.append(g))
    grads = []
    for part in parts:
        part.backward()
        grads.append(x.grad.clone())
    return {"seen": seen, "grads": grads, "part_grad": parts[1].grad is None}


BEHAVIOURS = [accumulate_grad, hessian_vector, grad_of_a_grad, grad_of_non_leaves,
              grad_of_chunks, sharded_backward, bad_calls, unused_inputs, observing_hooks,
              requires_grad_flags, grad_modes, retain_grad_of_non_leaf, item_assignment,
              grad_assignment, next_functions_as_tuples, instances, micrograd_sanity,
              micrograd_more_ops, backward_into_some_inputs, zeroing_a_grad_in_place,
              leaves_and_detach, saved_tensor_modified_in_place, non_scalar_roots,
              non_leaf_grad_warns, empty_dimensions, hooks_on_the_parts_of_unbind]


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=[b.__name__ for b in BEHAVIOURS])
def test_behaviour_matches_torch(server_url, behaviour):  # noqa: F811
    check(behaviour, server_url)
