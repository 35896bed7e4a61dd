"""Attacks on the Redis store (a real redis-server): a frozen Redis, a session history too
long to replay in one request, and one key's sessions pressing another key's out of a
replica's cache (NOTE [bounded replay] in service/sessions/replay.py)."""

from __future__ import annotations

import signal
import time

import httpx
import numpy as np
import pytest
import torch
from support.attacks import healthz_seconds
from support.service_server import (
    check_problem,
    free_port,
    require_program,
    running_server,
    start_redis,
)

from service.budget import Budget
from service.problems import Problem
from service.run import compute
from service.run.workspace import Workspace
from service.schemas import BackwardRequest, Node
from service.sessions.redis_store import RedisStore
from service.settings import Settings

NODES = [{"id": "x", "op": "tensor", "data": [1.5] * 1000, "requires_grad": True},
         {"id": "y", "op": "mul", "args": ["x", "x"]}, {"id": "s", "op": "sum", "args": ["y"]}]


@pytest.fixture
def redis():
    require_program("redis-server")
    port = free_port()
    proc = start_redis(port)
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait(timeout=10)


def _session(store: RedisStore, owner: str) -> str:
    s = store.create(owner, Workspace())
    s.record("nodes", nodes=NODES)
    s.ws.add_nodes([Node.model_validate(n) for n in NODES], Budget(store.settings))
    store.update(s)
    return s.id


def test_a_long_history_is_replayed_in_bounded_steps(redis):
    url, _ = redis
    a = RedisStore(Settings(_env_file=None, store=url, snapshot_every=0))  # the log only
    sid = _session(a, "k")
    session = a.get(sid, "k")
    steps = 300
    for _ in range(steps):
        with session.lock:
            session.record("backward", tensors="s", retain_graph=True)
            compute.backward(session.ws, BackwardRequest(tensors="s", retain_graph=True),
                             Budget(a.settings))
            a.update(session)
    # how long this machine takes to replay the whole history in one request
    t = time.monotonic()
    with RedisStore(Settings(_env_file=None, store=url, snapshot_every=0)).get(sid, "k").lock:
        whole = time.monotonic() - t
    # another replica, whose requests may take a quarter of that: each catch-up stops at its
    # deadline with a 503, keeps what it replayed, and the retries finish the history
    b = RedisStore(Settings(_env_file=None, store=url, compute_seconds=whole / 4,
                            snapshot_every=0))
    tries, longest = 0, 0.0
    while True:
        tries += 1
        t = time.monotonic()
        try:
            with b.get(sid, "k").lock:
                pass
            break
        except Problem as e:
            assert e.status == 503 and "retry" in e.detail, e.detail
        finally:
            longest = max(longest, time.monotonic() - t)
        assert tries < 200
    assert tries > 1 and b.replayed == steps + 1
    assert longest < 1.0  # the deadline and at most one entry past it
    x = torch.full((1000,), 1.5, requires_grad=True)
    for _ in range(steps):
        (x * x).sum().backward(retain_graph=True)
    np.testing.assert_allclose(b.get(sid, "k").ws.ref("x", "x").grad.numpy(),
                               x.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("cap", ["sessions", "bytes"])
def test_one_key_cannot_push_anothers_sessions_out(redis, cap):
    url, _ = redis
    settings = (Settings(_env_file=None, store=url, replica_cache_sessions=8)
                if cap == "sessions" else
                Settings(_env_file=None, store=url, replica_cache_bytes=12 * 8004))
    store = RedisStore(settings)
    mine = [_session(store, "owner") for _ in range(3)]
    theirs = [_session(store, "attacker") for _ in range(60)]
    assert all(sid in store._live for sid in mine)  # the attacker's own went first
    assert theirs[-1] in store._live and len(store._live) <= 12
    before = store.replayed
    for sid in mine:
        with store.get(sid, "owner").lock:
            pass
    assert store.replayed == before  # no replay for the owner


def test_frozen_redis(redis):
    url, proc = redis
    env = {"AUTOGRAD_STORE": url, "AUTOGRAD_MAX_SESSION_CALLS": "5"}
    with running_server(env) as server, httpx.Client(base_url=server, timeout=60) as api:
        r = api.post("/sessions", json={"graph": {"nodes": NODES}})
        sid = r.json()["session"]["id"]
        codes = [api.post(f"/sessions/{sid}/zero_grad").status_code for _ in range(6)]
        assert codes == [200] * 4 + [413] * 2, codes  # the log: nodes + 4 calls
        proc.send_signal(signal.SIGSTOP)
        try:
            t = time.monotonic()
            r = api.get("/readyz")
            # the ping's 2 s deadline (and a margin for a loaded machine)
            assert r.status_code == 503 and time.monotonic() - t < 6
            assert healthz_seconds(server) < 5.0
            one_shot = api.post("/backward", json={"graph": {"nodes": NODES},
                                                   "tensors": "s"})
            assert one_shot.status_code == 200  # needs no store
        finally:
            proc.send_signal(signal.SIGCONT)
        assert api.get("/readyz").status_code == 200
        check_problem(api.post(f"/sessions/{sid}/zero_grad"), 413)
        assert api.get(f"/sessions/{sid}").status_code == 200
