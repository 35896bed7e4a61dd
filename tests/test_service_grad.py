"""POST /grad through the real server, compared with torch computed here."""

import numpy as np
import pytest
import torch
from support.service_server import as_numpy, check_problem, torch_build

pytest_plugins = ["support.service_server"]  # the fixtures: a live server (api, server_url)

NODES = [{"id": "x", "op": "tensor", "data": [1.0, 2.0, 3.0], "requires_grad": True},
         {"id": "y", "op": "tensor", "data": [0.5, -1.0, 2.0], "requires_grad": True},
         {"id": "u", "op": "tensor", "data": 1.0, "requires_grad": True},
         {"id": "p", "op": "mul", "args": ["x", "y"]},
         {"id": "q", "op": "exp", "args": ["p"]},
         {"id": "s", "op": "sum", "args": ["q"]}]


def test_grad_matches_torch_and_accumulates_nothing(api):
    r = api.post("/grad", json={"graph": {"nodes": NODES}, "outputs": "s",
                                "inputs": ["x", "y"]})
    assert r.status_code == 200, r.text
    t = torch_build(NODES)
    gx, gy = torch.autograd.grad(t["s"], [t["x"], t["y"]])
    np.testing.assert_allclose(as_numpy(r.json()["grads"][0]), gx.numpy(), rtol=1e-6)
    np.testing.assert_allclose(as_numpy(r.json()["grads"][1]), gy.numpy(), rtol=1e-6)
    assert "session" not in r.json()


def test_grad_outputs_for_a_vector(api):
    r = api.post("/grad", json={"graph": {"nodes": NODES}, "outputs": ["q"], "inputs": "x",
                                "grad_outputs": [[1.0, 0.0, 2.0]]})
    t = torch_build(NODES)
    (gx,) = torch.autograd.grad(t["q"], t["x"], torch.tensor([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(as_numpy(r.json()["grads"][0]), gx.numpy(), rtol=1e-6)


def test_unused_input(api):
    t = torch_build(NODES)
    with pytest.raises(RuntimeError) as e:
        torch.autograd.grad(t["s"], [t["x"], t["u"]])
    r = api.post("/grad", json={"graph": {"nodes": NODES}, "outputs": "s",
                                "inputs": ["x", "u"]})
    check_problem(r, 422, str(e.value))
    r = api.post("/grad", json={"graph": {"nodes": NODES}, "outputs": "s",
                                "inputs": ["x", "u"], "allow_unused": True})
    assert r.status_code == 200 and r.json()["grads"][1] is None


def test_second_order_with_as(api):
    nodes = [{"id": "x", "op": "tensor", "data": [0.3, -1.2], "requires_grad": True},
             {"id": "y", "op": "tanh", "args": ["x"]},
             {"id": "s", "op": "sum", "args": ["y"]}]
    r = api.post("/grad", json={"graph": {"nodes": nodes}, "outputs": "s", "inputs": "x",
                                "create_graph": True, "as": ["dx"]})
    assert r.status_code == 200, r.text
    sid = r.json()["session"]["id"]
    more = {"nodes": [{"id": "ds", "op": "sum", "args": ["dx"]}]}
    r2 = api.post("/grad", json={"session": sid, "graph": more, "outputs": "ds",
                                 "inputs": "x", "return_graph": True})
    assert r2.status_code == 200, r2.text
    x = torch.tensor([0.3, -1.2], requires_grad=True)
    (dx,) = torch.autograd.grad(torch.tanh(x).sum(), x, create_graph=True)
    (ddx,) = torch.autograd.grad(dx.sum(), x)
    np.testing.assert_allclose(as_numpy(r2.json()["grads"][0]), ddx.numpy(), rtol=1e-5)
    graph = {n["id"]: n for n in r2.json()["graph"]["nodes"]}
    assert graph["dx"]["requires_grad"] and not graph["dx"]["is_leaf"]


def test_grad_through_freed_graph(api):
    nodes = [{"id": "x", "op": "tensor", "data": [1.0, 2.0], "requires_grad": True},
             {"id": "y", "op": "mul", "args": ["x", "x"]},
             {"id": "s", "op": "sum", "args": ["y"]}]
    r = api.post("/sessions", json={"graph": {"nodes": nodes}})
    sid = r.json()["session"]["id"]
    assert api.post("/grad", json={"session": sid, "outputs": "s", "inputs": "x"}
                    ).status_code == 200
    t = torch_build(nodes)
    torch.autograd.grad(t["s"], t["x"])
    with pytest.raises(RuntimeError) as e:
        torch.autograd.grad(t["s"], t["x"])
    check_problem(api.post("/grad", json={"session": sid, "outputs": "s", "inputs": "x"}),
                  409, str(e.value))
