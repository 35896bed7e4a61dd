"""Session snapshots in Redis (NOTE [bounded replay]): two replicas over one redis-server
(compose's commands, tests/test_service_redis_replicas.py); a session with many more calls
than AUTOGRAD_SNAPSHOT_EVERY is served by replica A, then read and continued on replica B,
which loads the newest snapshot and runs at most that many log entries. Its twin session,
with the same history, is continued on A (no replay): every answer is the same, and the
gradients are torch's for the same calls. Then what the store does with a snapshot it
cannot use: a corrupt document and a refused workspace both leave it replaying the log."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from support.fuzz_graphs import cases, run_case
from support.service_server import redis_server
from test_service_redis_replicas import _budget, cluster  # compose's commands and env

from service.http.app import create_app
from service.run import compute
from service.run.workspace import Workspace
from service.schemas import BackwardRequest, Node
from service.sessions.redis_store import RedisStore
from service.settings import Settings

EVERY = 16
START = ("x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], requires_grad=True)\n"
         "w = torch.tensor([0.3, -0.2, 0.1], requires_grad=True)")


def history(n: int) -> list:
    """n calls: graphs with views and in-place edits and retained grads, retained and
    freed backward calls (and one through a freed graph: torch's error), create_graph
    grads, PUTs that move w's version (and so refuse graphs that saved it), zero_grad."""
    calls = []
    for i in range(n):
        k = i % 6
        if k == 0:
            calls.append(("backward", {
                "source": f"y{i} = (x * w).sin()\nv{i} = y{i}[0]\nv{i}.mul_(2)\n"
                          f"s{i} = (y{i} * y{i}).sum() + (w ** 2).sum()",
                "tensors": f"s{i}", "retain_graph": True, "retain_grad": [f"y{i}"],
                "return_graph": True}))  # server ids ("%k") of the unnamed nodes
        elif k == 1:
            calls.append(("backward", {"tensors": f"s{i - 1}"}))
        elif k == 2:
            calls.append(("backward", {"tensors": f"s{i - 2}"}))  # freed: an error
        elif k == 3:
            calls.append(("grad", {"source": f"q{i} = (w ** 3 * x).sum()", "outputs": f"q{i}",
                                   "inputs": ["w"], "create_graph": True}))
        elif k == 4:
            calls.append(("put", (0.1 * (i % 7) - 0.3, 0.2, -0.1)))
        else:
            calls.append(("zero_grad" if i % 12 == 5 else "backward",
                          {"tensors": f"s{i - 5}", "retain_graph": True}))
    return calls


def serve(replica, sid: str, call) -> tuple:
    kind, body = call
    if kind == "put":
        r = replica.http.put(f"/sessions/{sid}/tensors/w", json=list(body))
    elif kind == "zero_grad":
        r = replica.http.post(f"/sessions/{sid}/zero_grad")
    else:
        r = replica.http.post(f"/{kind}", json={"session": sid, **body})
    assert r.status_code < 500, r.text
    return r.status_code, _plain(r.json(), sid)


def _plain(answer, sid: str):
    """The answer without what differs between two sessions: id and expiry."""
    text = re.sub(r'"expires_at":"[^"]*"', "", _json(answer)).replace(sid, "<sid>")
    return text


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def in_torch(calls) -> dict:
    """The same calls in torch: x.grad and w.grad after them."""
    ns = {"torch": torch}
    exec(START, ns)  # the test's own source text, PyTorch itself (the oracle)
    for kind, body in calls:
        try:
            if kind == "put":
                with torch.no_grad():
                    ns["w"].copy_(torch.tensor(body))
            elif kind == "zero_grad":
                ns["x"].grad = ns["w"].grad = None
            elif kind == "backward":
                exec(body.get("source", ""), ns)
                for name in body.get("retain_grad", []):
                    ns[name].retain_grad()
                ns[body["tensors"]].backward(retain_graph=body.get("retain_graph"))
            else:
                exec(body["source"], ns)
                torch.autograd.grad(ns[body["outputs"]], [ns["w"]], create_graph=True)
        except RuntimeError:
            pass  # answered as an error by the service too (checked against A's twin)
    return {n: None if ns[n].grad is None else ns[n].grad.numpy() for n in ("x", "w")}


def metric(replica, name: str) -> float:
    text = replica.http.get("/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name))


def test_replica_b_continues_from_a_snapshot_with_the_same_answers():
    calls = history(120)  # about 150 log entries: nine snapshots at 16
    tail = [("backward", {"source": "t = (x * 2).sum()", "tensors": "t",  # the whole
                          "return_graph": True}),  # workspace's graph, with its server ids
            ("backward", {"tensors": "s114", "retain_graph": True}),  # made before the last
            ("backward", {"tensors": "s108"}),  # snapshot, retained; then freed
            ("backward", {"tensors": "s108"}),
            ("put", (1.0, 1.0, 1.0)), ("backward", {"tensors": "s114"})]
    with cluster({"AUTOGRAD_SNAPSHOT_EVERY": str(EVERY)}) as (_, (a, b)):
        sids = []
        for _ in range(2):
            r = a.http.post("/sessions", json={"source": START})
            assert r.status_code == 201, r.text
            sids.append(r.json()["session"]["id"])
        statuses = []
        for call in calls:
            answer = serve(a, sids[0], call)
            assert answer == serve(a, sids[1], call)
            statuses.append(answer[0])
        assert statuses.count(200) > 80 and statuses.count(409) > 10, statuses
        assert metric(a, 'autograd_session_snapshots{event="written"}') >= 2 * 8
        replayed = metric(b, "autograd_replayed_log_entries")
        for call in tail:  # the twin on A (warm), the other on B (catching up first)
            assert serve(a, sids[0], call) == serve(b, sids[1], call), call
        assert metric(b, 'autograd_session_snapshots{event="loaded"}') == 1
        assert 0 < metric(b, "autograd_replayed_log_entries") - replayed <= EVERY
        graphs = [r.http.get(f"/sessions/{s}/graph").json() for r, s in ((a, sids[0]),
                                                                          (b, sids[1]))]
        assert _plain(graphs[0], sids[0]) == _plain(graphs[1], sids[1])
        want = in_torch(calls + tail)
        for name in ("x", "w"):
            got = [r.http.get(f"/sessions/{s}/tensors/{name}.grad") for r, s in (
                (a, sids[0]), (b, sids[1]))]
            for g in got:
                assert g.status_code == 200, g.text
                np.testing.assert_allclose(np.array(g.json()["data"]), want[name],
                                           rtol=1e-5, atol=1e-6)


def _store_pair(redis_url: str):
    return [RedisStore(Settings(_env_file=None, store=redis_url, snapshot_every=4))
            for _ in range(2)]


def _session_with_calls(store, n: int, hook: bool = False):
    nodes = [{"id": "x", "op": "tensor", "data": [1.0, 2.0], "requires_grad": True},
             {"id": "y", "op": "mul", "args": ["x", 3.0]}, {"id": "s", "op": "sum",
                                                           "args": ["y"]}]
    s = store.create("", Workspace())
    s.record("nodes", nodes=nodes)
    s.ws.add_nodes([Node.model_validate(n) for n in nodes], _budget())
    if hook:  # a Python function in the workspace: no snapshot can hold it
        s.ws.ref("y", "y").register_hook(lambda g: g)
    store.update(s)
    for _ in range(n):
        with s.lock:
            s.record("backward", tensors="s", retain_graph=True)
            compute.backward(s.ws, BackwardRequest(tensors="s", retain_graph=True), _budget())
            store.update(s)
    return s.id


def test_a_corrupt_or_refused_snapshot_leaves_the_log_replayed():
    with cluster(n=0) as (redis, _):
        a, b = _store_pair(redis.url)
        sid = _session_with_calls(a, 20)
        assert a.snapshots["written"] >= 4
        key = a.key(sid, "snap")
        redis.client.hset(key, "doc", b"autograd-graph-snapshot/1\n" + b"\xff" * 40)
        with b.get(sid, "").lock:
            pass
        assert b.snapshots == {"written": 0, "loaded": 0, "refused": 0, "corrupt": 1}
        assert b.replayed == 21  # the whole log
        np.testing.assert_array_equal(b.get(sid, "").ws.ref("x", "x").grad.numpy(),
                                      [60.0, 60.0])
        redis.client.delete(key)
        redis.client.set(key, b"not a hash")  # a key of another type: not used either
        b2 = _store_pair(redis.url)[1]
        with b2.get(sid, "").lock:
            pass
        assert b2.snapshots["corrupt"] == 1 and b2.replayed == 21
        session = a.get(sid, "")
        with session.lock:  # past snapshot_every: a's snapshot write fails, the calls stand
            for _ in range(4):
                session.record("zero_grad")
                session.ws.zero_grad()
        assert redis.client.llen(a.key(sid, "log")) == 25 and a.snapshots["written"] == 5
        hooked = _session_with_calls(a, 20, hook=True)
        assert a.snapshots["refused"] >= 1 and not redis.client.exists(a.key(hooked, "snap"))


class Alternating:
    """An HTTP client whose calls go to two replicas in turn (in process, one Redis), each
    of which finds the other's last call in the log: with snapshot_every 1 it loads a
    snapshot before every call."""

    def __init__(self, url: str):
        self.apps = [TestClient(create_app(Settings(_env_file=None, store=url,
                                                    snapshot_every=1)))
                     for _ in range(2)]
        self.turn = self.posts = 0

    def _next(self) -> TestClient:
        self.turn += 1
        return self.apps[self.turn % 2]

    def post(self, path, **kw):
        self.posts += 1
        return self._next().post(path, **kw)

    def delete(self, path, **kw):
        return self._next().delete(path, **kw)

    def count(self, event: str) -> int:
        return sum(a.app.state.store.snapshots[event] for a in self.apps)


@pytest.fixture(scope="module")
def alternating():
    with redis_server() as url:
        yield Alternating(url)


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_fuzzed_sessions_through_a_snapshot_at_every_call_agree_with_torch(alternating,
                                                                         case):
    """tests/test_service_fuzz.py's random graphs, hooks, retain_grad and retain_graph /
    create_graph call sequences, each call on the other replica, from a snapshot."""
    loaded, posts, replayed = alternating.count("loaded"), alternating.posts, sum(
        a.app.state.store.replayed for a in alternating.apps)
    problems = run_case(alternating, case)
    assert not problems, problems
    assert alternating.count("refused") == alternating.count("corrupt") == 0
    # each call after the first (which made the session) caught up running at most one
    # entry (snapshot_every), the first of them from the snapshot written at creation
    calls = alternating.posts - posts - 1
    assert alternating.count("loaded") - loaded >= min(calls, 1)
    assert sum(a.app.state.store.replayed for a in alternating.apps) - replayed <= calls
