"""The service's fast paths give the same answers as the plain ones: base64 tensors decoded
once, answers written in parts (base64 and binary), small calls run on the event loop and
moved to a thread when they grow, and no deadline hooks on short walks. torch is the
oracle; counts (decodes, hooks) are read by wrapping the real functions."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from service.budget import Budget
from service.calls import backward_grad
from service.http.app import create_app
from service.run import compute
from service.run.workspace import Workspace
from service.schemas import BackwardRequest
from service.settings import Settings
from service.wire import codec


@pytest.fixture(scope="module")
def api():
    with TestClient(create_app(Settings(_env_file=None))) as client:
        yield client


def b64(arr: np.ndarray) -> dict:
    return {"dtype": str(arr.dtype), "shape": list(arr.shape),
            "b64": base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode()}


def unb64(t: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(t["b64"]), t["dtype"]).reshape(t["shape"])


X = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]], np.float32)
Y = np.array([3.0, 4.0, 5.0], np.float32)
V = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], np.float32)


def nodes(x, y):
    return [{"id": "x", "op": "tensor", "data": x, "requires_grad": True},
            {"id": "y", "op": "tensor", "data": y, "requires_grad": True},
            {"id": "xy", "op": "mul", "args": ["x", "y"]},
            {"id": "out", "op": "tanh", "args": ["xy"]}]


def torch_grads():
    x = torch.tensor(X, requires_grad=True)
    y = torch.tensor(Y, requires_grad=True)
    xy = x * y
    xy.retain_grad()
    torch.tanh(xy).backward(torch.tensor(V))
    return x.grad.numpy(), y.grad.numpy(), xy.grad.numpy()


def test_base64_decoded_once_and_answer_spliced(api, monkeypatch):
    count = {"n": 0}
    real = codec._b64decode

    def counting(text):
        count["n"] += 1
        return real(text)

    monkeypatch.setattr(codec, "_b64decode", counting)
    body = {"graph": {"nodes": nodes(b64(X), b64(Y))}, "tensors": "out",
            "grad_tensors": b64(V), "retain_grad": ["xy"], "encoding": "base64"}
    r = api.post("/backward", json=body)
    assert r.status_code == 200, r.text
    assert count["n"] == 3  # x, y and the seed: once each (the graph hash reuses the bytes)
    gx, gy, gxy = torch_grads()
    out = r.json()
    np.testing.assert_allclose(unb64(out["grads"]["x"]), gx, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(unb64(out["grads"]["y"]), gy, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(unb64(out["retained"]["xy"]), gxy, rtol=1e-5, atol=1e-7)
    listed = api.post("/backward", json={**body, "graph": {"nodes": nodes(X.tolist(),
                                                                         Y.tolist())}})
    assert listed.json()["graph_hash"] == out["graph_hash"]


def test_binary_answer_in_parts(api):
    body = {"graph": {"nodes": nodes(X.tolist(), Y.tolist())}, "tensors": "out",
            "grad_tensors": V.tolist(), "retain_grad": ["xy"], "encoding": "binary"}
    r = api.post("/backward", json=body)
    assert r.status_code == 200, r.text
    n = int(r.headers[codec.BINARY_HEADER])
    import json
    head = json.loads(r.content[:n])
    tail, at, got = r.content[n:], 0, {}
    for where, name in (("grads", "x"), ("grads", "y"), ("retained", "xy")):
        t = head[where][name]
        got[name] = np.frombuffer(tail[at:at + t["binary_data_size"]], "<f4").reshape(
            t["shape"])
        at += t["binary_data_size"]
    assert at == len(tail) == int(r.headers["content-length"]) - n
    for name, want in zip(("x", "y", "xy"), torch_grads()):
        np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-7)


def test_idempotent_replay_of_a_base64_answer(api):
    r = api.post("/sessions", json={"graph": {"nodes": nodes(X.tolist(), Y.tolist())}})
    sid = r.json()["session"]["id"]
    call = {"session": sid, "tensors": "out", "grad_tensors": V.tolist(),
            "encoding": "base64"}
    first = api.post("/backward", json=call, headers={"Idempotency-Key": "k1"})
    again = api.post("/backward", json=call, headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 200
    assert first.content == again.content  # the stored answer, written again in parts
    np.testing.assert_allclose(unb64(first.json()["grads"]["x"]), torch_grads()[0], rtol=1e-5, atol=1e-7)


def test_small_call_that_grows_moves_to_a_thread(api):
    """A call that starts on the event loop and makes more than INLINE_ELEMENTS elements is
    run again from scratch in a thread: the answer is torch's."""
    n = backward_grad.INLINE_ELEMENTS + 10
    req = BackwardRequest.model_validate({"graph": {"nodes": [
        {"id": "a", "op": "ones", "args": [[n]], "requires_grad": True},
        {"id": "s", "op": "sum", "args": ["a"]}]}, "tensors": "s"})
    state = api.app.state
    with pytest.raises(backward_grad.TooBigInline):
        backward_grad.run(state, req, "", "backward", None, backward_grad.InlineBudget(state.settings))
    r = api.post("/backward", json={"graph": {"nodes": [
        {"id": "a", "op": "ones", "args": [[n]], "requires_grad": True},
        {"id": "b", "op": "mul", "args": ["a", 3]},
        {"id": "s", "op": "sum", "args": ["b"]}]}, "tensors": "s", "encoding": "base64"})
    assert r.status_code == 200, r.text
    a = torch.ones(n, requires_grad=True)
    (a * 3).sum().backward()
    np.testing.assert_array_equal(unb64(r.json()["grads"]["a"]), a.grad.numpy())


