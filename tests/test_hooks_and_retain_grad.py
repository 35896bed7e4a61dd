"""Hooks and retain_grad as torch: tensor hooks (leaf and non-leaf, order, wrong return
values), node hooks and pre-hooks, retained grads (accumulation, create_graph, a tensor
moved to a new node by an in-place op).

Every scenario runs under torch and under the engine (support.semantics_harness.same):
values, dtypes, grad_fn names, next_functions, exact error messages and warnings must agree.
"""

from __future__ import annotations

import pytest
from support.semantics_harness import leaf_and_double, leaf_vector, same, same_as_torch

# ---------------------------------------------------------------- hooks

@same_as_torch
def test_hook_replaces_grad_on_leaf(lib):
    x = leaf_vector(lib)
    x.register_hook(lambda g: g * 10)
    (x * 2).sum().backward()
    return x.grad


@same_as_torch
def test_hook_on_non_leaf_changes_what_flows_on(lib):
    x, h = leaf_and_double(lib)
    seen = []
    h.register_hook(lambda g: seen.append(g.clone()))
    h.register_hook(lambda g: g + 1)
    (h ** 2).sum().backward()
    return x.grad, seen


@same_as_torch
def test_removed_hook_does_not_run(lib):
    x = leaf_vector(lib)
    handle = x.register_hook(lambda g: g * 100)
    handle.remove()
    (x * 2).sum().backward()
    return x.grad


@same_as_torch
def test_hook_order_with_retain_grad(lib):
    x, h = leaf_and_double(lib)
    h.retain_grad()
    h.register_hook(lambda g: g * 3)  # registered after retain_grad: still runs first
    (h * 1).sum().backward()
    return h.grad, x.grad


@pytest.mark.parametrize("bad", ["shape", "dtype", "int"])
def test_hook_returning_the_wrong_thing(bad):
    def fn(lib):
        x, h = leaf_and_double(lib)
        if bad == "shape":
            h.register_hook(lambda g: g.sum())
        elif bad == "dtype":
            h.register_hook(lambda g: g.double())
        else:
            h.register_hook(lambda g: 1)
        h.sum().backward()
    same(fn)


@same_as_torch
def test_hook_on_tensor_without_grad(lib):
    lib.tensor([1.0]).register_hook(lambda g: g)


@same_as_torch
def test_hooks_in_create_graph_mode(lib):
    x = leaf_vector(lib)
    x.register_hook(lambda g: g * 2)
    (g,) = lib.autograd.grad((x ** 3).sum(), x, create_graph=True)
    return g, g.grad_fn is not None


# ---------------------------------------------------------------- retain_grad

def _retained_backward_twice(lib, between):
    """x, h = x * 2 retaining its grad, and what ``between(x, h)`` gives after the first of
    two backwards of (h ** 2).sum()."""
    x, h = leaf_and_double(lib)
    h.retain_grad()
    y = (h ** 2).sum()
    y.backward(retain_graph=True)
    first = between(x, h)
    y.backward()
    return x, h, first


@same_as_torch
def test_retain_grad_accumulates(lib):
    x, h, first = _retained_backward_twice(lib, lambda x, h: h.grad.clone())
    return first, h.grad, h.retains_grad, x.retains_grad


@same_as_torch
def test_retained_grad_is_replaced_not_mutated(lib):
    x, h, (h_first, x_first) = _retained_backward_twice(lib, lambda x, h: (h.grad, x.grad))
    # torch: a leaf's .grad accumulates in place, a retained grad is rebuilt
    return h_first, h.grad, h_first is h.grad, x_first, x_first is x.grad


@same_as_torch(warnings_too=False)
def test_retained_grad_under_create_graph(lib):
    x, h = leaf_and_double(lib)
    h.retain_grad()
    (h ** 2).sum().backward(create_graph=True)
    first = h.grad
    (h ** 2).sum().backward(create_graph=True)
    return first, first.grad_fn.name(), h.grad, h.grad.grad_fn.name()


@same_as_torch
def test_retain_grad_on_no_grad_tensor(lib):
    lib.tensor([1.0]).retain_grad()


@same_as_torch
def test_retain_grad_on_leaf_is_a_no_op(lib):
    x = leaf_vector(lib)
    x.retain_grad()
    (x * 2).sum().backward()
    return x.grad, x.retains_grad


