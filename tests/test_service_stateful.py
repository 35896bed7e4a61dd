"""Stateful testing of the session routes: a Hypothesis state machine drives create,
extend+backward, backward again, grad, zero_grad, put and delete in random order over HTTP
and the same steps in torch side by side. Every answer is validated against openapi.json
(schemathesis), none is a 5xx, torch's refusals are the service's 4xx, and the session's
.grad always equals torch's."""

import itertools
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from support.service_server import running_server

schemathesis = pytest.importorskip("schemathesis")
SCHEMA = schemathesis.openapi.from_path(Path(__file__).resolve().parent.parent / "openapi.json")
W0, B0, X = [0.5, -1.0, 2.0], 0.75, [1.0, 2.0, -0.5]
UNARY = ["tanh", "exp", "sin", "sigmoid", "square"]
vec = st.lists(st.floats(-2, 2, width=32).map(lambda v: round(v, 3)), min_size=3, max_size=3)


@pytest.fixture(scope="module")
def live():
    with running_server() as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def checked(r: httpx.Response, path: str, method: str) -> httpx.Response:
    assert r.status_code < 500, r.text
    SCHEMA[path][method].validate_response(r)
    return r


def close(got, want) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return np.allclose(np.asarray(got["data"], dtype=np.float64), want.detach().double().numpy(),
                       rtol=2e-4, atol=2e-5)


class Sessions(RuleBasedStateMachine):
    client: httpx.Client = None
    counter = itertools.count()
    steps = 0

    def __init__(self):
        super().__init__()
        self.sid, self.t, self.losses = None, {}, []

    # -- torch side
    def torch_fresh(self):
        self.t = {"w": torch.tensor(W0, requires_grad=True),
                  "b": torch.tensor(B0, requires_grad=True), "x": torch.tensor(X)}
        self.losses = []

    def post(self, path, body, route):
        return checked(self.client.post(path, json=body), route, "POST")

    @precondition(lambda self: self.sid is None)
    @rule()
    def create(self):
        nodes = [{"id": "w", "op": "tensor", "data": W0, "requires_grad": True},
                 {"id": "b", "op": "tensor", "data": B0, "requires_grad": True},
                 {"id": "x", "op": "tensor", "data": X}]
        r = self.post("/sessions", {"graph": {"nodes": nodes}}, "/sessions")
        assert r.status_code == 201, r.text
        self.sid = r.json()["session"]["id"]
        self.torch_fresh()

    @precondition(lambda self: self.sid is not None)
    @rule(fn=st.sampled_from(UNARY), retain=st.booleans(), seed=vec)
    def extend_and_backward(self, fn, retain, seed):
        """One training step: new nodes appended, then backward on the new loss."""
        k = next(self.counter)
        h, loss = f"h{k}", f"loss{k}"
        nodes = [{"id": f"a{k}", "op": "mul", "args": ["w", "x"]},
                 {"id": h, "op": fn, "args": [f"a{k}"]},
                 {"id": f"m{k}", "op": "mul", "args": [h, "b"]},
                 {"id": loss, "op": "dot", "args": [f"m{k}", {"data": seed}]}]
        t = self.t
        t[loss] = torch.dot(getattr(torch, fn)(t["w"] * t["x"]) * t["b"], torch.tensor(seed))
        self.losses.append(loss)
        self.backward_on(loss, retain, nodes)

    @precondition(lambda self: self.sid is not None and self.losses)
    @rule(data=st.data(), retain=st.booleans())
    def backward_again(self, data, retain):
        self.backward_on(data.draw(st.sampled_from(self.losses)), retain)

    def backward_on(self, loss, retain, nodes=None):
        body = {"session": self.sid, "tensors": loss, "retain_graph": retain}
        if nodes:
            body["graph"] = {"nodes": nodes}
        try:
            self.t[loss].backward(retain_graph=retain)
            error = None
        except RuntimeError as e:
            error = str(e).split("\n")[0]
        r = self.post("/backward", body, "/backward")
        if error is None:
            assert r.status_code == 200, (r.text, loss)
        else:
            assert r.status_code == 409 and error[:50] in r.json()["detail"], (r.text, error)

    @precondition(lambda self: self.sid is not None and self.losses)
    @rule(data=st.data())
    def grad(self, data):
        loss = data.draw(st.sampled_from(self.losses))
        try:
            want = torch.autograd.grad(self.t[loss], [self.t["w"], self.t["b"]],
                                       retain_graph=True)
            error = None
        except RuntimeError as e:
            error = str(e).split("\n")[0]
        r = self.post("/grad", {"session": self.sid, "outputs": loss, "inputs": ["w", "b"],
                                "retain_graph": True}, "/grad")
        if error is not None:
            assert r.status_code == 409 and error[:50] in r.json()["detail"], (r.text, error)
            return
        assert r.status_code == 200, r.text
        got = r.json()["grads"]
        assert close(got[0], want[0]) and close(got[1], want[1]), (got, want)

    @precondition(lambda self: self.sid is not None)
    @rule()
    def zero_grad(self):
        r = self.post(f"/sessions/{self.sid}/zero_grad", {}, "/sessions/{sid}/zero_grad")
        assert r.status_code == 200, r.text
        self.t["w"].grad = self.t["b"].grad = None

    @precondition(lambda self: self.sid is not None)
    @rule(value=vec)
    def put(self, value):
        """An optimizer step done by the client: w written in place under no_grad."""
        r = checked(self.client.put(f"/sessions/{self.sid}/tensors/w", json=value),
                    "/sessions/{sid}/tensors/{name}", "PUT")
        assert r.status_code == 200, r.text
        with torch.no_grad():
            self.t["w"].copy_(torch.tensor(value))

    @precondition(lambda self: self.sid is not None)
    @rule()
    def delete(self):
        r = checked(self.client.delete(f"/sessions/{self.sid}"), "/sessions/{sid}", "DELETE")
        assert r.status_code == 204
        r = checked(self.client.get(f"/sessions/{self.sid}"), "/sessions/{sid}", "GET")
        assert r.status_code == 404
        self.sid = None

    @invariant()
    def grads_equal_torch(self):
        if self.sid is None:
            return
        r = checked(self.client.get(f"/sessions/{self.sid}"), "/sessions/{sid}", "GET")
        assert r.status_code == 200, r.text
        grads = r.json()["grads"]
        for leaf in ("w", "b"):
            assert close(grads[leaf], self.t[leaf].grad), (leaf, grads[leaf], self.t[leaf].grad)

    def teardown(self):
        Sessions.steps += 1
        if self.sid is not None:
            self.client.delete(f"/sessions/{self.sid}")


def test_session_state_machine(live):
    Sessions.client = live
    machine = Sessions.TestCase
    machine.settings = settings(max_examples=40, stateful_step_count=15, deadline=None,
                                derandomize=True, database=None,
                                suppress_health_check=list(HealthCheck))
    machine().runTest()
    assert Sessions.steps >= 10  # examples ran (Hypothesis may stop early)
    assert next(Sessions.counter) > 10  # and trained: extend+backward steps happened
