"""Saved tensors as torch: version checks when a saved tensor is modified in place (outputs,
inputs, constants), x[index] = value (CopySlices) on saved and leaf tensors, the
_saved_* attributes of nodes.

Every scenario runs under torch and under the engine (support.semantics_harness.same):
values, dtypes, grad_fn names, next_functions, exact error messages and warnings must agree.
"""

from __future__ import annotations

import pytest
from support.semantics_harness import leaf_vector, same, same_as_torch

# ---------------------------------------------------------------- in-place on saved tensors

@same_as_torch
def test_saved_output_modified_in_place(lib):
    x = leaf_vector(lib)
    y = x.exp()
    with lib.no_grad():
        y.add_(1)
    y.sum().backward()


@same_as_torch
def test_saved_output_modified_in_place_tanh(lib):
    x = leaf_vector(lib)
    y = x.tanh()
    z = y * 1
    y.mul_(2)  # a tracked in-place op: y now at version 1, TanhBackward0 saved it
    (z + y).sum().backward()


@same_as_torch
def test_saved_leaf_modified_under_no_grad(lib):
    x = leaf_vector(lib)
    y = (x * x).sum()
    with lib.no_grad():
        x.add_(1)
    y.backward()


@same_as_torch
def test_in_place_on_non_leaf_chains_nodes(lib):
    x = leaf_vector(lib)
    y = x * 1
    y.mul_(2)
    nexts = [type(n).__name__ for n, _ in y.grad_fn.next_functions if n is not None]
    y.sum().backward()
    return y.grad_fn.name(), nexts, x.grad


@same_as_torch
def test_version_counter_after_in_place_under_no_grad_on_input_of_add(lib):
    x = leaf_vector(lib)
    y = x + 1  # AddBackward0 saves nothing: later edits of x don't matter
    with lib.no_grad():
        x.mul_(10)
    y.sum().backward()
    return x.grad


@pytest.mark.parametrize("op,edit", [("exp", "zero_"), ("exp", "add_"), ("tanh", "mul_"),
                                     ("sigmoid", "add_"), ("sqrt", "div_"),
                                     ("pow2", "add_"), ("mul_self", "add_"),
                                     ("double_exp", "sub_")])
def test_saved_tensor_modified_in_place_variants(op, edit):
    def fn(lib):
        x = leaf_vector(lib)
        base = x * 1
        if op == "exp":
            y = base.exp()
        elif op == "tanh":
            y = base.tanh()
        elif op == "sigmoid":
            y = base.sigmoid()
        elif op == "sqrt":
            y = base.sqrt()
        elif op == "pow2":
            y = base ** 2
            y, base = base, y  # edit the saved input (base), keep the power as output
        elif op == "mul_self":
            y = base * base
            y, base = base, y
        else:
            y = base.double().exp()
        out = y * 1 if op not in ("pow2", "mul_self") else base
        if edit == "zero_":
            y.zero_()
        elif edit == "add_":
            y.add_(1)
        elif edit == "mul_":
            y.mul_(2)
        elif edit == "div_":
            y.div_(2)
        else:
            y.sub_(1)
        (out.sum() + y.sum()).backward()
        return x.grad
    same(fn)


@same_as_torch
def test_saved_constant_that_becomes_non_leaf_in_place(lib):
    x = leaf_vector(lib)
    c = lib.tensor([1.0, 2.0, 3.0])
    y = x * c          # saves c (a leaf that does not require grad)
    c.add_(x)          # now c has history: AddBackward0
    y.sum().backward()


# ---------------------------------------------------------------- x[index] = value

@pytest.mark.parametrize("case", ["scalar", "tensor_value", "broadcast", "fancy", "mask",
                                  "no_grad_base", "column", "int_value_into_float",
                                  "double_backward"])
def test_setitem_copy_slices(case):
    def fn(lib):
        x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        t = lib.tensor([7.0, 8.0], requires_grad=True)
        y = x * 2
        if case == "scalar":
            y[0, 1] = 5
        elif case == "tensor_value":
            y[:, 0] = t
        elif case == "broadcast":
            y[1] = t.sum()
        elif case == "fancy":
            y[[0, 1], [2, 0]] = t * 3
        elif case == "mask":
            y[y > 5] = 0.5
        elif case == "no_grad_base":
            y = lib.zeros(2, 3)
            y[1, 1:] = t
        elif case == "column":
            y[..., 2] = t ** 2
        elif case == "int_value_into_float":
            y[0] = lib.tensor([1, 2, 3])
        else:
            y[0, :2] = t ** 2
            (g,) = lib.autograd.grad((y ** 2).sum(), t, create_graph=True)
            return g, lib.autograd.grad(g.sum(), [x, t], allow_unused=True)
        nexts = [None if n is None else type(n).__name__ for n, _ in y.grad_fn.next_functions]
        (y * y).sum().backward()
        return y, y.grad_fn.name(), nexts, y.is_leaf, x.grad, t.grad
    same(fn)


@same_as_torch
def test_setitem_on_leaf_requiring_grad(lib):
    x = leaf_vector(lib)
    x[0] = 1.0


@same_as_torch
def test_setitem_on_leaf_under_no_grad(lib):
    x = leaf_vector(lib)
    with lib.no_grad():
        x[0] = 10.0
    (x * x).sum().backward()
    return x, x.grad, x.is_leaf


@same_as_torch
def test_setitem_invalidates_saved_tensor(lib):
    x = leaf_vector(lib)
    y = x * 2
    z = y * y
    y[0] = 0.0
    z.sum().backward()


@same_as_torch
def test_setitem_shape_mismatch(lib):
    y = leaf_vector(lib) * 1
    y[0:2] = lib.tensor([1.0, 2.0, 3.0])


@same_as_torch
def test_saved_tensors_on_nodes(lib):
    x = leaf_vector(lib)
    c = lib.tensor([3.0, 4.0, 5.0])
    y = x ** 2
    z = x.exp()
    w = x * c
    out = [y.grad_fn._saved_self is x, y.grad_fn._saved_exponent, z.grad_fn._saved_result,
           w.grad_fn._saved_other, w.grad_fn._saved_self]
    (y.sum() + z.sum() + w.sum()).backward()
    out.append(y.grad_fn._saved_exponent)
    for node in (y.grad_fn, z.grad_fn):
        try:
            _ = node._saved_self if node is y.grad_fn else node._saved_result
        except RuntimeError as exc:
            out.append(str(exc))
    return out


@same_as_torch
def test_saved_tensor_retained_and_modified(lib):
    x = leaf_vector(lib)
    y = x.tanh()
    y.sum().backward(retain_graph=True)
    with lib.no_grad():
        y.mul_(2)
    return y.grad_fn._saved_result
