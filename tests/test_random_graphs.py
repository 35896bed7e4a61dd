"""Random graphs (Hypothesis): a handful of ops over broadcasting leaves, random seeds,
sequences of backward calls with and without retain_graph, non-leaf retain_grad and
autograd.grad; engine vs torch on every gradient and every error message."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from support.random_programs import build, programs, start, structural_programs
from support.semantics_harness import same


def interpret(lib, program):
    leaves_shapes, steps, roots, calls, retain, seed = program
    rng = np.random.default_rng(seed)
    leaves, nodes = start(lib, program, rng)
    outs = [nodes[r] for r in roots]
    seeds = [rng.normal(size=o.shape) for o in outs]
    record = [[tuple(o.shape) for o in outs]]
    for keep in calls:
        try:
            lib.autograd.backward(outs, [lib.tensor(s) for s in seeds], retain_graph=keep)
            record.append([leaf.grad for leaf in leaves])
            if retain is not None and nodes[retain].requires_grad:
                record.append(nodes[retain].grad)
        except RuntimeError as exc:
            record.append(("error", str(exc)))
            break
    # autograd.grad on a fresh copy of the graph, w.r.t. the leaves, allow_unused
    try:
        fresh = [lib.tensor(leaf.detach().numpy(), requires_grad=True) for leaf in leaves]
        nodes = build(fresh, steps)
        total = sum((nodes[r] * lib.tensor(s)).sum() for r, s in zip(roots, seeds))
        record.append(lib.autograd.grad(total, fresh, allow_unused=True))
    except RuntimeError as exc:
        record.append(("error", str(exc)))
    return record


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_graph_matches_torch(program):
    same(lambda lib: interpret(lib, program))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structural_programs())
def test_random_structural_graph_matches_torch(program):
    same(lambda lib: interpret(lib, program))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_graph_float32(program):
    def fn(lib):
        leaves_shapes, steps, roots, calls, retain, seed = program
        rng = np.random.default_rng(seed)
        leaves = [lib.tensor(rng.uniform(-1.5, 1.5, s).astype(np.float32), requires_grad=True)
                  for s in leaves_shapes]
        nodes = build(leaves, steps)
        out = sum(nodes[r].sum() for r in roots)
        out.backward()
        return [leaf.grad for leaf in leaves], out.grad_fn.name()
    same(fn)
