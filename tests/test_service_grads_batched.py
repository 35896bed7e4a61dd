"""is_grads_batched on /grad vs torch.autograd.grad(..., is_grads_batched=True) computed in
the test: Jacobian rows and per-sample gradients in one request."""

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from service.http.app import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(Settings(_env_file=None)))


GRAPH = {"nodes": [
    {"id": "x", "op": "tensor", "data": [0.5, -1.0, 2.0], "requires_grad": True},
    {"id": "w", "op": "tensor", "data": [[1.0, 2.0, 3.0], [0.5, -0.5, 1.5]],
     "requires_grad": True},
    {"id": "y", "op": "matmul", "args": ["w", "x"]},
    {"id": "z", "op": "tanh", "args": ["y"]},
]}


def torch_graph():
    x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    w = torch.tensor([[1.0, 2.0, 3.0], [0.5, -0.5, 1.5]], requires_grad=True)
    return x, w, (w @ x).tanh()


@pytest.mark.parametrize("rows", [[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0]],
                                  [[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]]])
def test_jacobian_rows_in_one_request(client, rows):
    r = client.post("/grad", json={"graph": GRAPH, "outputs": "z", "inputs": ["x", "w"],
                                   "grad_outputs": rows, "is_grads_batched": True})
    assert r.status_code == 200, r.text
    x, w, z = torch_graph()
    gx, gw = torch.autograd.grad(z, (x, w), torch.tensor(rows), is_grads_batched=True)
    got = r.json()["grads"]
    assert got[0]["shape"] == list(gx.shape) and got[1]["shape"] == list(gw.shape)
    np.testing.assert_allclose(got[0]["data"], gx.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got[1]["data"], gw.numpy(), rtol=1e-4, atol=1e-6)


def test_batched_errors_as_torch(client):
    r = client.post("/grad", json={"graph": GRAPH, "outputs": "z", "inputs": "x",
                                   "grad_outputs": [[1.0, 0.0, 0.0]], "is_grads_batched": True})
    x, w, z = torch_graph()
    with pytest.raises(RuntimeError) as e:
        torch.autograd.grad(z, x, torch.tensor([[1.0, 0.0, 0.0]]), is_grads_batched=True)
    assert r.status_code == 422 and r.json()["detail"] == str(e.value)
    r = client.post("/grad", json={"graph": GRAPH, "outputs": "z", "inputs": "x",
                                   "is_grads_batched": True})
    assert r.status_code == 422
