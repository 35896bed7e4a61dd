"""The bytes a session holds (the byte caps) are kept call by call (service/run/byte_accounting.py):
after hundreds of calls of every kind they equal a recount from scratch
(``memory.recount``, the definition), the caps trigger where that recount says, and a step
looks at the same few tensors and nodes however old the session is. For both stores; the
Redis ones replay each other's calls as two replicas do."""

import os
import shutil

import pytest
from fastapi.testclient import TestClient
from support.service_server import check_problem, redis_server

from service.http.app import create_app
from service.run import byte_accounting, workspace
from service.run.retained import recount
from service.settings import Settings

HAVE_REDIS = shutil.which("redis-server") is not None
needs_redis = pytest.mark.skipif(not HAVE_REDIS and not os.environ.get("CI"),
                                 reason="redis-server is not installed")

START = [{"id": "w", "op": "tensor", "data": [[0.1 * (i + j) for j in range(3)]
                                               for i in range(4)], "requires_grad": True},
         {"id": "b", "op": "tensor", "data": [0.5, -0.5, 0.25], "requires_grad": True},
         {"id": "x", "op": "tensor", "data": [[1.0, 2.0, 3.0, 4.0], [0.5, 0.0, -1.0, 2.0]]}]
# The benchmark's step: the same ids rebound each call (the old tensors live on in entries)
STEP = [{"id": "h", "op": "matmul", "args": ["x", "w"]},
        {"id": "t", "op": "tanh", "args": ["h"]},
        {"id": "loss", "op": "sum", "args": ["t"]}]


@pytest.fixture(scope="module")
def redis_store():
    with redis_server() as url:
        yield url


@pytest.fixture(autouse=True)
def no_debug_check(monkeypatch):
    """These tests compare with the recount themselves (where it is the point: not after
    every one of the structural tests' steps, which would make them quadratic)."""
    monkeypatch.setattr(workspace, "CHECK_BYTES", False)


def app(store="memory", **limits):
    return TestClient(create_app(Settings(_env_file=None, store=store, **limits)))


def session_of(client, sid):
    """The live Session object of the client's app (either store)."""
    store = client.app.state.store
    live = store._sessions if hasattr(store, "_sessions") else store._live
    return live[sid]


def new_session(client, nodes=START) -> str:
    r = client.post("/sessions", json={"graph": {"nodes": nodes}})
    assert r.status_code == 201, r.text
    return r.json()["session"]["id"]


def assert_counted(client, sid, stored=True):
    """The kept count equals the recount (and is what the store holds for the caps)."""
    session = session_of(client, sid)
    full = recount(session.ws)
    assert session.ws.nbytes() == full
    if stored:
        assert session.nbytes == full


def mixed_call(client, sid, i):
    """Call ``i`` of a session that does a bit of everything the ledger must follow."""
    nodes = []
    if i % 6 == 0:  # an optimizer step in place, under no_grad
        nodes.append({"id": "b", "op": "sub_", "args": ["b", 0.01], "grad_mode": False})
    nodes += [{"id": "h", "op": "matmul", "args": ["x", "w"]},
              {"id": "h", "op": "add", "args": ["h", "b"]},  # rebinds h; the old h lives on
              {"id": "t", "op": "tanh", "args": ["h"]}]
    if i % 7 == 0:  # a multi-output op, one item taken
        nodes += [{"id": "m", "op": "max", "args": ["t", 1]},
                  {"id": "mv", "op": "getitem", "args": ["m", 0]},
                  {"id": "loss", "op": "sum", "args": ["mv"]}]
    else:
        nodes.append({"id": "loss", "op": "sum", "args": ["t"]})
    if i % 13 == 0:  # an in-place op on a view: the base's history changes (a recount)
        nodes += [{"id": "c", "op": "mul", "args": ["h", 1.0]},
                  {"id": "v", "op": "index", "args": ["c", [0]]},
                  {"id": "v", "op": "mul_", "args": ["v", 2.0]}]
    if i % 9 == 0:  # grad, bound in the session, sometimes differentiable again
        r = client.post("/grad", json={"session": sid, "graph": {"nodes": nodes},
                                       "outputs": "loss", "inputs": ["w", "b"],
                                       "as": ["gw", "gb"], "create_graph": i % 2 == 0,
                                       "retain_graph": i % 4 == 0})
    else:
        r = client.post("/backward", json={
            "session": sid, "graph": {"nodes": nodes}, "tensors": "loss",
            "retain_graph": i % 3 == 0, "create_graph": i % 11 == 0,
            "retain_grad": ["t"] if i % 5 == 0 else []})
    assert r.status_code == 200, (i, r.text)
    assert_counted(client, sid)
    if i % 4 == 1:  # the client's optimizer step: PUT new values
        r = client.put(f"/sessions/{sid}/tensors/w",
                       json=[[0.01 * (i % 10) + j for j in range(3)] for _ in range(4)])
        assert r.status_code == 200, r.text
        assert_counted(client, sid)
    if i % 8 == 3:  # backward through a graph freed by the last call: torch's error
        r = client.post("/backward", json={"session": sid, "tensors": "loss"})
        assert r.status_code in (200, 409), r.text  # 200 where it was retained
        assert_counted(client, sid, stored=r.status_code == 200)
    if i % 17 == 0:
        assert client.post(f"/sessions/{sid}/zero_grad").status_code == 200
        assert_counted(client, sid)
    if i % 50 == 49:
        assert client.post(f"/sessions/{sid}/free").status_code == 200
        assert_counted(client, sid)


