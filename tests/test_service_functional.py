"""POST /functional/* vs torch.autograd.functional computed in the test (in-process ASGI
calls through Starlette's TestClient; no mocks)."""

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from service.http.app import create_app
from service.settings import Settings

X = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]
W = [0.3, -0.2, 0.9]


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(Settings(_env_file=None)))


GRAPH = {"nodes": [
    {"id": "x", "op": "tensor", "data": X, "dtype": "float64", "requires_grad": True},
    {"id": "w", "op": "tensor", "data": W, "dtype": "float64", "requires_grad": True},
    {"id": "h", "op": "mul", "args": ["x", "w"]},
    {"id": "y", "op": "tanh", "args": ["h"]},
    {"id": "z", "op": "sum", "args": ["h"], "kwargs": {"dim": 0}},
    {"id": "q", "op": "mul", "args": ["y", "y"]},
    {"id": "s", "op": "sum", "args": ["q"]},
]}


def fn(x, w):
    y = (x * w).tanh()
    return y, (x * w).sum(dim=0)


def scalar(x, w):
    y = (x * w).tanh()
    return (y * y).sum()


def inputs():
    return (torch.tensor(X, dtype=torch.float64), torch.tensor(W, dtype=torch.float64))


def post(client, kind, **body):
    r = client.post(f"/functional/{kind}", json={"graph": GRAPH, "inputs": ["x", "w"], **body})
    assert r.status_code == 200, r.text
    return r.json()


def close(got, want):
    assert got["shape"] == list(want.shape)
    np.testing.assert_allclose(np.array(got["data"], dtype=np.float64),
                               want.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_jacobian_one_tensor_per_pair(client, strategy):
    body = post(client, "jacobian", outputs=["y", "z"], strategy=strategy,
                vectorize=strategy == "forward-mode")
    want = torch.autograd.functional.jacobian(fn, inputs(), strategy=strategy,
                                              vectorize=strategy == "forward-mode")
    assert len(body["jacobian"]) == 2 and all(len(row) == 2 for row in body["jacobian"])
    for got_row, want_row in zip(body["jacobian"], want):
        for got, w in zip(got_row, want_row):
            close(got, w)


def test_hessian_hvp_vhp(client):
    body = post(client, "hessian", outputs="s")
    want = torch.autograd.functional.hessian(scalar, inputs())
    for got_row, want_row in zip(body["hessian"], want):
        for got, w in zip(got_row, want_row):
            close(got, w)
    v = ([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]], [0.1, 0.2, 0.3])
    tv = tuple(torch.tensor(a, dtype=torch.float64) for a in v)
    for kind in ("hvp", "vhp"):
        body = post(client, kind, outputs="s", v=list(v))
        value, res = getattr(torch.autograd.functional, kind)(scalar, inputs(), tv)
        close(body["func_output"][0], value)
        for got, w in zip(body[kind], res):
            close(got, w)


