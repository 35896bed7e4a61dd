"""Custom autograd.Function behaviours torch 2.13 users rely on, each story run under torch
and the engine with the same Function defined against each: once_differentiable under
create_graph (one Error node over fresh leaves, and the error when differentiated),
non-Tensor outputs (their gradients are None, not zeros), mark_dirty (the input itself
comes back, its version moved, its history the Function's node, through CopySlices when it
is a view, even a view of a view), and mark_dirty's refusals."""

import warnings

import pytest
import torch
from support.functions import function
from support.semantics_harness import outcome, stories

import engine


def graph_desc(fn):
    """Node names down the graph, iteratively (pre-order, as a nested string)."""
    out, stack = [], [fn]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif item is None:
            out.append("None")
        else:
            children = [child for child, _ in item.next_functions]
            parts = [type(item).__name__, "("]
            for i, child in enumerate(children):
                parts += [", "] if i else []
                parts.append(child)
            parts.append(")")
            stack.extend(reversed(parts))
    return "".join(out)


def _values(t):
    return None if t is None else t.tolist()


def _once_differentiable_function(lib):
    class Product(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a, k, b):
            ctx.save_for_backward(a, b)
            ctx.k = k
            return a * b * k

        @staticmethod
        @lib.autograd.function.once_differentiable
        def backward(ctx, grad):
            grad_enabled = lib.is_grad_enabled()
            a, b = ctx.saved_tensors
            ctx.seen = grad_enabled
            return grad * b * ctx.k, None, grad * a * ctx.k

    return Product


def _once_differentiable_under_create_graph(lib):
    product = _once_differentiable_function(lib)
    x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    y = lib.tensor([3.0, 4.0], dtype=lib.float64, requires_grad=True)
    out = product.apply(x, 2, y)
    out.sum().backward(lib.ones((), dtype=lib.float64, requires_grad=True), create_graph=True)
    error = x.grad.grad_fn.next_functions[1][0]
    seen = [graph_desc(x.grad.grad_fn), graph_desc(y.grad.grad_fn), out.grad_fn.seen,
            error.name(), _values(x.grad), _values(y.grad)]
    seen.append(outcome(lambda: x.grad.sum().backward()))
    return seen


def _once_differentiable_without_create_graph(lib):
    product = _once_differentiable_function(lib)
    x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    y = lib.tensor([3.0, 4.0], dtype=lib.float64, requires_grad=True)
    product.apply(x, 3, y).sum().backward()
    return _values(x.grad), _values(y.grad), x.grad.grad_fn is None


