"""The fast backward walk (engine/engine.py's ``_execute``: in-place sums, inlined delivery)
against the short reference walk beside it (``reference_execute``: the algorithm alone), on
random graphs: the same leaves get the same gradients, first order and with
create_graph=True (whose recorded graphs must then give the same second-order gradients).

Graphs mix broadcasting (unbroadcast in the walk), nodes used many times (input buffers
that sum), multi-output nodes with unused outputs (undefined gradients), constants and
detached branches (edges without a node), reductions, views and several roots."""

import numpy as np
import pytest

import engine
from engine import autograd
from engine.engine import reference_execute

UNARY = ("tanh", "sigmoid", "sin", "neg", "square", "exp", "relu")
BINARY = ("add", "sub", "mul", "maximum")


def _suffix_shape(rng, base):
    """A shape that broadcasts to ``base``: a suffix of it, some dims set to 1."""
    dims = base[len(base) - rng.randint(0, len(base) + 1):]
    return tuple(d if rng.rand() < 0.6 else 1 for d in dims)


def build(seed):
    """A random graph from ``seed`` (the same seed builds the same graph): its leaves, its
    roots and their seeds."""
    rng = np.random.RandomState(seed)
    base = tuple(int(d) for d in rng.randint(1, 4, size=rng.randint(1, 4)))
    leaves = [engine.tensor(rng.uniform(-1, 1, _suffix_shape(rng, base)).astype(np.float32),
                            requires_grad=True) for _ in range(rng.randint(1, 4))]
    const = engine.tensor(rng.uniform(-1, 1, base).astype(np.float32))
    pool = list(leaves) + [const]
    for _ in range(rng.randint(3, 14)):
        a, b = pool[rng.randint(len(pool))], pool[rng.randint(len(pool))]
        kind = rng.randint(7)
        if kind == 0:
            out = getattr(engine, UNARY[rng.randint(len(UNARY))])(a * 0.5)
        elif kind == 1:
            out = getattr(engine, BINARY[rng.randint(len(BINARY))])(a, b)
        elif kind == 2 and a.ndim:
            out = a.sum(-1, keepdim=True)
        elif kind == 3 and a.ndim and a.shape[0] > 1:
            out = a.unbind(0)[rng.randint(a.shape[0])]  # the other outputs stay unused
        elif kind == 4:
            out = a.reshape(-1).reshape(tuple(a.shape)) * 1.5
        elif kind == 5:
            out = a.detach() * b  # a's history is cut: no edge to it
        else:
            out = a.expand(base) * 1.0
        pool.append(out)
    outs = [t for t in pool[len(leaves) + 1:] if t.requires_grad][-2:]
    if not outs:
        outs = [leaves[0] * 2.0]
    seeds = [engine.tensor(rng.uniform(-1, 1, tuple(o.shape)).astype(np.float32)) for o in outs]
    return leaves, outs, seeds


def _grads(leaves):
    return [None if t.grad is None else t.grad.detach().numpy() for t in leaves]


def _same(got, want):
    assert [g is None for g in got] == [w is None for w in want]
    for g, w in zip(got, want):
        if g is not None:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("seed", range(40))
def test_reference_walk_matches_the_fast_walk(seed):
    leaves, outs, seeds = build(seed)
    autograd.backward(outs, seeds)
    fast = _grads(leaves)
    leaves, outs, seeds = build(seed)
    reference_execute([o._edge() for o in outs], seeds, keep_graph=False, create_graph=False)
    _same(_grads(leaves), fast)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
@pytest.mark.parametrize("seed", range(20))
def test_reference_walk_matches_the_fast_walk_with_create_graph(seed):
    second = []
    for walk in ("fast", "reference"):
        leaves, outs, seeds = build(seed)
        if walk == "fast":
            autograd.backward(outs, seeds, create_graph=True)
        else:
            reference_execute([o._edge() for o in outs], seeds, keep_graph=True,
                              create_graph=True)
        first = _grads(leaves)
        if walk == "fast":
            want_first = first
        else:
            _same(first, want_first)
        # the graphs the two walks recorded: their own backward gives the same grads
        total = sum((t.grad * t.grad).sum() for t in leaves
                    if t.grad is not None and t.grad.requires_grad)
        grads = autograd.grad(total, leaves, allow_unused=True) if isinstance(
            total, engine.Tensor) else [None] * len(leaves)
        second.append([None if g is None else g.numpy() for g in grads])
    _same(second[1], second[0])
