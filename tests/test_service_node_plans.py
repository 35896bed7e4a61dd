"""Node plans (NOTE [node plans] in service/run/plans.py): a graph sent again with new values
reuses each node's row and output shapes, gives torch's gradients every time, and still
answers every limit exactly as the first time; a failing node is never remembered; the
store is bounded by AUTOGRAD_PLAN_CACHE_SIZE. torch is the oracle; resolutions are counted by
wrapping the real ``resolve``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from service.budget import Budget
from service.http.app import create_app
from service.problems import Problem
from service.run import plans, workspace
from service.run.workspace import Workspace
from service.schemas import Node
from service.settings import Settings


@pytest.fixture
def fresh_plans(monkeypatch):
    store = plans.Plans()
    monkeypatch.setattr(workspace, "PLANS", store)
    return store


@pytest.fixture
def resolutions(monkeypatch):
    calls = []
    real = workspace.resolve

    def counted(op, args, kwargs):
        calls.append(op)
        return real(op, args, kwargs)

    monkeypatch.setattr(workspace, "resolve", counted)
    return calls


def graph(x, w, b):
    return [{"id": "x", "op": "tensor", "data": x, "requires_grad": True},
            {"id": "w", "op": "tensor", "data": w, "requires_grad": True},
            {"id": "b", "op": "tensor", "data": b, "requires_grad": True},
            {"id": "h", "op": "matmul", "args": ["x", "w"]},
            {"id": "hb", "op": "add", "args": ["h", "b"], "kwargs": {"alpha": 2}},
            {"id": "a", "op": "pow", "args": ["hb", 2]},
            {"id": "s", "op": "sum", "args": ["a", 1]},
            {"id": "out", "op": "mean", "args": ["s"]}]


def torch_grads(x, w, b):
    tx, tw, tb = (torch.tensor(np.array(v, np.float32), requires_grad=True) for v in (x, w, b))
    torch.sum(torch.pow(torch.add(tx @ tw, tb, alpha=2), 2), 1).mean().backward()
    return {"x": tx.grad.numpy(), "w": tw.grad.numpy(), "b": tb.grad.numpy()}


def test_repeated_graph_reuses_plans_and_matches_torch(fresh_plans, resolutions):
    rng = np.random.default_rng(0)
    with TestClient(create_app(Settings(_env_file=None))) as client:
        for step in range(3):
            x, w, b = (rng.standard_normal(s).round(3).tolist() for s in ((2, 3), (3, 4), (4,)))
            r = client.post("/backward", json={"graph": {"nodes": graph(x, w, b)},
                                               "tensors": "out"})
            assert r.status_code == 200, r.text
            for name, expected in torch_grads(x, w, b).items():
                got = np.array(r.json()["grads"][name]["data"], np.float32)
                np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
            if step == 0:
                first = len(resolutions)
    # the kwargs node (add with alpha) takes the ordinary path; the others resolve once
    assert first == 5 and len(resolutions) == 5 + 2 * 1
    assert len(fresh_plans) == 4


def test_new_shapes_make_a_new_plan(fresh_plans, resolutions):
    settings = Settings(_env_file=None)
    for n in (3, 5, 3):
        nodes = [Node.model_validate(n_) for n_ in (
            {"id": "x", "op": "tensor", "data": list(range(n)), "dtype": "float32"},
            {"id": "y", "op": "mul", "args": ["x", 2]})]
        ws = Workspace()
        ws.add_nodes(nodes, Budget(settings))
        assert ws.names["y"].shape == (n,)
    assert resolutions == ["mul", "mul"] and len(fresh_plans) == 2


def _limit_text(nodes, settings) -> tuple[int, str]:
    with pytest.raises(Problem) as e:
        Workspace().add_nodes(nodes, Budget(settings))
    return e.value.status, str(e.value.detail)


@pytest.mark.parametrize("limit", [{"max_total_elements": 15}, {"max_tensor_elements": 10},
                                   {"max_ndim": 1}])
def test_a_remembered_plan_keeps_every_limit(fresh_plans, limit):
    nodes = [Node.model_validate(n) for n in (
        {"id": "v", "op": "tensor", "data": [1.0, 2.0, 3.0, 4.0]},
        {"id": "y", "op": "unsqueeze", "args": ["v", 0]},
        {"id": "z", "op": "outer", "args": ["v", "v"]})]
    tight = Settings(_env_file=None, plan_cache_size=0, **limit)
    expected = _limit_text(nodes, tight)
    assert expected[0] == 413 and len(fresh_plans) == 0
    Workspace().add_nodes(nodes, Budget(Settings(_env_file=None)))  # remembered
    assert len(fresh_plans) == 2
    assert _limit_text(nodes, Settings(_env_file=None, **limit)) == expected


def test_a_failing_node_is_not_remembered(fresh_plans, resolutions):
    nodes = [Node.model_validate(n) for n in (
        {"id": "x", "op": "tensor", "data": [1.0, 2.0, 3.0]},
        {"id": "y", "op": "tensor", "data": [1.0, 2.0]},
        {"id": "z", "op": "add", "args": ["x", "y"]})]
    settings = Settings(_env_file=None)
    first = _limit_text(nodes, settings)
    assert first[0] in (400, 422) and "node 2" in first[1]
    assert _limit_text(nodes, settings) == first
    assert resolutions == ["add", "add"] and len(fresh_plans) == 0


def test_the_store_is_bounded(fresh_plans):
    settings = Settings(_env_file=None, plan_cache_size=2)
    for n in range(1, 6):
        nodes = [Node.model_validate(n_) for n_ in (
            {"id": "x", "op": "tensor", "data": [1.0] * n},
            {"id": "y", "op": "neg", "args": ["x"]})]
        Workspace().add_nodes(nodes, Budget(settings))
        assert len(fresh_plans) == min(n, 2)
    off = Settings(_env_file=None, plan_cache_size=0)
    Workspace().add_nodes(nodes, Budget(off))
    store = plans.Plans()
    store.put(("k",), None, 0)
    assert len(store) == 0
