"""scatter_reduce and index_reduce beyond the per-op table tests: ties of amax/amin share
the gradient, include_self=False leaves the overwritten places out; against torch. The
'prod' derivative is not written: it raises instead of guessing."""

import pytest
from support.pairs import assert_same

import engine
from engine.errors import DerivativeNotImplemented


def test_ties_and_include_self():
    def scenario(lib, log):
        index = lib.tensor([[0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 1, 1]])
        for how in ("amax", "amin", "mean", "sum"):
            for own in (True, False):
                x = lib.tensor([[1.0, 5.0, 2.0, 2.0], [3.0, 3.0, 3.0, 3.0]], requires_grad=True)
                src = lib.tensor([[1.0, 3.0, 2.0, 3.0], [3.0, 5.0, 3.0, 1.0],
                                  [1.0, 5.0, 3.0, 3.0]], requires_grad=True)
                out = x.scatter_reduce(0, index, src, how, include_self=own)
                (out * lib.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
                log(how, own, out, x.grad, src.grad)
        y = lib.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
        source = lib.tensor([[2.0, 2.0], [7.0, 1.0], [2.0, 0.5]], requires_grad=True)
        out = y.index_reduce(0, lib.tensor([0, 2, 0]), source, "amax")
        out.sum().backward()
        log(out, y.grad, source.grad)
        log.raises(lambda: y.scatter_reduce(0, index[:, :2], source, "median"))
    assert_same(scenario)


def test_prod_derivative_raises():
    x = engine.tensor([[1.0, 2.0]], requires_grad=True)
    out = x.scatter_reduce(0, engine.tensor([[0, 0]]), engine.tensor([[3.0, 4.0]]), "prod")
    assert out.tolist() == [[3.0, 8.0]]
    with pytest.raises(DerivativeNotImplemented):
        out.sum().backward()
