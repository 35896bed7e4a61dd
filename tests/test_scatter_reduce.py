"""scatter_reduce and index_reduce beyond the per-op table tests: ties of amax/amin share
the gradient, include_self=False leaves the overwritten places out; against torch. 'prod'
follows torch's cases for zeros."""

import pytest
from support.pairs import assert_same


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


@pytest.mark.parametrize("how", ["scatter_reduce", "index_reduce"])
@pytest.mark.parametrize("zeros", ["none", "in_self", "one_in_src", "two_in_src_at_one_place"])
def test_prod_derivatives(how, zeros):
    """'prod': an element's gradient is the product of the others at its place, with zeros
    in the input or src handled without dividing by them, include_self either way; second
    derivatives too, and the refusal of one where two zeros of src share a place."""
    def scenario(lib, log):
        index = lib.tensor([[0, 1, 0], [0, 0, 1], [1, 1, 0]])
        weights = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=lib.float64)
        for own in (True, False):
            x = lib.tensor([[1.5, 2.0, -1.0], [3.0, 0.5, 2.0]], dtype=lib.float64)
            src = lib.tensor([[2.0, -0.5, 1.5], [0.7, 1.2, 3.0], [1.1, 2.0, -2.0]],
                             dtype=lib.float64)
            if zeros == "in_self":
                x[0, 0] = x[1, 1] = 0.0
            if zeros in ("one_in_src", "two_in_src_at_one_place"):
                src[0, 0] = 0.0
            if zeros == "two_in_src_at_one_place":
                src[1, 0] = src[2, 1] = 0.0
            x.requires_grad_()
            src.requires_grad_()
            if how == "scatter_reduce":
                out = x.scatter_reduce(0, index, src, "prod", include_self=own)
            else:
                out = x.index_reduce(0, lib.tensor([0, 1, 0]), src, "prod", include_self=own)
            gx, gs = lib.autograd.grad((out * weights).sum(), [x, src], create_graph=True)
            log(own, out, gx, gs)
            log(lib.autograd.grad((gx * gx).sum(), [x, src], allow_unused=True))
            log.raises(lib.autograd.grad, (gs * gs).sum(), [x, src], allow_unused=True)
    assert_same(scenario)