def test_inline_call_keeps_the_limits():
    """Over a real limit, an inline call answers the limit's 413, not a move."""
    app = create_app(Settings(_env_file=None, max_tensor_elements=100))
    with TestClient(app) as client:
        r = client.post("/backward", json={"graph": {"nodes": [
            {"id": "a", "op": "ones", "args": [[101]], "requires_grad": True},
            {"id": "s", "op": "sum", "args": ["a"]}]}, "tensors": "s"})
    assert r.status_code == 413 and "max_tensor_elements" in r.json()["detail"]


def _chain(length: int, size: int) -> tuple[Workspace, list, Budget]:
    budget = Budget(Settings(_env_file=None))
    req = BackwardRequest.model_validate({"graph": {"nodes": [
        {"id": "a", "op": "ones", "args": [[size]], "requires_grad": True},
        *({"id": "a", "op": "mul", "args": ["a", 1.5]} for _ in range(length))]},
        "tensors": "a"})
    ws = Workspace()
    ws.add_nodes(backward_grad.graph_nodes(req, budget.settings), budget)
    return ws, [ws.ref("a", "tensors")], budget


def test_deadline_hooks_only_on_long_walks():
    ws, roots, budget = _chain(compute.SHORT_WALK_NODES, 10)
    assert compute._deadline(ws, roots, budget) == []
    ws, roots, budget = _chain(compute.SHORT_WALK_NODES + 1, 10)
    handles = compute._deadline(ws, roots, budget)
    assert len(handles) == compute.SHORT_WALK_NODES + 1
    for h in handles:
        h.remove()
    ws, roots, budget = _chain(2, compute.SHORT_WALK_ELEMENTS)  # few nodes, big tensors
    handles = compute._deadline(ws, roots, budget)
    assert len(handles) == 2
    for h in handles:
        h.remove()
    budget.deadline = 0  # the clock has run out: the walk stops with compute_seconds
    handles = compute._deadline(ws, roots, budget)
    with pytest.raises(Exception, match="compute_seconds"):
        roots[0].sum().backward()
    for h in handles:
        h.remove()


