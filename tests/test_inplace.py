"""In-place variants (``y.exp_()``, ``y.mul_(t)``, ...) generated from the table: every row
flagged ``inplace``, on each of its samples, run under torch and under the engine
(support.semantics_harness.same): values, grad_fn names and next_functions, first- and
second-order gradients, on a plain tensor and on a view (the base's CopySlices, AsStridedBackward0 on
the views); then, on each row's first sample, the errors: a leaf, a view of a leaf, a saved
tensor modified, the in-place result modified again, an integer self (in-place cannot
change the dtype), and what no_grad allows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.harness import to_engine, to_torch
from support.pairs import assert_same
from support.semantics_harness import same

import engine
from engine.ops import ROWS

ROWS_INPLACE = [row for row in ROWS.values() if row.inplace]
CASES = [(row, i) for row in ROWS_INPLACE
         for i in range(len(row.samples(np.random.default_rng(0))))]
FIRST = [(row, 0) for row in ROWS_INPLACE]


def _id(case):
    row, i = case
    return f"{row.qualname}-{i}"


def _sample(row, i, lib, dtype):
    sample = row.samples(np.random.default_rng(1234 + i))[i]
    conv = to_torch if lib is torch else to_engine
    args = [conv(a, dtype) for a in sample.args]
    kwargs = {k: conv(v, dtype) for k, v in sample.kwargs.items()}
    return args[0], args[1:], kwargs, row.twice_differentiable


def _leaves(x, rest, kwargs):
    out = [x]
    for v in [*rest, *kwargs.values()]:
        if hasattr(v, "requires_grad") and v.requires_grad:
            out.append(v)
    return out


def _sig(node, depth=2):
    """A node's name and its next_functions, ``depth`` levels down."""
    if node is None:
        return None
    if depth == 0:
        return node.name()
    return (node.name(), [(None if f is None else _sig(f, depth - 1), nr)
                          for f, nr in node.next_functions])


def _grads(lib, outputs, inputs, twice):
    """First-order grads of a weighted sum (create_graph), then second order of those."""
    rng = np.random.default_rng(7)
    total = sum((o * lib.tensor(rng.uniform(0.5, 1.5, tuple(o.shape)))).sum()
                for o in outputs)
    first = lib.autograd.grad(total, inputs, create_graph=True, allow_unused=True)
    live = [g for g in first if g is not None and g.requires_grad]
    if not twice or not live:
        return first, None
    s = sum((g * lib.tensor(rng.uniform(0.5, 1.5, tuple(g.shape)))).sum() for g in live)
    return first, lib.autograd.grad(s, inputs, allow_unused=True)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_inplace_variant_matches_torch(case):
    row, i = case

    def fn(lib):
        x, rest, kwargs, twice = _sample(row, i, lib, "float64")
        y = x * 1
        out = getattr(y, f"{row.name}_")(*rest, **kwargs)
        return (out is y, y, _sig(y.grad_fn),
                *_grads(lib, [y], _leaves(x, rest, kwargs), twice))
    same(fn)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_inplace_variant_on_a_view_matches_torch(case):
    """y[0] modified in place: y gets CopySlices (edges: y's old node, then the op's own
    but its first), y[0] and the view y[1] made before get AsStridedBackward0."""
    row, i = case

    def fn(lib):
        x, rest, kwargs, twice = _sample(row, i, lib, "float64")
        y = lib.stack([x * 1, x * 0.5])  # (the sample's values, in the op's domain, in y[0])
        before = y[1]
        v = y[0]
        getattr(v, f"{row.name}_")(*rest, **kwargs)
        return (y, _sig(y.grad_fn), _sig(v.grad_fn, 1), _sig(before.grad_fn, 1),
                *_grads(lib, [y, before], _leaves(x, rest, kwargs), twice))
    same(fn)


