"""Memory accounting of retained graphs: GET /sessions/{id} lists saved tensors per node
(vs torch's grad_fn._saved_* computed in the test), POST /sessions/{id}/free frees them
(torch's backward-twice error after), /metrics exports their bytes."""

import pytest
import torch
from fastapi.testclient import TestClient

from service.http.app import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(Settings(_env_file=None)))


GRAPH = {"nodes": [
    {"id": "x", "op": "tensor", "data": [1.0, 2.0, 3.0], "requires_grad": True},
    {"id": "w", "op": "tensor", "data": [[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]],
     "requires_grad": True},
    {"id": "y", "op": "pow", "args": ["x", 2]},
    {"id": "h", "op": "matmul", "args": ["w", "y"]},
    {"id": "e", "op": "exp", "args": ["h"]},
    {"id": "s", "op": "sum", "args": ["e"]},
]}


def torch_saved():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = torch.tensor([[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]], requires_grad=True)
    y = x.pow(2)
    h = w @ y
    e = h.exp()
    s = e.sum()
    return x, s, {"y": y.grad_fn, "h": h.grad_fn, "e": e.grad_fn}


def saved_of(fn, names):
    out = {}
    for n in names:
        v = getattr(fn, f"_saved_{n}")
        if isinstance(v, torch.Tensor):
            out[n] = v
    return out


def test_session_lists_saved_tensors_then_free(client):
    made = client.post("/sessions", json={"graph": GRAPH})
    sid = made.json()["session"]["id"]
    r = client.post("/backward", json={"session": sid, "tensors": "s", "retain_graph": True})
    assert r.status_code == 200
    mem = client.get(f"/sessions/{sid}").json()["memory"]
    _, s, fns = torch_saved()
    by_node = {n["node"]: n for n in mem["nodes"]}
    assert set(by_node) == {"y", "h", "e"}
    arrays = {}
    for node, fn in fns.items():
        entry = by_node[node]
        assert entry["grad_fn"] == fn.name()
        names = [t["name"] for t in entry["saved"]]
        theirs = saved_of(fn, [("self" if n == "input" else n) for n in names])
        for t in entry["saved"]:
            tt = theirs["self" if t["name"] == "input" else t["name"]]
            assert t["shape"] == list(tt.shape) and t["dtype"] == "float32"
            assert t["bytes"] == tt.numel() * tt.element_size()
            arrays[(node, t["name"])] = t["bytes"]
    # each array once: x (y's input), w and y (h's inputs), e (exp's result)
    assert mem["saved_bytes"] == 4 * (3 + 6 + 3 + 2)
    metrics = client.get("/metrics").text
    line = next(ln for ln in metrics.splitlines()
                if ln.startswith("autograd_retained_graph_bytes"))
    assert float(line.split()[-1]) >= mem["saved_bytes"]

    freed = client.post(f"/sessions/{sid}/free")
    assert freed.status_code == 200
    assert freed.json()["memory"] == {"nodes": [], "saved_bytes": 0}
    assert freed.json()["session"]["graph_retained"] is False
    again = client.post("/backward", json={"session": sid, "tensors": "s"})
    s.backward()
    with pytest.raises(RuntimeError) as e:
        s.backward()
    assert again.status_code == 409 and again.json()["detail"] == str(e.value)


def test_backward_without_retain_frees(client):
    sid = client.post("/sessions", json={"graph": GRAPH}).json()["session"]["id"]
    before = client.get(f"/sessions/{sid}").json()["memory"]["saved_bytes"]
    assert before > 0
    client.post("/backward", json={"session": sid, "tensors": "s"})
    assert client.get(f"/sessions/{sid}").json()["memory"]["saved_bytes"] == 0
    assert client.post("/sessions/nope/free").status_code == 404


def test_store_cap_counts_saved_bytes():
    """create_graph leaves a graph behind x.grad whose nodes save arrays nobody named: they
    count toward the session's bytes, and a cap between the named bytes and the total
    refuses the call (413)."""
    nodes = {"nodes": [{"id": "x", "op": "tensor", "data": [0.5] * 1000, "requires_grad": True},
                       {"id": "y", "op": "pow", "args": ["x", 3]},
                       {"id": "s", "op": "sum", "args": ["y"]}]}
    call = {"tensors": "s", "create_graph": True}
    probe = TestClient(create_app(Settings(_env_file=None)))
    sid = probe.post("/sessions", json={"graph": nodes}).json()["session"]["id"]
    with pytest.warns(UserWarning):
        assert probe.post("/backward", json={"session": sid, **call}).status_code == 200
    session = probe.app.state.store._sessions[sid]
    named = sum(t.array.nbytes + (t.grad.array.nbytes if t.is_leaf and t.grad is not None
                                  else 0) for t in session.ws.tensors())
    assert session.nbytes > named
    cap = TestClient(create_app(Settings(_env_file=None, max_session_bytes=named + 4)))
    sid = cap.post("/sessions", json={"graph": nodes}).json()["session"]["id"]
    with pytest.warns(UserWarning):
        r = cap.post("/backward", json={"session": sid, **call})
    assert r.status_code == 413 and "max_session_bytes" in r.json()["detail"]
