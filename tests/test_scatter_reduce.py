"""scatter_reduce and index_reduce beyond the per-op table tests: ties of amax/amin share
the gradient, include_self=False leaves the overwritten places out; against torch. 'prod'
follows torch's cases for zeros."""

import pytest
import torch
from support.pairs import assert_same

import engine


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


@pytest.mark.parametrize("how", ["sum", "mean", "amax", "amin", "prod"])
@pytest.mark.parametrize("own", [True, False])
def test_forward_mode_with_ties(how, own):
    """scatter_reduce's tangent as torch's forward AD gives it: ties of amax/amin share it
    (the input's own ties left out with include_self=False), and 'prod' gets none."""
    def tangent(lib):
        fw = lib.autograd.forward_ad
        index = lib.tensor([[0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 1, 1]])
        with fw.dual_level():
            x = fw.make_dual(
                lib.tensor([[1.0, 5.0, 2.0, 2.0], [3.0, 3.0, 3.0, 3.0]], dtype=lib.float64),
                lib.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]], dtype=lib.float64))
            src = fw.make_dual(
                lib.tensor([[1.0, 3.0, 2.0, 3.0], [3.0, 5.0, 3.0, 1.0], [1.0, 5.0, 3.0, 3.0]],
                           dtype=lib.float64),
                lib.arange(1.0, 13.0, dtype=lib.float64).reshape(3, 4))
            t = fw.unpack_dual(x.scatter_reduce(0, index, src, how, include_self=own)).tangent
            return None if t is None else [[round(v, 9) for v in row] for row in t.tolist()]
    assert tangent(engine) == tangent(torch)


def test_index_reduce_has_no_forward_mode():
    def refusal(lib):
        fw = lib.autograd.forward_ad
        with fw.dual_level():
            x = lib.ones(3, 2, dtype=lib.float64)
            source = fw.make_dual(lib.ones(2, 2, dtype=lib.float64), lib.ones(2, 2,
                                                                          dtype=lib.float64))
            with pytest.raises(NotImplementedError) as e:
                x.index_reduce(0, lib.tensor([0, 2]), source, "amax")
        return str(e.value)
    assert refusal(engine) == refusal(torch)


def test_index_reduce_warns_once_that_it_is_in_beta():
    """torch warns once a process; whichever of the two ran index_reduce before this test
    has warned already, so each is asked for its first warning in a fresh interpreter."""
    import subprocess
    import sys

    code = ("import warnings, {lib} as t\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    for _ in range(2):\n"
            "        t.ones(2).index_reduce(0, t.tensor([0]), t.ones(1), 'prod')\n"
            "print([(x.category.__name__,\n"
            "        str(x.message).split(' (Triggered internally at ')[0]) for x in w])")
    seen = [subprocess.run([sys.executable, "-c", code.format(lib=lib)], capture_output=True,
                           text=True, check=True).stdout for lib in ("torch", "engine")]
    assert seen[0] == seen[1] and "beta" in seen[0]