def test_kept_count_equals_recount_over_a_long_mixed_session(monkeypatch):
    recounts = []  # calls that counted from scratch (then the equality says little)
    of = byte_accounting.Ledger.of.__func__
    monkeypatch.setattr(byte_accounting.Ledger, "of", classmethod(
        lambda cls, tensors: recounts.append(i) or of(cls, tensors)))
    client = app()
    i = -1
    sid = new_session(client)
    assert_counted(client, sid)
    for i in range(300):
        mixed_call(client, sid, i)
    # only the calls the ledger does not follow: the view written in place, zero_grad, free
    assert set(recounts) <= {-1} | {i for i in range(300) if i % 13 == 0 or i % 17 == 0
                                    or i % 50 == 49}, recounts


def steps_looked(client, sid, n, put=True) -> list[int]:
    """Holders the ledger looked at in each of ``n`` more steps (and the ledger is never
    counted again from scratch in a plain training loop)."""
    ws = session_of(client, sid).ws
    ledger = ws._ledger
    out = []
    for i in range(n):
        before = ledger.looked
        r = client.post("/backward", json={"session": sid, "graph": {"nodes": STEP},
                                           "tensors": "loss"})
        assert r.status_code == 200, r.text
        if put:
            r = client.put(f"/sessions/{sid}/tensors/w", json=[[0.1 * i] * 3] * 4)
            assert r.status_code == 200, r.text
        session = session_of(client, sid)
        assert session.ws._ledger is ledger and not ledger.stale
        out.append(ledger.looked - before)
    assert session.nbytes == recount(session.ws)
    return out


def test_a_step_looks_at_what_it_changed_not_the_history():
    client = app()
    sid = new_session(client)
    young = steps_looked(client, sid, 20)
    steps_looked(client, sid, 300, put=False)  # the session holds ~900 more tensors now
    old = steps_looked(client, sid, 20)
    # a recount would look at every tensor and node: thousands by now
    assert max(old) <= max(young) <= 20, (young, old)


def test_the_byte_cap_triggers_at_the_recounted_point():
    grow = [{"id": "h", "op": "mul", "args": ["w", 2.0]},
            {"id": "loss", "op": "sum", "args": ["h"]}]
    client = app()
    sid = new_session(client)
    held = []  # bytes after each call, recounted
    for _ in range(8):
        r = client.post("/backward", json={"session": sid, "graph": {"nodes": grow},
                                           "tensors": "loss", "retain_graph": True})
        assert r.status_code == 200
        held.append(recount(session_of(client, sid).ws))
    assert held == sorted(set(held))  # growing: each call's h and loss are kept
    capped = app(max_session_bytes=held[4])
    sid = new_session(capped)
    for _ in range(5):
        r = capped.post("/backward", json={"session": sid, "graph": {"nodes": grow},
                                           "tensors": "loss", "retain_graph": True})
        assert r.status_code == 200
    r = capped.post("/backward", json={"session": sid, "graph": {"nodes": grow},
                                       "tensors": "loss", "retain_graph": True})
    body = check_problem(r, 413)
    assert body["limit"] == "max_session_bytes"
    assert body["detail"].startswith(f"max_session_bytes exceeded: {held[5]} > {held[4]} ")
    check_problem(capped.get(f"/sessions/{sid}"), 404)  # ended


