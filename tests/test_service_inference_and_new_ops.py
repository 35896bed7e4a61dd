"""Over HTTP: inference mode as a grad mode of nodes ("grad_mode": "inference", and
``with torch.inference_mode():`` in source), and rows added for torch's autograd tests
(view_as, var_mean, masked_fill, eye, median) through ``source``; torch runs the same code
here as the oracle."""

import numpy as np
import pytest
import torch
from support.service_server import as_numpy, check_problem

from service.run.source import compile_source

pytest_plugins = ["support.service_server"]

NEW_OPS = """
x = torch.tensor([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]], requires_grad=True)
v, m = torch.var_mean(x, dim=1)
y = x.view_as(torch.ones(3, 2)).masked_fill(torch.eye(3, 2) > 0, 0.5)
med = torch.median(x)
out = (v * m).sum() + (y * y).sum() + med
"""


def test_new_ops_through_source_match_torch(api):
    env = {"torch": torch}
    exec(NEW_OPS, env)  # the same program, with torch
    env["out"].backward()
    r = api.post("/backward", json={"source": NEW_OPS, "tensors": "out",
                                    "return_graph": True})
    assert r.status_code == 200, r.text
    body = r.json()
    np.testing.assert_allclose(as_numpy(body["grads"]["x"]), env["x"].grad.numpy(), rtol=1e-5)
    nodes = {n["id"]: n for n in body["graph"]["nodes"]}
    for name in ("v", "m", "y", "med"):
        assert nodes[name]["grad_fn"] == type(env[name].grad_fn).__name__


INFERENCE = """
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
with torch.inference_mode():
    c = x * 2
    d = torch.ones(3)
    with torch.no_grad():
        e = x + 1
    with torch.inference_mode(False):
        f = x * 3
out = (f * f).sum() + (x + d).sum()  # add saves nothing: an inference d is fine
"""


def test_inference_mode_in_source_compiles_to_a_grad_mode():
    modes = {n["id"]: n.get("grad_mode", True) for n in compile_source(INFERENCE)}
    assert modes["c"] == modes["d"] == modes["e"] == "inference"
    assert modes["f"] is True and modes["out"] is True


def test_inference_mode_over_http_matches_torch(api):
    env = {"torch": torch}
    exec(INFERENCE, env)
    env["out"].backward()
    r = api.post("/backward", json={"source": INFERENCE, "tensors": "out",
                                    "return_graph": True})
    assert r.status_code == 200, r.text
    body = r.json()
    np.testing.assert_allclose(as_numpy(body["grads"]["x"]), env["x"].grad.numpy())
    nodes = {n["id"]: n for n in body["graph"]["nodes"]}
    for name in ("c", "d", "e", "f"):
        t = env[name]
        assert nodes[name]["requires_grad"] == t.requires_grad, name
        assert nodes[name]["grad_fn"] == (None if t.grad_fn is None else
                                          type(t.grad_fn).__name__), name


@pytest.mark.parametrize("code", [
    "x = torch.ones(3, requires_grad=True)\nwith torch.inference_mode():\n"
    "    c = torch.ones(3)\nout = (x * c).sum()",
    "x = torch.ones(3)\nwith torch.inference_mode():\n    c = torch.ones(3)\nc.add_(1)\n"
    "out = x.sum()",
])
def test_inference_tensor_misuse_is_torchs_error(api, code):
    env = {"torch": torch}
    with pytest.raises(RuntimeError) as theirs:
        exec(code, env)
    r = api.post("/backward", json={"source": code, "tensors": "out"})
    body = check_problem(r, r.status_code)
    assert 400 <= r.status_code < 500
    assert body["detail"].endswith(str(theirs.value)), body["detail"]


def test_grad_mode_inference_on_a_node(api):
    nodes = [{"id": "x", "op": "tensor", "data": [1.0, 2.0], "requires_grad": True},
             {"id": "c", "op": "mul", "args": ["x", 2], "grad_mode": "inference"},
             {"id": "out", "op": "sum", "args": ["x"]}]
    r = api.post("/backward", json={"graph": {"nodes": nodes}, "tensors": "out",
                                    "return_graph": True})
    assert r.status_code == 200, r.text
    c = {n["id"]: n for n in r.json()["graph"]["nodes"]}["c"]
    assert c["requires_grad"] is False and c["grad_fn"] is None
    bad = [{"id": "x", "op": "tensor", "data": [1.0], "grad_mode": "inferance"}]
    assert api.post("/backward", json={"graph": {"nodes": bad}, "tensors": "x"}).status_code \
        == 422