@same_as_torch
def test_non_leaf_grad_warns_and_is_none(lib):
    x, h = leaf_and_double(lib)
    h.sum().backward()
    return h.grad


@same_as_torch
def test_node_hooks_and_prehooks(lib):
    x = leaf_vector(lib)
    y = x * 3
    z = y.sum()
    seen = []
    y.grad_fn.register_prehook(lambda gout: seen.append(("pre", gout[0].clone())))
    y.grad_fn.register_hook(lambda gin, gout: seen.append(
        ("post", [g.clone() if g is not None else None for g in gin])))
    handle = z.grad_fn.register_prehook(lambda gout: (gout[0] * 2,))
    z.backward(retain_graph=True)
    first = x.grad.clone()
    handle.remove()
    x.grad = None
    z.backward()
    return first, x.grad, seen


@same_as_torch
def test_node_hook_replaces_input_grads(lib):
    x = leaf_vector(lib)
    y = x * 3
    y.grad_fn.register_hook(lambda gin, gout: (gin[0] * 0 + 7, None))
    y.sum().backward()
    return x.grad


@pytest.mark.parametrize("bad", ["shape", "dtype", "int", "none_ok"])
def test_leaf_hook_returning_the_wrong_thing(bad):
    def fn(lib):
        x = leaf_vector(lib)

        def my_hook(g):
            if bad == "shape":
                return g[:2]
            if bad == "dtype":
                return g.double()
            if bad == "int":
                return 3
            return None
        x.register_hook(my_hook)
        (x * 2).sum().backward()
        return x.grad
    same(fn)


@same_as_torch
def test_hooks_run_in_registration_order_and_chain(lib):
    x = leaf_vector(lib)
    log = []
    x.register_hook(lambda g: log.append("a") or g * 2)
    x.register_hook(lambda g: log.append("b") or g + 1)
    (x * 1).sum().backward()
    return x.grad, log


@pytest.mark.parametrize("how", ["in_place", "base_changed", "view_edited"])
def test_retained_grad_follows_the_tensor_to_its_new_node(how):
    def fn(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 1
        v = y[1:]
        kept = y if how == "in_place" else v
        kept.retain_grad()
        if how == "view_edited":
            v.mul_(2)
        else:
            y.mul_(2)
        (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        return kept.grad, x.grad
    same(fn)


# ---------------------------------------------------------------- _backward_hooks: the dict
# register_hook fills; a leaf's can be replaced (its backward reads it), a non-leaf's
# node keeps the dict of its first hook

@pytest.mark.parametrize("case", ["leaf_replaced_by_empty", "leaf_set_to_none",
                                  "leaf_given_a_dict", "leaf_after_remove",
                                  "non_leaf_replaced", "non_leaf_dict_mutated",
                                  "non_leaf_set_to_none", "non_leaf_without_hooks"])
def test_backward_hooks_attribute(case):
    import collections

    def fn(lib):
        x = leaf_vector(lib)
        if case.startswith("leaf"):
            if case != "leaf_given_a_dict":
                handle = x.register_hook(lambda g: g * 2)
            before = (isinstance(x._backward_hooks, collections.OrderedDict),
                      len(x._backward_hooks or ()))
            if case == "leaf_replaced_by_empty":
                x._backward_hooks = collections.OrderedDict()
            elif case == "leaf_set_to_none":
                x._backward_hooks = None
            elif case == "leaf_given_a_dict":
                hooks = collections.OrderedDict()
                hooks[0] = lambda g: g * 10
                x._backward_hooks = hooks
            else:
                handle.remove()
            (x * 3).sum().backward()
            return before, repr(x._backward_hooks)[:13], x.grad
        y = x * 2
        if case == "non_leaf_without_hooks":
            return repr(y._backward_hooks)
        y.register_hook(lambda g: g * 10)
        if case == "non_leaf_replaced":
            y._backward_hooks = collections.OrderedDict()
        elif case == "non_leaf_dict_mutated":
            y._backward_hooks[10 ** 9] = lambda g: g * 3
        else:
            y._backward_hooks = None
        seen = repr(y._backward_hooks)[:13]
        y.sum().backward()
        return seen, x.grad
    same(fn)
