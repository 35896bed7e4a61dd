"""Sessions through the real server: lifecycle, accumulation, in-place puts, expiry, caps,
API keys, concurrency."""

import threading
import time

import httpx
import numpy as np
import pytest
import torch
from support.service_server import as_numpy, check_problem, running_server
from support.small_graphs import PLUS, SQUARE

pytest_plugins = ["support.service_server"]  # the fixtures: a live server (api, server_url)


def make(api, nodes):
    r = api.post("/sessions", json={"graph": {"nodes": nodes}})
    assert r.status_code == 201, r.text
    assert r.json()["session"]["id"].startswith("s_")
    return r.json()["session"]["id"]


def test_lifecycle(api):
    sid = make(api, SQUARE)
    r = api.get(f"/sessions/{sid}")
    assert r.status_code == 200 and r.json()["grads"] == {"x": None}
    assert {n["id"] for n in r.json()["graph"]["nodes"]} == {"x", "y", "s"}
    r = api.post("/backward", json={"session": sid, "tensors": "s", "retain_graph": True})
    assert r.json()["grads"]["x"]["data"] == [2.0, 4.0]
    r = api.post("/backward", json={"session": sid, "tensors": "s"})
    assert r.json()["grads"]["x"]["data"] == [4.0, 8.0]  # accumulates, as .grad does
    r = api.post(f"/sessions/{sid}/zero_grad")
    assert r.status_code == 200 and r.json()["grads"] == {"x": None}
    assert api.get(f"/sessions/{sid}/tensors/x").json()["data"] == [1.0, 2.0]
    assert api.delete(f"/sessions/{sid}").status_code == 204
    check_problem(api.get(f"/sessions/{sid}"), 404)
    check_problem(api.post("/backward", json={"session": sid, "tensors": "s"}), 404)


def test_appending_nodes_and_accumulating(api):
    sid = make(api, PLUS)
    for k in range(1, 4):  # (x + 1).sum() saves nothing: walking it again is fine
        r = api.post("/backward", json={"session": sid, "tensors": "s"})
        assert r.json()["grads"]["x"]["data"] == [float(k)] * 2
    more = {"nodes": [{"id": "t", "op": "mul", "args": ["x", 3]},
                      {"id": "u", "op": "sum", "args": ["t"]}]}
    r = api.post("/backward", json={"session": sid, "graph": more, "tensors": "u"})
    assert r.json()["grads"]["x"]["data"] == [6.0, 6.0]


def test_put_in_place_bumps_version_like_torch(api):
    sid = make(api, SQUARE)
    r = api.put(f"/sessions/{sid}/tensors/x", json=[5.0, 6.0])
    assert r.status_code == 200, r.text
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    s = (x * x).sum()
    with torch.no_grad():
        x.copy_(torch.tensor([5.0, 6.0]))
    with pytest.raises(RuntimeError) as e:
        s.backward()
    check_problem(api.post("/backward", json={"session": sid, "tensors": "s"}), 409,
                  str(e.value))
    # a new graph over the updated leaf works (an optimizer step, then a new forward)
    more = {"nodes": [{"id": "y", "op": "mul", "args": ["x", "x"]},
                      {"id": "s", "op": "sum", "args": ["y"]}]}
    r = api.post("/backward", json={"session": sid, "graph": more, "tensors": "s"})
    assert r.json()["grads"]["x"]["data"] == [10.0, 12.0]
    check_problem(api.put(f"/sessions/{sid}/tensors/x", json=[1.0, 2.0, 3.0]), 422)
    check_problem(api.put(f"/sessions/{sid}/tensors/nope", json=[1.0]), 422)


def test_retained_backward_stores_a_session(api):
    r = api.post("/backward", json={"graph": {"nodes": SQUARE}, "tensors": "s",
                                    "retain_graph": True})
    sid = r.json()["session"]["id"]
    r = api.post("/backward", json={"session": sid, "tensors": "s"})
    assert r.status_code == 200 and r.json()["grads"]["x"]["data"] == [4.0, 8.0]


def test_concurrent_calls_lose_nothing(api, server_url):
    sid = make(api, PLUS)
    n_threads, per_thread = 4, 5
    errors = []

    def work():
        with httpx.Client(base_url=server_url, timeout=60) as c:
            for _ in range(per_thread):
                r = c.post("/backward", json={"session": sid, "tensors": "s"})
                if r.status_code != 200:
                    errors.append(r.text)

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    grads = api.get(f"/sessions/{sid}").json()["grads"]["x"]
    np.testing.assert_array_equal(as_numpy(grads), [n_threads * per_thread] * 2)


@pytest.fixture(scope="module")
def keyed():
    env = {"AUTOGRAD_API_KEYS": "key-one,key-two", "AUTOGRAD_SESSION_TTL_SECONDS": "1.5",
           "AUTOGRAD_MAX_SESSIONS": "3"}
    with running_server(env) as url:
        yield url


def test_api_keys(keyed):
    body = {"graph": {"nodes": PLUS}}
    check_problem(httpx.post(keyed + "/sessions", json=body), 401)
    check_problem(httpx.post(keyed + "/sessions", json=body, headers={"X-API-Key": "nope"}), 401)
    r = httpx.post(keyed + "/sessions", json=body, headers={"X-API-Key": "key-one"})
    assert r.status_code == 201
    sid = r.json()["session"]["id"]
    mine = httpx.get(f"{keyed}/sessions/{sid}", headers={"Authorization": "Bearer key-one"})
    assert mine.status_code == 200
    # another key's session is unknown to you
    check_problem(httpx.get(f"{keyed}/sessions/{sid}", headers={"X-API-Key": "key-two"}), 404)
    assert httpx.get(keyed + "/healthz").status_code == 200  # probes need no key


def test_expiry_and_session_cap(keyed):
    h = {"X-API-Key": "key-two"}
    sids = []
    for _ in range(3):
        r = httpx.post(keyed + "/sessions", json={"graph": {"nodes": PLUS}}, headers=h)
        if r.status_code == 201:
            sids.append(r.json()["session"]["id"])
    check_problem(httpx.post(keyed + "/sessions", json={"graph": {"nodes": PLUS}}, headers=h),
                  429)
    time.sleep(1.7)  # idle past the TTL
    check_problem(httpx.get(f"{keyed}/sessions/{sids[0]}", headers=h), 404)
    r = httpx.post(keyed + "/sessions", json={"graph": {"nodes": PLUS}}, headers=h)
    assert r.status_code == 201  # expired ones no longer count
