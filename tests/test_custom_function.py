"""Custom autograd.Function and gradcheck/gradgradcheck vs torch: the same Function is
defined against both libraries and driven the same way."""

import numpy as np
import pytest
import torch
from support.made_up_derivatives import cube, square, wrong_square

import engine
from engine import autograd as A
from engine.gradcheck import GradcheckError


def make_square(lib, Function):
    class Square(Function):
        @staticmethod
        def forward(ctx, x, k, y):
            ctx.save_for_backward(x, y)
            ctx.k = k
            ctx.seen = tuple(ctx.needs_input_grad)
            return x * x * k + y

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return 2 * x * ctx.k * g, None, g * y

    return Square


def both(values, requires_grad=True):
    return (engine.tensor(values, dtype=engine.float64, requires_grad=requires_grad),
            torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad))


def test_function_forward_backward_names_edges():
    Ours, Theirs = make_square(engine, A.Function), make_square(torch, torch.autograd.Function)
    x, tx = both([1.0, -2.0, 3.0])
    y, ty = both([0.5, 0.25, 2.0], requires_grad=False)
    out, tout = Ours.apply(x, 3, y), Theirs.apply(tx, 3, ty)
    np.testing.assert_allclose(out.numpy(force=True), tout.detach().numpy())
    assert out.grad_fn.name() == tout.grad_fn.name() == "SquareBackward"
    assert type(out.grad_fn).__name__ == type(tout.grad_fn).__name__
    assert len(out.grad_fn.next_functions) == len(tout.grad_fn.next_functions)
    assert [f is None for f, _ in out.grad_fn.next_functions] == [
        f is None for f, _ in tout.grad_fn.next_functions]
    assert out.grad_fn.seen == tout.grad_fn.seen
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_saved_tensors_freed_like_torch():
    Ours, Theirs = make_square(engine, A.Function), make_square(torch, torch.autograd.Function)
    x, tx = both([1.0, 2.0])
    y, ty = both([1.0, 1.0], requires_grad=False)
    out, tout = Ours.apply(x, 2, y), Theirs.apply(tx, 2, ty)
    assert out.grad_fn.saved_tensors_info()[0][1] == (2,)
    out.sum().backward()
    tout.sum().backward()
    with pytest.raises(RuntimeError) as theirs:
        _ = tout.grad_fn.saved_tensors
    with pytest.raises(RuntimeError) as ours:
        _ = out.grad_fn.saved_tensors
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(RuntimeError) as theirs:
        tout.sum().backward()
    with pytest.raises(RuntimeError) as ours:
        out.sum().backward()
    assert str(ours.value) == str(theirs.value)


