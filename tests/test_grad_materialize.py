"""autograd.grad(..., materialize_grads=True): the zeros torch 2.13 gives for an unused input
require grad exactly when create_graph does, so a next grad() through them works."""

import pytest
import torch

import engine


def _story(lib, create_graph):
    x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    unused = lib.tensor([3.0, 4.0], dtype=lib.float64, requires_grad=True)
    gx, gu = lib.autograd.grad((x * x).sum(), [x, unused], create_graph=create_graph,
                               materialize_grads=True)
    seen = [gx.tolist(), gu.tolist(), gx.requires_grad, gu.requires_grad, gu.is_leaf,
            gu.grad_fn is None, str(gu.dtype)]
    if create_graph:
        again = lib.autograd.grad((gx + gu).sum(), [x, unused], materialize_grads=True)
        seen.append([g.tolist() for g in again])
    return seen


@pytest.mark.parametrize("create_graph", [False, True])
def test_materialized_zeros_follow_create_graph(create_graph):
    assert _story(engine, create_graph) == _story(torch, create_graph)


def test_materialize_grads_refuses_an_unreached_gradient_edge():
    # zeros need a shape and a dtype, which a GradientEdge input does not carry: torch
    # refuses materialize_grads only where such an input got no gradient
    def story(lib):
        seen = []
        a = lib.ones(2, requires_grad=True).clone()
        b = lib.ones(2, requires_grad=True).clone()
        edge_a = lib.autograd.graph.get_gradient_edge(a)
        edge_b = lib.autograd.graph.get_gradient_edge(b)
        out = (a * 3).sum()
        ga, gb = lib.autograd.grad(out, (edge_a, b), retain_graph=True,
                                   materialize_grads=True)
        seen.append((ga.tolist(), gb.tolist()))
        try:
            lib.autograd.grad(out, (a, edge_b), materialize_grads=True)
        except RuntimeError as e:
            seen.append(str(e))
        return seen

    assert story(engine) == story(torch)