def _error_case(kind, row, lib):
    x, rest, kwargs, _ = _sample(row, 0, lib, "float32")
    name = f"{row.name}_"
    if kind == "leaf":
        getattr(x, name)(*rest, **kwargs)
    elif kind == "view_of_leaf":
        getattr(x.view(tuple(x.shape)), name)(*rest, **kwargs)
    elif kind == "saved_tensor_modified":  # y * y saved y (version 0); y is at 1 now
        y = x * 1
        z = y * y
        getattr(y, name)(*rest, **kwargs)
        z.sum().backward()
    elif kind == "result_modified":  # fails where the node saved its result (exp_, ...)
        y = x * 1
        getattr(y, name)(*rest, **kwargs)
        y.mul_(2)
        y.sum().backward()
        return x.grad
    elif kind == "integer_self":  # in place cannot change the dtype
        t = lib.tensor(np.arange(-2, 4).reshape(2, 3) if x.ndim else np.array(3))
        with lib.no_grad(), np.errstate(all="ignore"):  # (the engine computes before it
            # refuses the cast: NumPy's warnings for asin(3) are no part of the comparison)
            return getattr(t, name)(*[r.detach() if hasattr(r, "detach") else r
                                      for r in rest], **kwargs)
    elif kind == "no_grad_on_leaf":  # allowed: the leaf keeps no history, the version moves
        with lib.no_grad():
            getattr(x, name)(*rest, **kwargs)
        return x, x.is_leaf, x.grad_fn
    else:
        raise AssertionError(kind)


ERRORS = ["leaf", "view_of_leaf", "saved_tensor_modified", "result_modified", "integer_self",
          "no_grad_on_leaf"]


@pytest.mark.parametrize("kind", ERRORS)
@pytest.mark.parametrize("case", FIRST, ids=[_id(c) for c in FIRST])
def test_inplace_variant_errors_match_torch(case, kind):
    row, _ = case
    same(lambda lib: _error_case(kind, row, lib))


def test_every_inplace_variant_is_torchs():
    """Each generated method exists in torch under the same name (and the list names rows)."""
    from engine.ops.inplace import METHODS
    assert METHODS == {f"{r.name}_" for r in ROWS_INPLACE}
    assert all(hasattr(torch.Tensor, m) and hasattr(engine.Tensor, m) for m in METHODS)


@pytest.mark.parametrize("case", FIRST, ids=[_id(c) for c in FIRST])
def test_inplace_variant_forward_ad_matches_torch(case):
    """The tangent is overwritten with the op's (forward_ad.inplace), on a plain tensor and
    through a view into its base."""
    row, _ = case

    def fn(lib):
        fw = lib.autograd.forward_ad
        x, rest, kwargs, _ = _sample(row, 0, lib, "float64")
        rest = [r.detach() if hasattr(r, "detach") else r for r in rest]
        tangent = lib.tensor(np.linspace(0.5, 1.5, x.numel()).reshape(tuple(x.shape)))
        with fw.dual_level():
            y = fw.make_dual(x.detach(), tangent) * 1
            getattr(y, f"{row.name}_")(*rest, **kwargs)
            base = lib.stack([fw.make_dual(x.detach(), tangent) * 1, x.detach()])
            getattr(base[0], f"{row.name}_")(*rest, **kwargs)
            return fw.unpack_dual(y).tangent, fw.unpack_dual(base).tangent
    same(fn)


def test_a_view_of_a_multi_output_view_is_refused_in_place_as_torch():
    # a view inherits "output of a function that returns multiple views" from its base
    # (unless its own creation is special, as a no_grad view's is)
    def scenario(lib, log):
        a = lib.tensor([1.0, 2.0, 3.0, 4.0], dtype=lib.float64, requires_grad=True).clone()
        parts = a.unbind(0)
        log.raises(lambda: parts[0].view_as(parts[0]).mul_(2))
        log.raises(lambda: parts[1].view(1).view(1).add_(1))
        log.raises(lambda: a.view_as(a).unbind(0)[0].mul_(2))
        with lib.no_grad():
            quiet = a.unbind(0)
        log.raises(lambda: quiet[0].view_as(quiet[0]).mul_(2))
        with lib.no_grad():  # and in no_grad, nothing is recorded: allowed
            parts[2].view_as(parts[2]).mul_(2)
        log(a)
    assert_same(scenario)
