"""backward() and autograd.grad() as torch: seeds and roots, inputs=, retain_graph and
freed graphs, create_graph and higher order, grad()'s options, graph structure
(next_functions), and a million-node chain without recursion.

Every scenario runs under torch and under the engine (support.semantics_harness.same):
values, dtypes, grad_fn names, next_functions, exact error messages and warnings must agree.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from support.semantics_harness import leaf_and_double, leaf_vector, run, same, same_as_torch

import engine

# ---------------------------------------------------------------- backward basics

@same_as_torch
def test_grad_accumulates_across_backward_calls(lib):
    x = leaf_vector(lib)
    (x * x).sum().backward()
    first = x.grad.clone()
    (x * 3).sum().backward()
    return first, x.grad


@same_as_torch
def test_grad_tensors_is_the_vjp_vector(lib):
    x = leaf_vector(lib)
    y = x ** 3
    y.backward(lib.tensor([1.0, 0.5, -2.0]))
    return x.grad


@same_as_torch
def test_seed_of_other_dtype_is_accepted(lib):
    x = leaf_vector(lib)
    (x * 2).backward(lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64))
    y = leaf_vector(lib)
    (y * 2).backward(lib.tensor([1, 2, 3]))
    return x.grad, y.grad


@pytest.mark.parametrize("shape", [(), (1,), (1, 1), (1, 1, 1)])
def test_implicit_seed_for_one_element_roots(shape):
    def fn(lib):
        x = lib.tensor(np.full(shape, 2.0, np.float32), requires_grad=True)
        (x * x).backward()
        return x.grad
    same(fn)


@pytest.mark.parametrize("api", ["backward", "autograd.backward", "grad"])
def test_implicit_seed_needs_a_scalar(api):
    def fn(lib):
        x = leaf_vector(lib)
        y = x * 2
        if api == "backward":
            y.backward()
        elif api == "autograd.backward":
            lib.autograd.backward(y)
        else:
            lib.autograd.grad(y, x)
    same(fn)


@same_as_torch
def test_several_roots(lib):
    x, y = leaf_vector(lib), leaf_vector(lib, (4.0, 5.0, 6.0))
    a, b = x * y, (x + y).sum()
    lib.autograd.backward([a, b], [lib.ones_like(a), None])
    return x.grad, y.grad


@same_as_torch
def test_several_roots_grad(lib):
    x = leaf_vector(lib)
    a, b = (x ** 2).sum(), (x * 3).sum()
    return lib.autograd.grad([a, b], [x])


@same_as_torch
def test_got_2_tensors_and_1_gradients(lib):
    x = leaf_vector(lib)
    a, b = (x ** 2).sum(), (x * 3).sum()
    lib.autograd.backward([a, b], [lib.tensor(1.0)])


@same_as_torch
def test_mismatch_in_shape(lib):
    x = leaf_vector(lib)
    (x * 2).backward(lib.tensor([1.0, 2.0]))


@same_as_torch
def test_root_without_grad_fn(lib):
    x = lib.tensor([1.0, 2.0])
    y = leaf_vector(lib)
    lib.autograd.backward([(y * 2).sum(), x.sum()])


@same_as_torch
def test_backward_of_empty_list_is_a_no_op(lib):
    lib.autograd.backward([], [])
    return "done"


@same_as_torch
def test_gradient_of_wrong_type(lib):
    x = leaf_vector(lib)
    lib.autograd.backward([x * 2], [[1.0, 2.0, 3.0]])


# ---------------------------------------------------------------- inputs=

@same_as_torch
def test_backward_inputs_leaf_only(lib):
    x, y = leaf_vector(lib), leaf_vector(lib, (4.0, 5.0, 6.0))
    (x * y).sum().backward(inputs=[x])
    return x.grad, y.grad


@same_as_torch
def test_backward_inputs_single_tensor(lib):
    x, y = leaf_vector(lib), leaf_vector(lib, (4.0, 5.0, 6.0))
    (x * y).sum().backward(inputs=y)
    return x.grad, y.grad


@same_as_torch
def test_backward_inputs_non_leaf(lib):
    x, h = leaf_and_double(lib)
    (h ** 2).sum().backward(inputs=[h])
    return x.grad, h.grad, h.retains_grad


@same_as_torch
def test_backward_inputs_empty(lib):
    x = leaf_vector(lib)
    (x * 2).sum().backward(inputs=[])


@same_as_torch
def test_grad_inputs_empty(lib):
    x = leaf_vector(lib)
    lib.autograd.grad((x * 2).sum(), [])


@same_as_torch
def test_grad_non_leaf_input_and_no_accumulation(lib):
    x = leaf_vector(lib)
    h = x.exp()
    out = (h * x).sum()
    g = lib.autograd.grad(out, [h, x])
    return g, x.grad


# ---------------------------------------------------------------- retain_graph / freed

@pytest.mark.parametrize("expr", ["(x + 1).sum()", "(x ** 2).sum()", "(x * 2).sum()",
                                  "(x / 2).sum()", "(x * x).sum()", "x.exp().sum()",
                                  "(x - 3).mean()", "(2 * x).sum()", "x.sum()",
                                  "(x.tanh() + 1).sum()", "x.sqrt().sum()"])
def test_backward_twice(expr):
    def fn(lib):
        x = leaf_vector(lib)
        y = eval(expr, {"x": x})
        y.backward()
        y.backward()
        return x.grad
    same(fn)


@same_as_torch
def test_retain_graph_allows_a_second_backward(lib):
    x = leaf_vector(lib)
    y = (x ** 2).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    y.backward()
    return x.grad


@same_as_torch
def test_grad_then_backward_on_freed_graph(lib):
    x = leaf_vector(lib)
    y = (x ** 3).sum()
    lib.autograd.grad(y, x)
    y.backward()


@same_as_torch
def test_partially_freed_graph(lib):
    x = leaf_vector(lib)
    h = x ** 2          # saves x
    a = (h + 1).sum()   # saves nothing
    a.backward()
    b = (h * 1).sum()   # a new branch that goes back through h's freed node
    b.backward()


# ---------------------------------------------------------------- create_graph

@same_as_torch
def test_create_graph_third_order(lib):
    x = leaf_vector(lib, (0.5, 1.5))
    y = (x ** 4).sum()
    (g1,) = lib.autograd.grad(y, x, create_graph=True)
    (g2,) = lib.autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = lib.autograd.grad(g2.sum(), x)
    return g1, g2, g3


@same_as_torch(warnings_too=False)
def test_create_graph_backward_grad_has_copy_backwards(lib):
    x = leaf_vector(lib)
    (x ** 3).sum().backward(create_graph=True)
    g = x.grad
    node = g.grad_fn
    return (g, node.name(), node.next_functions,
            [type(n).__name__ for n, _ in node.next_functions if n is not None])


def test_create_graph_backward_warns():
    def fn(lib):
        x = leaf_vector(lib)
        (x * x).sum().backward(create_graph=True)
        x.grad.sum().backward()
        return x.grad
    same(fn, warnings_too=False)
    # torch warns once per process (TORCH_WARN_ONCE), so ask a fresh one for its text;
    # the engine warns at every such call
    code = ("import warnings, torch\nwarnings.simplefilter('always')\n"
            "x = torch.ones(2, requires_grad=True)\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    (x * x).sum().backward(create_graph=True)\n"
            "print(str(w[0].message).split(' (Triggered internally')[0])\n")
    text = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()
    _, seen = run(fn, engine)
    assert seen == [("UserWarning", text)]
    x = engine.tensor([1.0], requires_grad=True)
    y = x * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        engine.autograd.grad(y.sum(), x, create_graph=True)  # grad() does not warn
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (y * y).sum().backward(create_graph=True, inputs=[y])  # backward(inputs=) does
    assert [str(w.message) for w in caught] == [text]


@same_as_torch
def test_grad_of_grad_through_mixed_ops(lib):
    x = leaf_vector(lib, (0.3, 0.7))
    y = leaf_vector(lib, (1.1, -0.4))
    z = (x.tanh() * y.exp() + x / (y * y + 1)).sum()
    gx, gy = lib.autograd.grad(z, [x, y], create_graph=True)
    return lib.autograd.grad((gx * gy).sum(), [x, y])


# ---------------------------------------------------------------- grad() specifics

@same_as_torch
def test_grad_unused_input(lib):
    x, y = leaf_vector(lib), leaf_vector(lib)
    lib.autograd.grad((x * 2).sum(), [x, y])


@same_as_torch
def test_grad_unused_input_at_index_0(lib):
    x, y = leaf_vector(lib), leaf_vector(lib)
    lib.autograd.grad((y * 2).sum(), [x, y])


@same_as_torch
def test_grad_allow_unused(lib):
    x, y = leaf_vector(lib), leaf_vector(lib)
    return lib.autograd.grad((x * 2).sum(), [x, y], allow_unused=True)


@same_as_torch
def test_grad_materialize_grads(lib):
    x, y = leaf_vector(lib), leaf_vector(lib)
    return lib.autograd.grad((x * 2).sum(), [x, y], materialize_grads=True)


@same_as_torch
def test_grad_materialize_with_allow_unused_false(lib):
    x, y = leaf_vector(lib), leaf_vector(lib)
    lib.autograd.grad((x * 2).sum(), [x, y], materialize_grads=True, allow_unused=False)


@same_as_torch
def test_grad_input_not_requiring_grad(lib):
    x = leaf_vector(lib)
    c = lib.tensor([1.0, 2.0, 3.0])
    lib.autograd.grad((x * c).sum(), [x, c])


@same_as_torch
def test_grad_outputs_vector(lib):
    x = leaf_vector(lib)
    return lib.autograd.grad(x * x, x, grad_outputs=lib.tensor([1.0, -1.0, 0.5]))


@same_as_torch
def test_grad_is_grads_batched(lib):
    x = leaf_vector(lib)
    seeds = lib.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return lib.autograd.grad(x ** 2, x, grad_outputs=seeds, is_grads_batched=True)


# ---------------------------------------------------------------- graph structure

@same_as_torch
def test_next_functions_of_mul_by_constant(lib):
    x = leaf_vector(lib)
    y = x * 2
    return y.grad_fn.next_functions, y.grad_fn.name()


@same_as_torch
def test_accumulate_grad_node(lib):
    x = leaf_vector(lib)
    node = (x * 2).grad_fn.next_functions[0][0]
    return node.name(), type(node).__name__, node.variable is x, node.next_functions


@same_as_torch
def test_next_functions_with_output_nr_and_shared_leaf(lib):
    x = leaf_vector(lib)
    y = leaf_vector(lib)
    z = (x * y) + x
    n = z.grad_fn
    return (n.name(), n.next_functions, n.next_functions[0][0].next_functions,
            n.next_functions[1][0].variable is x,
            n.next_functions[0][0].next_functions[0][0] is n.next_functions[1][0])


@same_as_torch
def test_issue_example(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = lib.tensor([3.0, 4.0, 5.0], requires_grad=True)
    xy = x + y
    xy.retain_grad()
    out = (xy ** 2 * x ** 3).sum()
    out.backward(retain_graph=True)
    return x.grad, xy.grad, y.grad, out.grad_fn.name(), out.grad_fn.next_functions


# ---------------------------------------------------------------- scale

def test_a_million_node_chain_without_recursion():
    n = 1_000_000
    limit = sys.getrecursionlimit()
    gc.disable()  # a million live nodes make every cyclic-GC pass slow; none are cycles
    try:
        x = engine.tensor([1.0], requires_grad=True)
        y = x
        for _ in range(n):
            y = y + 1.0  # AddBackward0 saves nothing: cheap, and the chain is n nodes deep
        y.backward()
        assert x.grad.tolist() == [1.0]
        assert y.item() == n + 1
        assert sys.getrecursionlimit() == limit
        del y
    finally:
        gc.enable()


@same_as_torch
def test_zeroing_grads_between_steps(lib):
    x = leaf_vector(lib)
    out = []
    for k in range(3):
        (x ** (k + 1)).sum().backward()
        out.append(x.grad.clone())
        x.grad.zero_()
    return out, x.grad


@same_as_torch
def test_gradient_argument_of_wrong_type(lib):
    x = leaf_vector(lib)
    (x * 2).sum().backward(1.0)


@same_as_torch
def test_shared_subgraph_and_diamond(lib):
    x = leaf_vector(lib)
    a = x.exp()
    b = a * 2
    c = a.sin()
    d = (b * c + a).sum()
    d.backward()
    return x.grad, d.grad_fn.next_functions


@same_as_torch
def test_same_tensor_twice_as_root(lib):
    x = leaf_vector(lib)
    y = (x * x).sum()
    lib.autograd.backward([y, y], retain_graph=True)
    return x.grad


@same_as_torch
def test_grad_with_retain_graph_then_backward(lib):
    x = leaf_vector(lib)
    y = (x ** 2).sum()
    (g,) = lib.autograd.grad(y, x, retain_graph=True)
    y.backward()
    return g, x.grad


@same_as_torch
def test_grad_dict_inputs_are_rejected_or_mapped(lib):
    x = leaf_vector(lib)
    return lib.autograd.grad((x * 2).sum(), (x,))


@same_as_torch
def test_backward_on_int_result_of_comparison(lib):
    x = leaf_vector(lib)
    (x > 1).sum().backward()


@same_as_torch
def test_grad_wrt_the_seed_under_create_graph(lib):
    x = leaf_vector(lib)
    v = lib.tensor([1.0, -2.0, 0.5], requires_grad=True)
    (g,) = lib.autograd.grad(x ** 3, x, v, create_graph=True)
    return g, lib.autograd.grad(g.sum(), [x, v])


@same_as_torch
def test_backward_inputs_not_in_graph(lib):
    x, y = leaf_vector(lib), leaf_vector(lib)
    (x * 2).sum().backward(inputs=[x, y])
    return x.grad, y.grad


@same_as_torch
def test_grad_of_output_wrt_itself(lib):
    x = leaf_vector(lib)
    y = x * 2
    return lib.autograd.grad(y, y, lib.tensor([1.0, 2.0, 3.0]))


@same_as_torch
def test_none_seed_for_vector_root_among_several(lib):
    x = leaf_vector(lib)
    lib.autograd.backward([(x * 2).sum(), x * 3], [None, None])


@same_as_torch
def test_grad_of_leaf_wrt_itself(lib):
    x = leaf_vector(lib)
    return lib.autograd.grad(x, x, lib.ones_like(x))


@same_as_torch
def test_backward_on_leaf_directly(lib):
    x = leaf_vector(lib)
    x.backward(lib.tensor([1.0, 2.0, 3.0]))
    s = lib.tensor(2.0, requires_grad=True)
    s.backward()
    return x.grad, s.grad


def test_a_leaf_takes_a_gradient_nothing_else_holds_as_its_grad():
    # torch does not copy a fresh contiguous gradient into .grad: when a custom backward
    # hands the same tensor to two leaves, the second to accumulate (the only holder
    # left) takes it; an expanded (non-contiguous) gradient is always copied
    def story(lib):
        seen = {}

        class Both(lib.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                return a + b

            @staticmethod
            def backward(ctx, grad):
                fresh = grad * 1
                seen["ptr"] = fresh.data_ptr()
                return fresh, fresh

        class Spread(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.shape = x.shape
                return x.sum()

            @staticmethod
            def backward(ctx, grad):
                out = lib.ones(1).expand(ctx.shape)
                seen["expanded"] = out.data_ptr()
                return out

        a = lib.ones(2, 3, requires_grad=True)
        b = lib.ones(2, 3, requires_grad=True)
        Both.apply(a, b).sum().backward()
        takers = [t.grad.data_ptr() == seen["ptr"] for t in (a, b)]
        c = lib.ones(2, 3, requires_grad=True)
        Spread.apply(c).backward()
        return sorted(takers), c.grad.data_ptr() == seen["expanded"], a.grad.tolist()

    assert story(engine) == story(torch)