def test_long_base64_decoded_from_the_body(api, monkeypatch):
    """Long base64 texts are decoded straight from the body (no str made first); anything
    that is not exactly a tensor's b64 falls back to the plain parse, with its answers."""
    big = np.linspace(-2, 2, 3 * 4096, dtype=np.float32)
    lifted = {"n": 0}
    real = codec.loads_lifting_b64

    def counting(body):
        out = real(body)
        lifted["n"] += out is not None
        return out

    monkeypatch.setattr(codec, "loads_lifting_b64", counting)
    graph = [{"id": "x", "op": "tensor", "data": b64(big), "requires_grad": True},
             {"id": "y", "op": "tensor", "data": b64(big[:3]), "requires_grad": True},
             {"id": "s", "op": "sum", "args": [{"dtype": "float32", "shape": [], "b64":
                                                base64.b64encode(b"\0\0\0@").decode()}]},
             {"id": "q", "op": "mul", "args": ["x", "x"]},
             {"id": "out", "op": "sum", "args": ["q"]}]
    r = api.post("/backward", json={"graph": {"nodes": graph}, "tensors": "out",
                                    "encoding": "base64"})
    assert r.status_code == 200, r.text
    assert lifted["n"] == 1
    x = torch.tensor(big, requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(unb64(r.json()["grads"]["x"]), x.grad.numpy(), rtol=1e-6)
    listed = api.post("/backward", json={"graph": {"nodes": [
        {**graph[0], "data": big.tolist()}, {**graph[1], "data": big[:3].tolist()},
        {**graph[2], "args": [{"data": 2.0, "dtype": "float32"}]}, *graph[3:]]},
        "tensors": "out", "encoding": "base64"})
    assert listed.json()["graph_hash"] == r.json()["graph_hash"]  # the same values
    # a long text under "b64" that is not a tensor: the plain parse, and its 422
    text = base64.b64encode(big.tobytes()).decode()
    r = api.post("/backward", json={"graph": {"nodes": graph[:1]}, "tensors": "x",
                                    "hooks": {"b64": text}})
    assert r.status_code == 422 and lifted["n"] == 1
    # invalid base64 in a long tensor text: the plain path's 422
    bad = dict(b64(big), b64="!" + text[1:])
    r = api.post("/backward", json={"graph": {"nodes": [{**graph[0], "data": bad}]},
                                    "tensors": "x"})
    assert r.status_code == 422 and "base64" in r.json()["detail"]


@pytest.mark.parametrize("encoding", ["list", "binary", "base64"])
def test_session_answer_is_a_snapshot(api, encoding):
    """A session's answer is written after its lock is released; the session's next call
    accumulates into the same .grad in place. The first answer must still hold the first
    call's numbers (torch's x.grad after one backward), not the second's."""
    state = api.app.state
    graph = {"nodes": nodes(X.tolist(), Y.tolist())}
    session = api.post("/sessions", json={"graph": graph}).json()["session"]["id"]
    first = BackwardRequest.model_validate({
        "session": session, "tensors": ["out"], "grad_tensors": [V.tolist()],
        "retain_graph": True, "encoding": encoding})
    payload, encoder = backward_grad.run(state, first, "", "backward")
    again = BackwardRequest.model_validate({
        "session": session, "tensors": ["out"], "grad_tensors": [V.tolist()],
        "retain_graph": True})
    backward_grad.run(state, again, "", "backward")  # x.grad is now twice torch's
    grad_x = payload["grads"]["x"]
    if encoding == "list":
        got = np.asarray(grad_x["data"])
    elif encoding == "binary":
        got = np.frombuffer(bytes(encoder.buffers[0]), np.float32).reshape(grad_x["shape"])
    else:
        text = b"".join(encoder.json_parts(payload, 0))
        got = unb64(orjson_loads(text)["grads"]["x"])
    np.testing.assert_allclose(got, torch_grads()[0], rtol=1e-5, atol=1e-7)


def orjson_loads(text: bytes):
    import orjson
    return orjson.loads(text)
