"""POST /gradcheck and /gradgradcheck vs torch.autograd.gradcheck computed in the test.

In-process (Starlette's TestClient: a real ASGI call, no mocks) because one test registers
a deliberately wrong derivative as a test-only op row, which must live in the server's
process; the row is removed again afterwards."""

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from support.made_up_derivatives import TorchWrongJvpCube, temporary_op, wrong_square

from service.http.app import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(Settings(_env_file=None)))


@pytest.fixture
def wrong_square_op():
    """wrong_square(x) = x*x whose VJP claims 3*x*grad."""
    with temporary_op("wrong_square(Tensor input) -> Tensor", "WrongSquareBackward0",
                      forward=lambda x: x * x, shape=lambda x: x,
                      vjp={"input": lambda grad, input: grad * input * 3}) as row:
        yield row.name


def graph(x, *rest):
    return {"nodes": [{"id": "x", "op": "tensor", "data": x, "dtype": "float64",
                       "requires_grad": True}, *rest]}


def torch_jacobian(fn, x):
    """(input numel, output numel), as gradcheck lays it out."""
    j = torch.autograd.functional.jacobian(fn, x)
    return j.reshape(-1, x.numel()).T.numpy()


def test_gradcheck_fails_on_wrong_derivative(client, wrong_square_op):
    xs = [1.0, -2.0, 0.5]
    r = client.post("/gradcheck", json={
        "graph": graph(xs, {"id": "y", "op": wrong_square_op, "args": ["x"]}),
        "inputs": "x", "outputs": "y"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is False
    f = body["failure"]
    assert (f["output"], f["input"], f["input_id"]) == (0, 0, "x")
    tx = torch.tensor(xs, dtype=torch.float64)
    np.testing.assert_allclose(f["numerical"]["data"], torch_jacobian(lambda t: t * t, tx),
                               atol=1e-6)
    np.testing.assert_allclose(f["analytical"]["data"], torch.diag(3 * tx).numpy())
    diff = np.abs(np.array(f["analytical"]["data"]) - np.array(f["numerical"]["data"]))
    assert f["worst"]["abs_diff"] == pytest.approx(diff.max(), abs=1e-6)
    assert tuple(f["worst"]["index"]) == (1, 1)  # |x| largest at element 1
    assert body["message"].startswith("Jacobian mismatch for output 0 with respect to input 0,")
    Wrong = wrong_square(torch.autograd.Function)  # the same wrong derivative, in torch
    assert torch.autograd.gradcheck(Wrong.apply, (tx.requires_grad_(),),
                                    raise_exception=False) is False


@pytest.mark.parametrize("second", [False, True])
def test_checks_pass_on_right_graph_like_torch(client, second):
    xs = [[0.3, -1.2], [2.0, 0.7]]
    nodes = graph(xs, {"id": "w", "op": "tensor", "data": [[1.5, -0.5], [0.25, 2.0]],
                       "dtype": "float64", "requires_grad": True},
                  {"id": "h", "op": "matmul", "args": ["x", "w"]},
                  {"id": "y", "op": "tanh", "args": ["h"]},
                  {"id": "s", "op": "sum", "args": ["y"]})
    r = client.post("/gradgradcheck" if second else "/gradcheck",
                    json={"graph": nodes, "inputs": ["x", "w"], "outputs": ["y", "s"]})
    assert r.status_code == 200, r.text
    tx = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor([[1.5, -0.5], [0.25, 2.0]], dtype=torch.float64, requires_grad=True)

    def fn(a, b):
        y = (a @ b).tanh()
        return y, y.sum()
    check = torch.autograd.gradgradcheck if second else torch.autograd.gradcheck
    assert r.json()["ok"] is check(fn, (tx, tw))
    assert r.json()["failure"] is None


def test_gradcheck_tolerances_and_errors(client):
    nodes = graph([1.0, 2.0], {"id": "y", "op": "exp", "args": ["x"]})
    # an eps so large that central differences miss by far more than atol/rtol
    r = client.post("/gradcheck", json={"graph": nodes, "inputs": "x", "outputs": "y",
                                        "eps": 0.5})
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    assert r.json()["ok"] is torch.autograd.gradcheck(torch.exp, (tx,), eps=0.5,
                                                      raise_exception=False) is False
    r = client.post("/gradcheck", json={"graph": nodes, "inputs": "x", "outputs": "y",
                                        "eps": 0.5, "atol": 1.0, "rtol": 0.2})
    assert r.json()["ok"] is torch.autograd.gradcheck(torch.exp, (tx,), eps=0.5, atol=1.0,
                                                      rtol=0.2) is True
    r = client.post("/gradcheck", json={"graph": nodes, "inputs": "nope", "outputs": "y"})
    assert r.status_code == 422 and "nope" in r.json()["detail"]
    r = client.post("/gradcheck", json={"graph": nodes, "inputs": "x", "outputs": "y",
                                        "eps": 0})
    assert r.status_code == 422
    big = graph([0.0] * 5000, {"id": "y", "op": "exp", "args": ["x"]})
    r = client.post("/gradcheck", json={"graph": big, "inputs": "x", "outputs": "y"})
    assert r.status_code == 413 and r.json()["limit"] == "check_evaluations"


def test_check_forward_ad_over_http(client):
    """check_forward_ad: a row whose VJP is right and whose JVP is wrong passes the
    backward check and fails the forward one with torch's text and mode "forward"."""
    import sys

    with temporary_op("wrong_jvp(Tensor input) -> Tensor", "WrongJvpBackward0",
                      forward=lambda x: x ** 3, shape=lambda x: x,
                      vjp={"input": lambda grad, input: grad * 3 * input ** 2},
                      jvp=lambda input_t, input: input_t * 2 * input ** 2) as row:
        body = {"graph": graph([0.5, -1.0, 2.0], {"id": "y", "op": row.name, "args": ["x"]}),
                "inputs": "x", "outputs": "y"}
        assert client.post("/gradcheck", json=body).json()["ok"] is True
        r = client.post("/gradcheck", json={**body, "check_forward_ad": True}).json()
    tx = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(sys.modules["torch.autograd.gradcheck"].GradcheckError) as e:
        # the same wrong JVP in torch
        torch.autograd.gradcheck(TorchWrongJvpCube.apply, (tx,), check_forward_ad=True)
    assert r["ok"] is False and r["failure"]["mode"] == "forward"
    assert r["message"] == str(e.value)
