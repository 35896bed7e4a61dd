"""A session's log replays into the same workspace (what a shared Redis store relies on).

In-process: the log is internal state, not an HTTP behaviour, so this drives the app with
Starlette's TestClient (a real ASGI call, no mocks) and reads the store it made."""

import numpy as np
from fastapi.testclient import TestClient

from service.http.app import create_app
from service.sessions.replay import replay
from service.settings import Settings


def test_replay_rebuilds_the_same_workspace():
    app = create_app(Settings(_env_file=None))
    c = TestClient(app)
    nodes = [{"id": "w", "op": "tensor", "data": [0.5, -1.0], "requires_grad": True},
             {"id": "x", "op": "tensor", "data": [1.0, 2.0]},
             {"id": "y", "op": "mul", "args": ["w", "w"]},
             {"id": "s", "op": "sum", "args": ["y"]}]
    sid = c.post("/sessions", json={"graph": {"nodes": nodes}}).json()["session"]["id"]
    assert c.post("/backward", json={"session": sid, "tensors": "s",
                                     "retain_graph": True}).status_code == 200
    assert c.put(f"/sessions/{sid}/tensors/w", json=[2.0, 3.0]).status_code == 200
    assert c.post("/backward", json={"session": sid, "tensors": "s"}).status_code == 409
    more = {"nodes": [{"id": "y", "op": "pow", "args": ["w", 3]},
                      {"id": "s", "op": "sum", "args": ["y"]}]}
    assert c.post("/backward", json={"session": sid, "graph": more, "tensors": "s",
                                     "create_graph": True}).status_code == 200
    assert c.post("/grad", json={"session": sid, "graph": {"nodes": [
        {"id": "g", "op": "sum", "args": ["w.grad"]}]}, "outputs": "g", "inputs": "w",
        "as": ["h"]}).status_code == 200
    c.post(f"/sessions/{sid}/zero_grad")
    assert c.post("/backward", json={"session": sid, "tensors": "s",
                                     "hooks": {"w": "grad * 2"}}).status_code == 200
    live = app.state.store.get(sid, "").ws
    again = replay(app.state.store.get(sid, "").log, app.state.settings)
    assert list(again.names) == list(live.names)
    for name, t in live.names.items():
        u = again.names[name]
        np.testing.assert_array_equal(u.array, t.array)
        assert (u._grad is None) == (t._grad is None)
        if t._grad is not None:
            np.testing.assert_array_equal(u._grad.array, t._grad.array)
        assert type(u.grad_fn).__name__ == type(t.grad_fn).__name__
