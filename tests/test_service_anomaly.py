"""detect_anomaly over HTTP vs torch.autograd.detect_anomaly computed in the test: the same
NaN found at the same node, with the node's ids as problem members."""

import warnings

import pytest
import torch
from fastapi.testclient import TestClient

from service.http.app import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(Settings(_env_file=None)))


def torch_anomaly(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly(), pytest.raises(RuntimeError) as e:
            fn()
    return str(e.value)


# a NaN deep in the graph, in backward only (the forward is finite): sqrt at 0 sends inf
# down, and the first op, x * 0, turns inf * 0 into NaN, six nodes below the root
DEEP = {"nodes": [
    {"id": "x", "op": "tensor", "data": [0.5, 1.0, 2.0], "requires_grad": True},
    {"id": "a", "op": "mul", "args": ["x", 0.0]},
    {"id": "b", "op": "sqrt", "args": ["a"]},
    {"id": "c", "op": "mul", "args": ["b", 2.0]},
    {"id": "d", "op": "add", "args": ["c", 1.0]},
    {"id": "e", "op": "exp", "args": ["d"]},
    {"id": "s", "op": "sum", "args": ["e"]},
]}


def torch_deep():
    x = torch.tensor([0.5, 1.0, 2.0], requires_grad=True)
    return x, ((x * 0.0).sqrt() * 2.0 + 1.0).exp().sum()


@pytest.mark.parametrize("route", ["/backward", "/grad"])
def test_nan_found_at_the_right_node(client, route):
    body = {"graph": DEEP, "detect_anomaly": True}
    body.update({"tensors": "s"} if route == "/backward" else {"outputs": "s", "inputs": "x"})
    r = client.post(route, json=body)
    x, s = torch_deep()
    text = torch_anomaly(lambda: s.backward())
    assert r.status_code == 422
    p = r.json()
    assert p["detail"] == text
    assert p["grad_fn"] in text and p["grad_fn"] == "MulBackward0"
    assert (p["node"], p["op"], p["forward_node"], p["output"], p["input"]) == (
        "a", "mul", "a", 0, "x")


def test_without_anomaly_nan_flows_as_torch(client):
    r = client.post("/grad", json={"graph": DEEP, "outputs": "s", "inputs": "x"})
    x, s = torch_deep()
    (g,) = torch.autograd.grad(s, x)
    assert r.status_code == 200
    got = r.json()["grads"][0]["data"]
    assert [v == "NaN" for v in got] == torch.isnan(g).tolist()


def test_sqrt_text_and_server_ids(client):
    g = {"nodes": [
        {"id": "x", "op": "tensor", "data": [-1.0, 4.0], "requires_grad": True},
        {"id": "y", "op": "sqrt", "args": ["x"]},
        {"id": "z", "op": "sum", "args": ["y"]},
    ]}
    r = client.post("/backward", json={"graph": g, "tensors": "z", "detect_anomaly": True})
    x = torch.tensor([-1.0, 4.0], requires_grad=True)
    text = torch_anomaly(lambda: x.sqrt().sum().backward())
    assert text == "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert r.json()["detail"] == text
    assert r.json()["node"] == "y" and r.json()["input"] == "x"


def test_backward_twice_carries_node_members(client):
    g = {"nodes": [
        {"id": "x", "op": "tensor", "data": [1.0, 2.0], "requires_grad": True},
        {"id": "y", "op": "pow", "args": ["x", 2]},
        {"id": "z", "op": "sum", "args": ["y"]},
    ]}
    r = client.post("/backward", json={"graph": g, "tensors": "z", "retain_graph": False,
                                       "create_graph": False})
    assert r.status_code == 200
    made = client.post("/sessions", json={"graph": g})
    assert made.status_code in (200, 201), made.text
    sid = made.json()["session"]["id"]
    assert client.post("/backward", json={"session": sid, "tensors": "z"}).status_code == 200
    r = client.post("/backward", json={"session": sid, "tensors": "z"})
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    z = x.pow(2).sum()
    z.backward()
    with pytest.raises(RuntimeError) as e:
        z.backward()
    assert r.status_code == 409 and r.json()["detail"] == str(e.value)
    # the node whose saved tensors were freed: PowBackward0 of y (SumBackward0 saves none)
    assert r.json()["grad_fn"] == z.grad_fn.next_functions[0][0].name()
    assert r.json()["node"] == "y" and r.json()["op"] == "pow"
