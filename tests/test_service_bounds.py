"""Per-process caches have caps (issue 6: resident memory must not grow beyond them under
a soak): the Redis store's live sessions per replica (count and bytes), the stored
Idempotency-Key answers per session, and the metrics' label sets."""

import shutil

import numpy as np
import pytest
import torch
from support.service_server import api, require_program, server_url  # noqa: F401 (fixtures)

from service.budget import Budget
from service.run.workspace import Workspace
from service.schemas import Node
from service.settings import Settings


def NODES(k: int) -> list[dict]:
    return [{"id": "x", "op": "tensor", "data": [float(k)] * 1000, "requires_grad": True},
            {"id": "y", "op": "mul", "args": ["x", "x"]}, {"id": "s", "op": "sum", "args": ["y"]}]


@pytest.fixture
def redis_url():
    require_program("redis-server")
    from test_service_redis_replicas import Redis
    redis = Redis()
    try:
        yield redis.url
    finally:
        redis.stop()
        shutil.rmtree(redis.dir, ignore_errors=True)


def _make(store, k):
    settings = store.settings
    s = store.create("", Workspace())
    s.record("nodes", nodes=NODES(k))
    s.ws.add_nodes([Node.model_validate(n) for n in NODES(k)], Budget(settings))
    store.update(s)
    return s.id


def test_replica_cache_is_bounded_by_count_and_bytes(redis_url):
    from service.sessions.redis_store import RedisStore
    a = RedisStore(Settings(store=redis_url, replica_cache_sessions=3))
    sids = [_make(a, k) for k in range(6)]
    assert list(a._live) == sids[-3:] and a.dropped == 3  # the least recently used went
    a.get(sids[3], "")  # used again: now the most recent
    assert list(a._live) == [sids[4], sids[5], sids[3]]
    # a dropped session is replayed from its log when used again, with its values
    before = a.replayed
    s0 = a.get(sids[0], "")
    with s0.lock:
        s0.record("backward", tensors="s")
        from service.run import compute
        from service.schemas import BackwardRequest
        compute.backward(s0.ws, BackwardRequest(tensors="s"), Budget(a.settings))
        a.update(s0)
        grad = s0.ws.ref("x.grad", "name").numpy()
    assert a.replayed > before and len(a._live) == 3
    x = torch.full((1000,), 0.0, requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(grad, x.grad.numpy())
    # bytes: each replayed session holds x and y (8,004 bytes): a cap of 20,000 keeps two
    b = RedisStore(Settings(store=redis_url, replica_cache_bytes=20_000))
    for sid in sids[1:]:
        with b.get(sid, "").lock:  # replays it: its bytes now count
            pass
        assert sum(s.nbytes for s in b._live.values()) <= 20_000
    assert [s.nbytes for s in b._live.values()] == [8004, 8004] and b.dropped == 3


# Idempotency answers per session (AUTOGRAD_IDEMPOTENCY_KEYS): tests/test_service_idempotency.py


def test_metrics_labels_come_from_bounded_sets(api):  # noqa: F811
    # methods HTTP parsers accept (httptools refuses unknown ones before the app sees them)
    for k, method in enumerate(["PROPFIND", "MKCOL", "LOCK", "UNLOCK", "PURGE"]):
        api.request(method, f"/nowhere/{k}")
        api.get(f"/sessions/s_unknown{k}")
    text = api.get("/metrics").text
    assert "PROPFIND" not in text and "MKCOL" not in text and "/nowhere" not in text and "s_unknown" not in text
    assert 'method="other"' in text
