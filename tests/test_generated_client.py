"""A client generated from our openapi.json by openapi-python-client (offline) calls
/backward and /grad against the live server: the spec stays good enough for generators."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys

import pytest
import torch
from support.service_server import ROOT, server_url  # noqa: F401 - the live-server fixture

GENERATOR = shutil.which("openapi-python-client")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The generated package, imported from a temp dir."""
    if GENERATOR is None:
        if os.environ.get("CI"):
            pytest.fail("openapi-python-client is not installed (the test extra has it)")
        pytest.skip("openapi-python-client is not installed")
    out = tmp_path_factory.mktemp("generated") / "autograd_api"
    run = subprocess.run([GENERATOR, "generate", "--path", os.path.join(ROOT, "openapi.json"),
                          "--output-path", str(out), "--meta", "none"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(out.parent))
    try:
        yield importlib.import_module("autograd_api")
    finally:
        sys.path.remove(str(out.parent))
        for name in [m for m in sys.modules if m.split(".")[0] == "autograd_api"]:
            del sys.modules[name]


def _graph(models):
    nodes = [{"id": "x", "op": "tensor", "data": [1.0, 2.0, 3.0], "requires_grad": True},
             {"id": "y", "op": "tensor", "data": [3.0, 4.0, 5.0], "requires_grad": True},
             {"id": "xy", "op": "add", "args": ["x", "y"]},
             {"id": "out", "op": "mul", "args": ["xy", "x"]}]
    return models.Graph.from_dict({"nodes": nodes})


def _torch():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = torch.tensor([3.0, 4.0, 5.0], requires_grad=True)
    xy = x + y
    xy.retain_grad()
    return x, y, xy, xy * x


def test_backward_through_generated_client(generated, server_url):  # noqa: F811
    import autograd_api.models as models
    from autograd_api.api.compute import backward_backward_post
    from autograd_api.client import Client
    from autograd_api.models import BackwardRequest, BackwardResponse
    with Client(base_url=server_url) as client:
        body = BackwardRequest(graph=_graph(models), tensors=["out"],
                               grad_tensors=[[1.0, 1.0, 1.0]], retain_grad=["xy"],
                               return_graph=True)
        answer = backward_backward_post.sync(client=client, body=body)
    assert isinstance(answer, BackwardResponse), answer
    x, y, xy, out = _torch()
    out.backward(torch.ones(3))
    grads = answer.grads.to_dict()
    assert grads["x"]["data"] == x.grad.tolist() and grads["y"]["data"] == y.grad.tolist()
    assert answer.retained.to_dict()["xy"]["data"] == xy.grad.tolist()
    nodes = {n.id: n for n in answer.graph.nodes}
    assert nodes["out"].grad_fn == type(out.grad_fn).__name__


def test_grad_and_problem_through_generated_client(generated, server_url):  # noqa: F811
    import autograd_api.models as models
    from autograd_api.api.compute import grad_grad_post
    from autograd_api.client import Client
    from autograd_api.models import GradRequest, GradResponse, Problem
    with Client(base_url=server_url) as client:
        body = GradRequest(graph=_graph(models), outputs=["out"], inputs=["x", "y"],
                           grad_outputs=[[1.0, 1.0, 1.0]])
        answer = grad_grad_post.sync(client=client, body=body)
        assert isinstance(answer, GradResponse), answer
        x, y, _, out = _torch()
        gx, gy = torch.autograd.grad(out, [x, y], torch.ones(3))
        assert [g.to_dict()["data"] for g in answer.grads] == [gx.tolist(), gy.tolist()]
        bad = GradRequest(graph=_graph(models), outputs=["out"], inputs=["x"])
        problem = grad_grad_post.sync(client=client, body=bad)
    assert isinstance(problem, Problem), problem
    assert problem.status == 422
    assert problem.detail.endswith("grad can be implicitly created only for scalar outputs")


def test_put_tensor_through_generated_client(generated, server_url):  # noqa: F811
    """PUT /sessions/{sid}/tensors/{name} (JSON or binary on the wire, one JSON content
    type in the spec) through the generated module; the retained graph then refuses the
    modified leaf exactly as torch does, and a fresh graph sees the new value."""
    import autograd_api.models as models
    from autograd_api.api.compute import backward_backward_post
    from autograd_api.api.sessions import put_tensor_sessions_sid_tensors_name_put as put
    from autograd_api.client import Client
    from autograd_api.models import BackwardRequest, BackwardResponse, Problem, PutResponse
    with Client(base_url=server_url) as client:
        first = backward_backward_post.sync(client=client, body=BackwardRequest(
            graph=_graph(models), tensors=["out"], grad_tensors=[[1.0, 1.0, 1.0]],
            retain_graph=True))
        assert isinstance(first, BackwardResponse), first
        sid = first.session.id
        answer = put.sync(sid, "x", client=client, body=[10.0, 20.0, 30.0])
        assert isinstance(answer, PutResponse), answer
        assert answer.tensor.to_dict()["data"] == [10.0, 20.0, 30.0]
        again = backward_backward_post.sync(client=client, body=BackwardRequest(
            session=sid, tensors=["out"], grad_tensors=[[1.0, 1.0, 1.0]]))
        fresh = backward_backward_post.sync(client=client, body=BackwardRequest(
            session=sid, graph=models.Graph.from_dict({"nodes": [
                {"id": "out2", "op": "mul", "args": ["x", "y"]}]}),
            tensors=["out2"], grad_tensors=[[1.0, 1.0, 1.0]]))
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = torch.tensor([3.0, 4.0, 5.0], requires_grad=True)
    out = (x + y) * x
    out.backward(torch.ones(3), retain_graph=True)
    with torch.no_grad():
        x.copy_(torch.tensor([10.0, 20.0, 30.0]))
    with pytest.raises(RuntimeError) as refused:
        out.backward(torch.ones(3))
    assert isinstance(again, Problem) and again.status == 409, again
    assert again.detail.split(";")[0] == str(refused.value).split(";")[0]
    assert isinstance(fresh, BackwardResponse), fresh
    (x * y).backward(torch.ones(3))  # .grad accumulates over the calls, as in the session
    assert fresh.grads.to_dict()["x"]["data"] == x.grad.tolist()
    assert fresh.grads.to_dict()["y"]["data"] == y.grad.tolist()