def _non_tensor_outputs(lib):
    seen = []

    class Mixed(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return 3, x * 2, None, "label", x * 3

        @staticmethod
        def backward(ctx, *grads):
            seen.append([None if g is None else g.tolist() for g in grads])
            return grads[1] * 2 + grads[4] * 3

    x = lib.ones(2, dtype=lib.float64, requires_grad=True)
    out = Mixed.apply(x)
    seen.append((out[0], out[2], out[3]))
    out[1].sum().backward()  # out[4] gets no gradient: zeros, the others None
    seen.append(_values(x.grad))
    return seen


def _dirty_function(lib, returns_twice=False):
    class Double(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return (x, x) if returns_twice else x

        @staticmethod
        def backward(ctx, *grads):
            ctx.seen = [None if g is None else g.tolist() for g in grads]
            return sum(g * 2 for g in grads if g is not None)

    return Double


def _dirty_returned_twice(lib):
    a = lib.ones(3, dtype=lib.float64, requires_grad=True)
    b = a.clone()
    before = b._version
    first, second = _dirty_function(lib, returns_twice=True).apply(b)
    seen = [first is b, second is b, b._version - before, graph_desc(b.grad_fn), b.output_nr]
    first.sum().backward()
    seen += [b.grad_fn.seen, _values(a.grad)]
    return seen


def _dirty_nested_view(lib):
    x = lib.zeros(3, 4, dtype=lib.float64, requires_grad=True)
    b = x.clone()
    view = b.narrow(1, 2, 2).narrow(0, 1, 2)
    result = _dirty_function(lib).apply(view)
    seen = [result is view, graph_desc(b.grad_fn), graph_desc(view.grad_fn), _values(b)]
    b.sum().backward()
    seen.append(_values(x.grad))
    return seen


def _dirty_view_then_used(lib):
    x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=lib.float64, requires_grad=True)
    b = x * 1
    row = b[1]
    _dirty_function(lib).apply(row)
    (b * b).sum().backward()
    return _values(b), _values(x.grad)


def _dirty_without_grad_needed(lib):
    a = lib.ones(2)
    before = a._version
    result = _dirty_function(lib).apply(a)
    return result is a, a._version - before, result.requires_grad, _values(a)


def _dirty_under_no_grad(lib):
    a = lib.ones(2, requires_grad=True)
    before = a._version
    with lib.no_grad():
        result = _dirty_function(lib).apply(a)
    return result is a, a._version - before, result.requires_grad, result.grad_fn is None


def _dirty_leaf(lib):
    _dirty_function(lib).apply(lib.ones(2, requires_grad=True))


def _dirty_not_returned(lib):
    class Hidden(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            return grad

    Hidden.apply(lib.ones(2, requires_grad=True).clone())


def _dirty_second_input(lib):
    class AddInto(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            y.add_(x)
            ctx.mark_dirty(y)
            return x * 1, y

        @staticmethod
        def backward(ctx, gx, gy):
            return gx + gy, gy * 3

    x = lib.ones(2, requires_grad=True)
    y = lib.ones(2, requires_grad=True).clone()
    out = AddInto.apply(x, y)
    return out[1] is y, graph_desc(y.grad_fn), y.output_nr


def _dirty_not_an_input(lib):
    def forward(ctx, a, b):
        made = 3 * a
        made.add_(b)
        ctx.mark_dirty(made)  # warned about, then treated as the inputs are
        return made

    Made = function(lib, "Made", forward=forward, backward=lambda ctx, g: (3 * g, g))
    a, b = lib.ones(2, requires_grad=True), lib.ones(2, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = Made.apply(a.clone(), b)
    out.sum().backward()
    return ([(w.category.__name__, str(w.message).split(" (Triggered")[0]) for w in caught],
            out._version, a.grad.tolist(), b.grad.tolist())


def _dirty_view_among_several_outputs(lib, requires_grad=True):
    def forward(ctx, a, b):
        a.add_(b)
        ctx.mark_dirty(a)
        return a, a + b

    Pair = function(lib, "Pair", forward=forward, backward=lambda ctx, ga, gs: (ga + gs, gs))
    base = lib.ones(2, requires_grad=requires_grad).clone()
    b = lib.ones(2, requires_grad=True)
    out = Pair.apply(base.view_as(base), b)  # refused while recording, even for a plain base
    return [o.requires_grad for o in out]


def _dirty_view_of_plain_base_among_several_outputs(lib):
    return _dirty_view_among_several_outputs(lib, False)


STORIES = [_dirty_not_an_input, _dirty_view_among_several_outputs,
           _dirty_view_of_plain_base_among_several_outputs,
           _once_differentiable_under_create_graph, _once_differentiable_without_create_graph,
           _non_tensor_outputs, _dirty_returned_twice, _dirty_nested_view,
           _dirty_view_then_used, _dirty_without_grad_needed, _dirty_under_no_grad,
           _dirty_leaf, _dirty_not_returned, _dirty_second_input]


@stories(*STORIES)
def test_custom_function(story):
    expected = outcome(lambda: story(torch))
    assert outcome(lambda: story(engine)) == expected


# -- a custom Function's backward runs even when no output got a gradient (the node below
#    returned None, or a hook dropped it): with zeros, or Nones without materialize_grads

def _no_gradient_reaches_it(lib, materialize, how):
    seen = []

    class Double(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.set_materialize_grads(materialize)
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            seen.append(_values(grad))
            return None if grad is None else grad * 2

    Blocks = function(lib, "Blocks", forward=lambda ctx, a: a * 3, backward=lambda ctx, grad: None)

    x = lib.ones(2, requires_grad=True)
    doubled = Double.apply(x)
    if how == "a Function below returns None":
        out = Blocks.apply(doubled)
    else:
        out = doubled.exp()
        out.grad_fn.register_hook(lambda ins, outs: (None,))
    (out + x).sum().backward()
    return seen, _values(x.grad)


@pytest.mark.parametrize("how", ["a Function below returns None", "a post hook drops it"])
@pytest.mark.parametrize("materialize", [True, False])
def test_backward_runs_without_gradients(materialize, how):
    expected = outcome(lambda: _no_gradient_reaches_it(torch, materialize, how))
    assert outcome(lambda: _no_gradient_reaches_it(engine, materialize, how)) == expected


# -- NOTE [Custom Function views]: an output that is a view (an input returned as-is
#    included: torch makes it a view of the input) may not be modified in place, nor its
#    base once it has a node

def _returns_a_view(lib, as_is):
    class Part(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a if as_is else a[1:]

        @staticmethod
        def backward(ctx, grad):
            return grad if as_is else lib.cat([lib.zeros(1), grad])

    return Part


def _view_output(lib, as_is, then):
    x = lib.ones(3, requires_grad=True)
    base = x * 1
    out = _returns_a_view(lib, as_is).apply(base)
    return then(lib, x, base, out)


def _modify_it(lib, x, base, out):
    out.mul_(2)


def _modify_it_under_no_grad(lib, x, base, out):
    with lib.no_grad():
        out.mul_(2)
    return repr(out)


def _modify_its_base(lib, x, base, out):
    base.mul_(2)
    return repr(out)


def _modify_its_base_under_no_grad(lib, x, base, out):
    with lib.no_grad():
        base.mul_(2)
    return out.grad_fn


def _assign_into_it(lib, x, base, out):
    out[0] = 5.0


def _modify_a_view_of_it(lib, x, base, out):
    out[0:1].mul_(2)


def _what_it_is(lib, x, base, out):
    shown = (out._base is base, out._is_view(), out.grad_fn.name(), base._version)
    (out * 2).sum().backward()
    return shown, _values(x.grad)


def _input_nothing_requires_grad(lib, x, base, out):
    plain = lib.ones(3)
    result = _returns_a_view(lib, as_is=True).apply(plain)
    result.mul_(2)
    return _values(plain), result._base is plain


@pytest.mark.parametrize("as_is", [False, True], ids=["a view", "the input as-is"])
@pytest.mark.parametrize("then", [_modify_it, _modify_it_under_no_grad, _modify_its_base,
                                  _modify_its_base_under_no_grad, _assign_into_it,
                                  _modify_a_view_of_it, _what_it_is,
                                  _input_nothing_requires_grad],
                         ids=lambda f: f.__name__.strip("_"))
def test_view_outputs(as_is, then):
    expected = outcome(lambda: _view_output(torch, as_is, then))
    assert outcome(lambda: _view_output(engine, as_is, then)) == expected


def _saves_a_number(lib):
    class Saves(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a, None, 3)
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            return grad

    Saves.apply(lib.ones(2, requires_grad=True))


def test_save_for_backward_names_the_argument():
    assert outcome(lambda: _saves_a_number(engine)) == outcome(lambda: _saves_a_number(torch))


def _input_back(lib, dirty, requires_grad, grad_mode):
    class Back(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            if dirty:
                x.mul_(2)
                ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad

    a = lib.ones(3, requires_grad=True).clone() if requires_grad else lib.ones(3)
    with lib.set_grad_enabled(grad_mode):
        out = Back.apply(a)
    seen = [out is a, out._base is a, out._is_view(), out.requires_grad]
    try:
        out.mul_(2)
        seen.append("in place allowed")
    except RuntimeError as e:
        seen.append(str(e))
    return seen


@pytest.mark.parametrize("grad_mode", [True, False], ids=["grad mode", "no_grad"])
@pytest.mark.parametrize("requires_grad", [True, False], ids=["requires grad", "plain"])
@pytest.mark.parametrize("dirty", [False, True], ids=["as-is", "dirty"])
def test_an_input_returned(dirty, requires_grad, grad_mode):
    # the input itself, a view of it, or a detached alias, as torch's _wrap_outputs gives
    expected = outcome(lambda: _input_back(torch, dirty, requires_grad, grad_mode))
    assert outcome(lambda: _input_back(engine, dirty, requires_grad, grad_mode)) == expected
