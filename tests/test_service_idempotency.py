"""graph_hash on every /backward and /grad answer, and Idempotency-Key on /backward: a
retried request accumulates into .grad once (vs torch computed in the test)."""

import base64

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from service.http.app import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(Settings(_env_file=None)))


def graph(data):
    return {"nodes": [{"id": "x", "op": "tensor", "data": data, "requires_grad": True},
                      {"id": "y", "op": "mul", "args": ["x", "x"]},
                      {"id": "s", "op": "sum", "args": ["y"]}]}


def test_graph_hash_is_content_addressed(client):
    a = client.post("/grad", json={"graph": graph([1.0, 2.0]), "outputs": "s",
                                   "inputs": "x"}).json()["graph_hash"]
    raw = base64.b64encode(np.array([1.0, 2.0], dtype="<f4").tobytes()).decode()
    b = client.post("/grad", json={"graph": graph({"dtype": "float32", "shape": [2],
                                                   "b64": raw}),
                                   "outputs": "s", "inputs": "x"}).json()["graph_hash"]
    c = client.post("/backward", json={"graph": graph([1.0, 2.5]),
                                       "tensors": "s"}).json()["graph_hash"]
    assert a == b != c and a.startswith("sha256:")


def test_retry_with_same_key_accumulates_once(client):
    sid = client.post("/sessions", json={"graph": graph([1.0, 2.0, 3.0])}).json()["session"]["id"]
    call = {"session": sid, "tensors": "s", "retain_graph": True}
    first = client.post("/backward", json=call, headers={"Idempotency-Key": "k1"})
    retry = client.post("/backward", json=call, headers={"Idempotency-Key": "k1"})
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    s = (x * x).sum()
    s.backward(retain_graph=True)  # once, whatever the retries
    got = client.get(f"/sessions/{sid}/tensors/x.grad").json()["data"]
    np.testing.assert_allclose(got, x.grad.numpy())
    # a new key is a new backward: torch accumulates, so do we
    client.post("/backward", json=call, headers={"Idempotency-Key": "k2"})
    s.backward(retain_graph=True)
    got = client.get(f"/sessions/{sid}/tensors/x.grad").json()["data"]
    np.testing.assert_allclose(got, x.grad.numpy())
    # the same key for a different request is refused
    other = client.post("/backward", json={**call, "inputs": ["x"]},
                        headers={"Idempotency-Key": "k1"})
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    # without a key, each call runs
    client.post("/backward", json=call)
    s.backward(retain_graph=True)
    got = client.get(f"/sessions/{sid}/tensors/x.grad").json()["data"]
    np.testing.assert_allclose(got, x.grad.numpy())


def test_a_key_whose_answer_was_dropped_is_a_409_not_a_second_run():
    client = TestClient(create_app(Settings(_env_file=None, idempotency_keys=2)))
    sid = client.post("/sessions", json={"graph": graph([1.0, 2.0])}).json()["session"]["id"]
    call = {"session": sid, "tensors": "s", "retain_graph": True}
    for key in ("a", "b", "c"):  # "a"'s answer is dropped, its key is remembered
        assert client.post("/backward", json=call,
                           headers={"Idempotency-Key": key}).status_code == 200
    again = client.post("/backward", json=call, headers={"Idempotency-Key": "a"})
    assert again.status_code == 409 and again.json()["type"].endswith("idempotency-key-expired")
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    s = (x * x).sum()
    for _ in range(3):
        s.backward(retain_graph=True)
    got = client.get(f"/sessions/{sid}/tensors/x.grad").json()["data"]
    np.testing.assert_allclose(got, x.grad.numpy())
    retry = client.post("/backward", json=call, headers={"Idempotency-Key": "c"})
    assert retry.status_code == 200


def test_graph_hash_on_session_answers(client):
    """Every session answer carries the session's graph_hash: the same as a standalone
    graph of the same nodes, moved by nodes appended and by PUT values (and back when the
    old value is PUT again), unchanged by calls that change no node or value."""
    nodes = graph([1.0, 2.0])
    alone = client.post("/grad", json={"graph": nodes, "outputs": "s",
                                       "inputs": "x"}).json()["graph_hash"]
    made = client.post("/sessions", json={"graph": nodes}).json()
    sid = made["session"]["id"]
    assert made["graph_hash"] == alone
    assert client.get(f"/sessions/{sid}").json()["graph_hash"] == alone
    back = client.post("/backward", json={"session": sid, "tensors": "s",
                                          "retain_graph": True}).json()
    assert back["graph_hash"] == alone
    assert client.post(f"/sessions/{sid}/zero_grad").json()["graph_hash"] == alone
    put = client.put(f"/sessions/{sid}/tensors/x", json=[3.0, 4.0]).json()
    assert put["graph_hash"] != alone and put["graph_hash"].startswith("sha256:")
    assert client.get(f"/sessions/{sid}").json()["graph_hash"] == put["graph_hash"]
    assert client.post(f"/sessions/{sid}/free").json()["graph_hash"] == put["graph_hash"]
    more = client.post("/grad", json={"session": sid, "outputs": "t", "inputs": "x",
                                      "graph": {"nodes": [{"id": "t", "op": "sum",
                                                           "args": ["x"]}]}}).json()
    assert more["graph_hash"] not in (alone, put["graph_hash"])
    other = client.post("/sessions", json={"graph": nodes}).json()["session"]["id"]
    client.put(f"/sessions/{other}/tensors/x", json=[3.0, 4.0])
    assert client.get(f"/sessions/{other}").json()["graph_hash"] == put["graph_hash"]
