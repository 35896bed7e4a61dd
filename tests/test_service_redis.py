"""The Redis session store with a real redis-server: one history per session across
uvicorn workers (each replays what the others appended)."""

import shutil
import threading

import httpx
import numpy as np
import pytest
import torch
from support.service_server import as_numpy, check_problem, redis_server, running_server
from support.small_graphs import PLUS, SQUARE

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed")


@pytest.fixture(scope="module")
def two_workers():
    with redis_server() as store, running_server({"AUTOGRAD_STORE": store},
                                                 ("--workers", "2")) as url:
        yield url


def fresh(url):  # a new connection each time, so both workers get requests
    return httpx.Client(base_url=url, timeout=60, headers={"Connection": "close"})


def post(url, path, body):
    with fresh(url) as c:
        return c.post(path, json=body)


def test_accumulation_across_workers(two_workers):
    r = post(two_workers, "/sessions", {"graph": {"nodes": PLUS}})
    assert r.status_code == 201, r.text
    sid = r.json()["session"]["id"]
    errors = []

    def work():
        for _ in range(5):
            r = post(two_workers, "/backward", {"session": sid, "tensors": "s"})
            if r.status_code != 200:
                errors.append(r.text)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with fresh(two_workers) as c:
        grads = c.get(f"/sessions/{sid}").json()["grads"]["x"]
    np.testing.assert_array_equal(as_numpy(grads), [20.0, 20.0])


def test_freed_graph_and_put_across_workers(two_workers):
    sid = post(two_workers, "/sessions", {"graph": {"nodes": SQUARE}}).json()["session"]["id"]
    assert post(two_workers, "/backward", {"session": sid, "tensors": "s"}).status_code == 200
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    s = (x * x).sum()
    s.backward()
    with pytest.raises(RuntimeError) as e:
        s.backward()
    for _ in range(4):  # whichever worker answers, the graph was freed by the first call
        check_problem(post(two_workers, "/backward", {"session": sid, "tensors": "s"}), 409,
                      str(e.value))
    with fresh(two_workers) as c:
        assert c.put(f"/sessions/{sid}/tensors/x", json=[3.0, 4.0]).status_code == 200
    more = {"nodes": [{"id": "y", "op": "mul", "args": ["x", "x"]},
                      {"id": "s", "op": "sum", "args": ["y"]}]}
    r = post(two_workers, "/backward", {"session": sid, "graph": more, "tensors": "s"})
    assert r.json()["grads"]["x"]["data"] == [8.0, 12.0]  # 2 + 6, 4 + 8: accumulated
    for _ in range(3):
        with fresh(two_workers) as c:
            assert c.get(f"/sessions/{sid}/tensors/x").json()["data"] == [3.0, 4.0]


def test_create_graph_session_across_workers(two_workers):
    nodes = [{"id": "x", "op": "tensor", "data": [0.5, 1.5], "requires_grad": True},
             {"id": "y", "op": "pow", "args": ["x", 3]},
             {"id": "s", "op": "sum", "args": ["y"]}]
    r = post(two_workers, "/grad", {"graph": {"nodes": nodes}, "outputs": "s", "inputs": "x",
                                    "create_graph": True, "as": ["dx"]})
    sid = r.json()["session"]["id"]
    for _ in range(3):
        r = post(two_workers, "/grad", {"session": sid, "graph": {"nodes": [
            {"id": "g", "op": "sum", "args": ["dx"]}]}, "outputs": "g", "inputs": "x",
            "retain_graph": True})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(as_numpy(r.json()["grads"][0]), [3.0, 9.0])


def test_delete_and_unknown(two_workers):
    sid = post(two_workers, "/sessions", {"graph": {"nodes": PLUS}}).json()["session"]["id"]
    with fresh(two_workers) as c:
        assert c.delete(f"/sessions/{sid}").status_code == 204
    for _ in range(3):
        check_problem(post(two_workers, "/backward", {"session": sid, "tensors": "s"}), 404)
    with fresh(two_workers) as c:
        assert c.get("/readyz").json() == {"status": "ready"}
        assert "autograd_sessions" in c.get("/metrics").text
