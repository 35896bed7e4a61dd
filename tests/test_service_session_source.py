"""`source` in a session reads and binds the session's names, as lines typed into the same
Python session would (api.md): the README's second derivative after `/grad` with
`create_graph`, `x.grad` after a backward, and names bound by one call used by the next.
torch, run here on the same program, is the oracle."""

from __future__ import annotations

import os
import shutil

import httpx
import numpy as np
import pytest
import torch
from support.service_server import (  # noqa: F401 - live server
    api,
    check_problem,
    redis_server,
    running_server,
    server_url,
)


def _grads(answer: dict) -> list:
    return [np.asarray(g["data"], dtype=np.float64) for g in answer["grads"]]


def test_second_derivative_reads_the_bound_gradient(api):  # noqa: F811
    first = api.post("/grad", json={
        "source": "x = torch.tensor([0.5, 1.5], requires_grad=True)\ny = (x ** 3).sum()",
        "outputs": "y", "inputs": "x", "create_graph": True, "as": ["dx"]})
    assert first.status_code == 200, first.text
    sid = first.json()["session"]["id"]
    second = api.post("/grad", json={"session": sid, "source": "g = dx.sum()",
                                      "outputs": "g", "inputs": "x"})
    assert second.status_code == 200, second.text
    x = torch.tensor([0.5, 1.5], requires_grad=True)
    dx, = torch.autograd.grad((x ** 3).sum(), x, create_graph=True)
    ddx, = torch.autograd.grad(dx.sum(), x)
    np.testing.assert_allclose(_grads(first.json())[0], dx.detach().numpy())
    np.testing.assert_allclose(_grads(second.json())[0], ddx.numpy())


def test_names_bound_by_one_call_are_read_by_the_next(api):  # noqa: F811
    r = api.post("/backward", json={
        "source": "w = torch.tensor([1.0, -2.0], requires_grad=True)\nv = (w * w).sum()",
        "tensors": "v", "retain_graph": True})
    sid = r.json()["session"]["id"]
    # x.grad after a backward, a new name from it, and an op on an earlier name
    r = api.post("/backward", json={
        "session": sid, "source": "h = w.grad * 3\nk = (h * w).sum() + v", "tensors": "k",
        "return_graph": True})
    assert r.status_code == 200, r.text
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    v = (w * w).sum()
    v.backward(retain_graph=True)
    h = w.grad * 3
    k = (h * w).sum() + v
    k.backward()
    np.testing.assert_allclose(r.json()["grads"]["w"]["data"], w.grad.numpy())
    names = {n["id"]: n for n in r.json()["graph"]["nodes"]}
    assert names["k"]["grad_fn"] == type(k.grad_fn).__name__
    assert names["h"]["requires_grad"] is h.requires_grad


def test_compiler_temporaries_do_not_rebind_the_sessions(api):  # noqa: F811
    """Each source numbers its unnamed values (_1, _2 ...) after the session's, so a later
    call never rebinds an earlier call's intermediate."""
    r = api.post("/backward", json={"source": "a = torch.tensor(2.0, requires_grad=True)\n"
                                              "b = (a * 3).exp()", "tensors": "b",
                                    "retain_graph": True, "return_graph": True})
    sid = r.json()["session"]["id"]
    temps = {n["id"] for n in r.json()["graph"]["nodes"] if n["id"].startswith("_")}
    r = api.post("/backward", json={"session": sid, "source": "c = (a * 5).sin()",
                                    "tensors": "c", "return_graph": True})
    assert r.status_code == 200, r.text
    new = {n["id"] for n in r.json()["graph"]["nodes"] if n["id"].startswith("_")}
    assert temps and temps < new
    a = torch.tensor(2.0, requires_grad=True)
    (a * 3).exp().backward()
    (a * 5).sin().backward()
    np.testing.assert_allclose(r.json()["grads"]["a"]["data"], a.grad.item(), rtol=1e-5)


def test_an_unknown_name_is_still_a_422(api):  # noqa: F811
    r = api.post("/backward", json={"source": "a = torch.tensor(2.0, requires_grad=True)",
                                    "tensors": "a", "retain_graph": True})
    sid = r.json()["session"]["id"]
    r = api.post("/backward", json={"session": sid, "source": "b = nope * 2", "tensors": "b"})
    check_problem(r, 422, "source: line 1, col 5: name 'nope' is not defined (or not allowed)")


def test_functional_and_gradcheck_sources_read_the_session(api):  # noqa: F811
    """/functional/* and /gradcheck in a session: their source sees the session's names."""
    r = api.post("/backward", json={
        "source": "x = torch.tensor([0.5, 1.5], requires_grad=True)\ny = x ** 3",
        "tensors": "y", "grad_tensors": [[1, 1]], "retain_graph": True})
    sid = r.json()["session"]["id"]
    jac = api.post("/functional/jacobian", json={"session": sid, "source": "h = y * x",
                                                 "inputs": "x", "outputs": "h"})
    assert jac.status_code == 200, jac.text
    want = torch.autograd.functional.jacobian(lambda x: (x ** 3) * x,
                                              torch.tensor([0.5, 1.5]))
    np.testing.assert_allclose(jac.json()["jacobian"][0][0]["data"], want.numpy())
    check = api.post("/gradcheck", json={"session": sid, "source": "h = (y * x).sum()",
                                         "inputs": "x", "outputs": "h"})
    assert check.status_code == 200 and check.json()["ok"] is True, check.text


@pytest.mark.skipif(shutil.which("redis-server") is None and not os.environ.get("CI"),
                    reason="redis-server is not installed (required when CI is set)")
def test_session_source_across_workers_sharing_redis():
    """Two workers, one session in Redis: each call's source sees the names (and numbers its
    temporaries after those) that calls served by the other worker bound."""
    with redis_server() as store, running_server({"AUTOGRAD_STORE": store},
                                                 ("--workers", "2")) as url:
        def post(path, body):  # a new connection each time: both workers serve
            with httpx.Client(base_url=url, timeout=60,
                              headers={"Connection": "close"}) as c:
                return c.post(path, json=body)

        r = post("/sessions", {"source": "x = torch.tensor([1.0, 2.0], requires_grad=True)"})
        sid = r.json()["session"]["id"]
        lines = ["a = (x * 2).exp()", "b = (a + x).sin()", "c = (b * a).sum()"]
        for line in lines:
            r = post("/backward", {"session": sid, "source": line, "tensors": [],
                                   "return_graph": True})
            assert r.status_code == 200, r.text
        r = post("/backward", {"session": sid, "tensors": "c", "return_graph": True})
        assert r.status_code == 200, r.text
        ids = [n["id"] for n in r.json()["graph"]["nodes"]]
        assert len(ids) == len(set(ids)) and {"_1", "_2", "_3"} <= set(ids)
        ns = {"x": torch.tensor([1.0, 2.0], requires_grad=True)}
        exec("\n".join(lines), {"torch": torch}, ns)
        ns["c"].backward()
        np.testing.assert_allclose(r.json()["grads"]["x"]["data"], ns["x"].grad.numpy(),
                                   rtol=1e-5)