def test_double_backward_through_function_and_wrong_count():
    def defs(Function):
        class Bad(Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g, g
        return cube(Function), Bad

    (Cube, Bad), (TCube, TBad) = defs(A.Function), defs(torch.autograd.Function)
    x, tx = both([0.5, -1.5])
    (g,) = A.grad(Cube.apply(x).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad(TCube.apply(tx).sum(), tx, create_graph=True)
    (gg,) = A.grad(g.sum(), x)
    (tgg,) = torch.autograd.grad(tg.sum(), tx)
    np.testing.assert_allclose(gg.numpy(), tgg.numpy())
    with pytest.raises(RuntimeError) as theirs:
        TBad.apply(tx).sum().backward()
    with pytest.raises(RuntimeError) as ours:
        Bad.apply(x).sum().backward()
    assert str(ours.value) == str(theirs.value)


def test_once_differentiable_and_non_differentiable_outputs():
    def defs(Function, once):
        Sq = square(Function, lambda x: 2 * x, once)

        class Two(Function):
            @staticmethod
            def forward(ctx, x):
                a, b = x * 2, x > 0
                ctx.mark_non_differentiable(b)
                return a, b

            @staticmethod
            def backward(ctx, ga, gb):
                return ga * 2
        return Sq, Two

    Sq, Two = defs(A.Function, A.once_differentiable)
    TSq, TTwo = defs(torch.autograd.Function, torch.autograd.function.once_differentiable)
    x, tx = both([1.0, 2.0])
    (g,) = A.grad(Sq.apply(x * 1).sum() * x.sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad(TSq.apply(tx * 1).sum() * tx.sum(), tx, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy())
    with pytest.raises(RuntimeError) as theirs:
        tg.sum().backward()
    with pytest.raises(RuntimeError) as ours:
        g.sum().backward()
    assert str(ours.value) == str(theirs.value)
    (a, b), (ta, tb) = Two.apply(x), TTwo.apply(tx)
    assert b.requires_grad == tb.requires_grad
    assert a.grad_fn.name() == ta.grad_fn.name()
    a.sum().backward()
    ta.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_gradcheck_fails_on_wrong_derivative_like_torch():
    Ours, Theirs = wrong_square(A.Function), wrong_square(torch.autograd.Function)
    x, tx = both([1.0, 2.0, -0.5])
    assert A.gradcheck(Ours.apply, (x,), raise_exception=False) is False
    assert torch.autograd.gradcheck(Theirs.apply, (tx,), raise_exception=False) is False
    with pytest.raises(RuntimeError) as theirs:
        torch.autograd.gradcheck(Theirs.apply, (tx,))
    with pytest.raises(GradcheckError) as ours:
        A.gradcheck(Ours.apply, (x,))
    assert str(ours.value).splitlines()[0] == str(theirs.value).splitlines()[0]
    report = engine.gradcheck.gradcheck_report(Ours.apply, (x,))
    f = report["failure"]
    np.testing.assert_allclose(f["analytical"], np.diag(3 * x.numpy(force=True)))
    np.testing.assert_allclose(f["numerical"], np.diag(2 * x.numpy(force=True)), atol=1e-6)


@pytest.mark.parametrize("fn", [
    lambda lib, a, b: (a.sin() * b).sum(dim=0),
    lambda lib, a, b: (a @ b.transpose(0, 1)).tanh(),
    lambda lib, a, b: (a.exp(), (a * b).sum()),
])
def test_gradcheck_and_gradgradcheck_agree_with_torch(fn):
    rng = np.random.default_rng(0)
    av, bv = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    a, ta = both(av)
    b, tb = both(bv)
    assert A.gradcheck(lambda p, q: fn(engine, p, q), (a, b)) is True
    assert torch.autograd.gradcheck(lambda p, q: fn(torch, p, q), (ta, tb)) is True
    assert A.gradgradcheck(lambda p, q: fn(engine, p, q), (a, b)) is True
    assert torch.autograd.gradgradcheck(lambda p, q: fn(torch, p, q), (ta, tb)) is True
    ours = engine.gradcheck.analytical_jacobian(lambda p, q: fn(engine, p, q), (a, b))
    outs = fn(torch, ta, tb)
    outs = outs if isinstance(outs, tuple) else (outs,)
    for o, out in enumerate(outs):
        for i, inp in enumerate((ta, tb)):
            rows = []
            for k in range(out.numel()):
                seed = torch.zeros_like(out).reshape(-1)
                seed[k] = 1
                (g,) = torch.autograd.grad(out, inp, seed.reshape(out.shape), retain_graph=True,
                                           allow_unused=True, materialize_grads=True)
                rows.append(g.reshape(-1))
            np.testing.assert_allclose(ours[o][i], torch.stack(rows, 1).numpy(), atol=1e-12)


def test_gradgradcheck_fails_on_wrong_second_derivative():
    def defs(Function):  # first order right, second order wrong
        return square(Function, lambda x: 2 * x.detach())
    x, tx = both([1.0, 2.0])
    assert A.gradcheck(defs(A.Function).apply, (x,)) is True
    ours = A.gradgradcheck(defs(A.Function).apply, (x,), raise_exception=False)
    theirs = torch.autograd.gradgradcheck(defs(torch.autograd.Function).apply, (tx,),
                                          raise_exception=False)
    assert ours is theirs is False


def test_function_saving_its_output_is_freed_without_the_gc():
    """A Function that saves its own output (as torch's Exp example does) refers to itself
    through nothing: dropping the output frees the node, with the cyclic GC off; its
    gradient is torch's."""
    import gc
    import weakref

    def make_exp(Function):
        class Exp(Function):
            @staticmethod
            def forward(ctx, x):
                result = x.exp()
                ctx.save_for_backward(result)
                return result

            @staticmethod
            def backward(ctx, g):
                (result,) = ctx.saved_tensors
                return g * result
        return Exp

    ours, theirs = both([0.5, -1.0])
    make_exp(torch.autograd.Function).apply(theirs).sum().backward()
    gc.disable()
    try:
        out = make_exp(A.Function).apply(ours)
        node = weakref.ref(out.grad_fn)
        out.sum().backward(retain_graph=True)  # saved tensors kept: the cycle would be there
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())
        del out
        assert node() is None
    finally:
        gc.enable()