def test_vjp_jvp(client):
    vo = ([[1.0, -1.0, 0.5], [0.0, 2.0, 1.0]], [1.0, 1.0, -2.0])
    body = post(client, "vjp", outputs=["y", "z"], v=list(vo))
    value, res = torch.autograd.functional.vjp(
        fn, inputs(), tuple(torch.tensor(a, dtype=torch.float64) for a in vo))
    for got, w in zip(body["func_output"], value):
        close(got, w)
    for got, w in zip(body["vjp"], res):
        close(got, w)
    vi = ([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [0.0, 1.0, 0.0])
    body = post(client, "jvp", outputs=["y", "z"], v=list(vi))
    value, res = torch.autograd.functional.jvp(
        fn, inputs(), tuple(torch.tensor(a, dtype=torch.float64) for a in vi))
    for got, w in zip(body["jvp"], res):
        close(got, w)


def test_errors_carry_torch_texts(client):
    # strict: an output that does not require grad
    detached = {"nodes": [*GRAPH["nodes"], {"id": "d", "op": "detach", "args": ["s"]}]}
    r = client.post("/functional/vjp", json={"graph": detached, "inputs": ["x", "w"],
                                             "outputs": "d", "strict": True})
    assert r.status_code == 422

    def f(x, w):
        return scalar(x, w).detach()
    with pytest.raises(RuntimeError) as theirs:
        torch.autograd.functional.vjp(f, inputs(), strict=True)
    assert r.json()["detail"] == str(theirs.value)
    # v of the wrong size (inputs always go as a tuple: torch's tuple wording)
    r = client.post("/functional/jvp", json={"graph": GRAPH, "inputs": "w", "outputs": "z",
                                             "v": [1.0, 2.0]})
    with pytest.raises(RuntimeError) as theirs:
        torch.autograd.functional.jvp(lambda w: w * 2, (torch.ones(3),), (torch.ones(2),))
    assert r.status_code == 422 and r.json()["detail"] == str(theirs.value)
    r = client.post("/functional/hessian", json={"graph": GRAPH, "inputs": "x",
                                                 "outputs": ["y", "s"]})
    assert r.status_code == 422


def test_forward_mode_is_torch_forward_ad(client):
    """jacobian(strategy="forward-mode") needs vectorize=True as torch's; with it, the
    forward-AD Jacobian (cumsum's JVP rule, say) and the forward-over-reverse Hessian
    equal torch's."""
    g = {"nodes": [{"id": "x", "op": "tensor", "data": [1.0, 2.0, 0.5], "dtype": "float64",
                    "requires_grad": True},
                   {"id": "c", "op": "cumsum", "args": ["x", 0]},
                   {"id": "e", "op": "exp", "args": ["c"]},
                   {"id": "s", "op": "prod", "args": ["e"]}]}
    r = client.post("/functional/jacobian", json={"graph": g, "inputs": "x", "outputs": "e",
                                                  "strategy": "forward-mode"})
    with pytest.raises(NotImplementedError) as theirs:
        torch.autograd.functional.jacobian(torch.exp, torch.ones(2), strategy="forward-mode")
    assert r.status_code == 422 and r.json()["detail"] == str(theirs.value)
    x = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    r = client.post("/functional/jacobian", json={"graph": g, "inputs": "x", "outputs": "e",
                                                  "strategy": "forward-mode",
                                                  "vectorize": True})
    want = torch.autograd.functional.jacobian(lambda t: t.cumsum(0).exp(), x,
                                              strategy="forward-mode", vectorize=True)
    close(r.json()["jacobian"][0][0], want)
    r = client.post("/functional/hessian", json={"graph": g, "inputs": "x", "outputs": "s",
                                                 "strategy": "forward-mode",
                                                 "vectorize": True})
    want = torch.autograd.functional.hessian(lambda t: t.cumsum(0).exp().prod(), x,
                                             outer_jacobian_strategy="forward-mode",
                                             vectorize=True)
    np.testing.assert_allclose(np.array(r.json()["hessian"][0][0]["data"]),
                               want.detach().numpy(), rtol=1e-10)


def test_over_a_session_at_its_current_values(client):
    made = client.post("/sessions", json={"graph": GRAPH})
    sid = made.json()["session"]["id"]
    new_w = [1.0, -2.0, 0.5]
    assert client.put(f"/sessions/{sid}/tensors/w", json=new_w).status_code == 200
    r = client.post("/functional/jacobian", json={"session": sid, "inputs": ["x", "w"],
                                                  "outputs": ["y", "z"]})
    assert r.status_code == 200, r.text
    want = torch.autograd.functional.jacobian(
        fn, (torch.tensor(X, dtype=torch.float64), torch.tensor(new_w, dtype=torch.float64)))
    for got_row, want_row in zip(r.json()["jacobian"], want):
        for got, w in zip(got_row, want_row):
            close(got, w)
    r = client.post("/gradcheck", json={"session": sid, "inputs": ["x", "w"], "outputs": "s"})
    assert r.status_code == 200 and r.json()["ok"] is True
    # a PUT on a tensor that is not an input cannot be replayed: refused, not ignored
    r = client.post("/functional/vjp", json={"session": sid, "inputs": ["x"], "outputs": "s"})
    assert r.status_code == 422 and "PUT" in r.json()["detail"]
    assert client.post("/functional/vjp", json={"session": "s_nope", "inputs": "x",
                                                "outputs": "s"}).status_code == 404