@pytest.mark.parametrize("limit", ["max_store_bytes", "key_max_bytes"])
def test_store_caps_add_the_kept_counts(limit):
    grow = [{"id": "h", "op": "mul", "args": ["w", 2.0]},
            {"id": "loss", "op": "sum", "args": ["h"]}]
    probe = app()
    sid = new_session(probe)
    other = recount(session_of(probe, new_session(probe)).ws)  # a second, fresh session
    for _ in range(5):
        assert probe.post("/backward", json={"session": sid, "graph": {"nodes": grow},
                                             "tensors": "loss"}).status_code == 200
    after5 = recount(session_of(probe, sid).ws)
    client = app(**{limit: after5 + other})
    sid = new_session(client)
    for _ in range(5):
        assert client.post("/backward", json={"session": sid, "graph": {"nodes": grow},
                                              "tensors": "loss"}).status_code == 200
    assert session_of(client, sid).nbytes == after5
    fits = new_session(client)  # exactly at the cap
    assert client.delete(f"/sessions/{fits}").status_code == 204
    assert client.post("/backward", json={"session": sid, "graph": {"nodes": grow},
                                          "tensors": "loss"}).status_code == 200
    body = check_problem(client.post("/sessions", json={"graph": {"nodes": START}}), 429)
    assert body["limit"] == limit


@needs_redis
def test_redis_replicas_keep_the_count_while_replaying_each_other(redis_store):
    one, two = app(redis_store), app(redis_store)
    sid = new_session(one)
    for i in range(150):  # each call lands on the other replica, which replays the last
        mixed_call(one if i % 2 else two, sid, i)
    cold = app(redis_store)  # a replica that replays the whole log
    for c in (cold, two):  # two replays the last call, one made it
        assert c.get(f"/sessions/{sid}").status_code == 200
    assert session_of(cold, sid).nbytes == recount(session_of(cold, sid).ws) == \
        session_of(one, sid).ws.nbytes() == session_of(two, sid).ws.nbytes()
    one.delete(f"/sessions/{sid}")


@needs_redis
def test_redis_step_looks_at_what_it_changed(redis_store):
    client = app(redis_store)
    sid = new_session(client)
    young = steps_looked(client, sid, 20)
    steps_looked(client, sid, 200, put=False)
    old = steps_looked(client, sid, 20)
    assert max(old) <= max(young) <= 20, (young, old)
    other = app(redis_store)  # a second replica: once warm, it replays one call per step
    assert other.get(f"/sessions/{sid}").status_code == 200
    for i in range(20):
        for c in (client, other):
            ledger = session_of(c, sid).ws._ledger
            before = ledger.looked
            steps_looked(c, sid, 1, put=i % 2 == 0)
            assert session_of(c, sid).ws._ledger is ledger
            assert ledger.looked - before <= 40  # its own step and the other's, replayed
    client.delete(f"/sessions/{sid}")


@needs_redis
def test_redis_byte_cap_triggers_at_the_recounted_point(redis_store):
    grow = [{"id": "h", "op": "mul", "args": ["w", 2.0]},
            {"id": "loss", "op": "sum", "args": ["h"]}]
    probe = app()
    sid = new_session(probe)
    held = []
    for _ in range(6):
        assert probe.post("/backward", json={"session": sid, "graph": {"nodes": grow},
                                             "tensors": "loss"}).status_code == 200
        held.append(recount(session_of(probe, sid).ws))
    one, two = (app(redis_store, max_session_bytes=held[3]) for _ in range(2))
    sid = new_session(one)
    for i in range(4):
        assert (one, two)[i % 2].post("/backward", json={
            "session": sid, "graph": {"nodes": grow}, "tensors": "loss"}).status_code == 200
    r = one.post("/backward", json={"session": sid, "graph": {"nodes": grow},
                                    "tensors": "loss"})
    body = check_problem(r, 413)
    assert body["detail"].startswith(f"max_session_bytes exceeded: {held[4]} > {held[3]} ")
    check_problem(two.get(f"/sessions/{sid}"), 404)
