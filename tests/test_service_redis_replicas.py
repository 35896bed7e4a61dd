"""Several replicas over one Redis, started from docker/compose.yaml's own commands and
environment (the file cannot drift from what is tested): two `autograd-service` processes
and one `redis-server` with append-only persistence, on free ports; both replicas are called
directly (tests/test_proxy_failover.py puts docker/nginx.conf in front of them). Each test
is one scenario of sessions shared through Redis."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from support.proxy_harness import compose_env
from support.service_server import ROOT, TEST_ENV, as_numpy, check_problem, free_port

if shutil.which("redis-server") is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI: redis-server must be installed")
    pytest.skip("redis-server is not installed", allow_module_level=True)
yaml = pytest.importorskip("yaml")

COMPOSE = yaml.safe_load((Path(ROOT) / "docker" / "compose.yaml").read_text())
PLUS = [{"id": "x", "op": "tensor", "data": [1.0, 2.0], "requires_grad": True},
        {"id": "y", "op": "mul", "args": ["x", 3.0]}, {"id": "s", "op": "sum", "args": ["y"]}]


def test_compose_file():
    s = COMPOSE["services"]
    assert s["api"]["deploy"]["replicas"] == 2
    assert "--appendonly" in s["redis"]["command"]
    assert s["redis"]["command"][s["redis"]["command"].index("--appendonly") + 1] == "yes"
    assert s["nginx"]["ports"] == ["${AUTOGRAD_PUBLISH:-127.0.0.1:8000}:8000"]
    assert s["api"]["environment"]["AUTOGRAD_STORE"].startswith("redis://redis:6379")
    dockerfile = (Path(ROOT) / "docker" / "Dockerfile").read_text()
    assert "USER autograd" in dockerfile and "HEALTHCHECK" in dockerfile
    assert dockerfile.count("FROM ") >= 2 and "[test]" not in dockerfile


class Redis:
    """redis-server as compose runs it, on a free port, its AOF in a temporary dir."""

    def __init__(self):
        self.port, self.dir = free_port(), tempfile.mkdtemp()
        self.start()

    def start(self):
        cmd = [*COMPOSE["services"]["redis"]["command"], "--port", str(self.port),
               "--bind", "127.0.0.1", "--dir", self.dir]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        import redis
        self.client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


class Replica:
    """`autograd-service` with compose's command and environment (the store pointed at
    the test's Redis, the port at a free one)."""

    def __init__(self, store, env=None):
        api = COMPOSE["services"]["api"]
        cmd = list(api["command"])
        if shutil.which(cmd[0]) is None and not os.environ.get("CI"):
            cmd[:1] = [sys.executable, "-m", "service"]  # its entry point, not pip-installed
        self.port = free_port()
        cmd[cmd.index("--port") + 1] = str(self.port)
        cmd[cmd.index("--host") + 1] = "127.0.0.1"
        full = {**os.environ, **TEST_ENV, **compose_env("api", {}), "AUTOGRAD_STORE": store,
                **(env or {})}
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.stderr()
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "replica did not become ready"
            time.sleep(0.05)
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, check=True):
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if check:
            assert "Traceback" not in self.stderr(), self.stderr()[-4000:]


@contextlib.contextmanager
def cluster(env=None, n=2):
    redis = Redis()
    replicas = [Replica(redis.url, env) for _ in range(n)]
    try:
        yield redis, replicas
    finally:
        for r in replicas:
            r.stop(check=r.proc.returncode is None)
        with contextlib.suppress(Exception):
            redis.stop()
        shutil.rmtree(redis.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def two():
    with cluster() as c:
        yield c


def new_session(replica, nodes=PLUS):
    r = replica.http.post("/sessions", json={"graph": {"nodes": nodes}})
    assert r.status_code == 201, r.text
    return r.json()["session"]["id"]


def grad_x(replica, sid):
    r = replica.http.get(f"/sessions/{sid}/tensors/x.grad")
    assert r.status_code == 200, r.text
    return as_numpy(r.json())


def test_create_on_a_backward_on_b_read_on_a(two):
    _, (a, b) = two
    sid = new_session(a)
    check_problem(a.http.get(f"/sessions/{sid}/tensors/x.grad"), 422)  # no grad yet
    r = b.http.post("/backward", json={"session": sid, "tensors": "s", "retain_graph": True})
    assert r.status_code == 200, r.text
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(grad_x(a, sid), x.grad.numpy())
    # B freed nothing (retain_graph); now a backward without it on A frees; B sees that
    assert a.http.post("/backward", json={"session": sid, "tensors": "s"}).status_code == 200
    check_problem(b.http.post("/backward", json={"session": sid, "tensors": "s"}), 409)
    np.testing.assert_array_equal(grad_x(b, sid), 2 * x.grad.numpy())


def test_64_concurrent_backward_calls_across_two_replicas(two):
    _, (a, b) = two
    sid = new_session(a)
    results = []

    def call(i):
        with httpx.Client(base_url=(a, b)[i % 2].url, timeout=120) as c:
            r = c.post("/backward", json={"session": sid, "tensors": "s",
                                          "retain_graph": True})
            results.append((r.status_code, r.text[:200]))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s == 200 for s, _ in results), [r for r in results if r[0] != 200][:3]
    np.testing.assert_array_equal(grad_x(a, sid), [64 * 3.0, 64 * 3.0])
    np.testing.assert_array_equal(grad_x(b, sid), [64 * 3.0, 64 * 3.0])


def test_warm_replica_does_not_replay(two):
    """In this process: two stores over the test's Redis, as two replicas would be."""
    from service.run.workspace import Workspace
    from service.sessions.redis_store import RedisStore
    from service.settings import Settings
    redis, _ = two
    a, b = (RedisStore(Settings(store=redis.url)) for _ in range(2))
    s = a.create("", Workspace())
    s.record("nodes", nodes=PLUS)
    from service.schemas import Node
    s.ws.add_nodes([Node.model_validate(n) for n in PLUS], _budget())
    a.update(s)
    for _ in range(3):
        sb = b.get(s.id, "")
        with sb.lock:
            sb.record("zero_grad")
            sb.ws.zero_grad()
            b.update(sb)
    assert b.replayed == 1 and a.replayed == 0  # b replayed the nodes once, then stayed warm
    with a.get(s.id, "").lock:
        pass
    assert a.replayed == 3  # a catches up with b's three entries, only those
    with a.get(s.id, "").lock:
        pass
    assert a.replayed == 3


def _budget():
    from service.budget import Budget
    from service.settings import Settings
    return Budget(Settings())


def test_kill_9_a_replica_mid_series():
    """A is killed while it is busy with a stream of calls; B goes on. Every answered call
    counts once; the one call A may have been running when it died counts once or not at
    all (it committed or it did not: never half), never twice."""
    with cluster() as (_, (a, b)):
        sid = new_session(a)
        counts = {"a": 0, "b": 0, "in_doubt": 0}
        body = {"session": sid, "tensors": "s", "retain_graph": True}

        def hammer(replica, name):
            while True:
                try:
                    r = replica.http.post("/backward", json=body)
                except httpx.ConnectError:
                    return  # never sent: a dead replica
                except httpx.HTTPError:
                    counts["in_doubt"] += 1  # sent, no answer: A died under it
                    return
                assert r.status_code == 200, r.text
                counts[name] += 1
                if name == "b" and counts["b"] >= 40:
                    return

        threads = [threading.Thread(target=hammer, args=(a, "a")),
                   threading.Thread(target=hammer, args=(b, "b"))]
        for t in threads:
            t.start()
        while counts["a"] < 10:
            time.sleep(0.005)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        for t in threads:
            t.join()
        assert counts["b"] == 40 and counts["in_doubt"] <= 1
        got = grad_x(b, sid)[0] / 3.0
        done = counts["a"] + counts["b"]
        assert got in (done, done + counts["in_doubt"]), (got, counts)
        r = b.http.post("/backward", json=body)  # and B carries on
        assert r.status_code == 200 and grad_x(b, sid)[0] / 3.0 == got + 1


def test_redis_restart_with_aof_keeps_the_session(two):
    redis, (a, b) = two
    sid = new_session(a)
    assert a.http.post("/backward", json={"session": sid, "tensors": "s",
                                          "retain_graph": True}).status_code == 200
    redis.stop()
    check_problem(b.http.post("/backward", json={"session": sid, "tensors": "s"}), 503)
    redis.start()
    for _ in range(50):  # the pool reconnects
        r = b.http.post("/backward", json={"session": sid, "tensors": "s",
                                           "retain_graph": True})
        if r.status_code != 503:
            break
        time.sleep(0.1)
    assert r.status_code == 200, r.text
    np.testing.assert_array_equal(grad_x(a, sid), [6.0, 6.0])


def test_redis_down_is_503_with_retry_after():
    with cluster(n=1) as (redis, (a,)):
        sid = new_session(a)
        redis.stop()
        for r in (a.http.post("/backward", json={"session": sid, "tensors": "s"}),
                  a.http.get(f"/sessions/{sid}"),
                  a.http.post("/sessions", json={"graph": {"nodes": PLUS}})):
            check_problem(r, 503)
            assert r.headers["Retry-After"]


def test_redis_out_of_memory_is_503_and_writes_nothing(two):
    redis, (a, b) = two
    sid = new_session(a)
    redis.client.config_set("maxmemory", "1")
    try:
        r = b.http.post("/backward", json={"session": sid, "tensors": "s",
                                           "retain_graph": True})
        check_problem(r, 503)
        assert "maxmemory" in r.json()["detail"] and r.headers["Retry-After"]
    finally:
        redis.client.config_set("maxmemory", "0")
    check_problem(b.http.get(f"/sessions/{sid}/tensors/x.grad"), 422)  # nothing was written
    assert a.http.post("/backward", json={"session": sid, "tensors": "s"}).status_code == 200
    np.testing.assert_array_equal(grad_x(b, sid), [3.0, 3.0])  # exactly one contribution


def test_ttl_expiry_is_redis_own():
    with cluster({"AUTOGRAD_SESSION_TTL_SECONDS": "1"}, n=1) as (redis, (a,)):
        sid = new_session(a)
        assert redis.client.pttl(f"autograd:s:{sid}:log") > 0
        time.sleep(1.3)
        assert not redis.client.exists(f"autograd:s:{sid}:meta")
        check_problem(a.http.get(f"/sessions/{sid}"), 404)


def test_caps_hold_across_replicas():
    with cluster({"AUTOGRAD_MAX_SESSIONS": "3", "AUTOGRAD_MAX_SESSION_BYTES": "4000"}) as (
            _, (a, b)):
        for r in (a, b, a):
            new_session(r)
        for r in (a, b):
            body = check_problem(r.http.post("/sessions", json={"graph": {"nodes": PLUS}}), 429)
            assert body["limit"] == "max_sessions" and r.http.get("/metrics").status_code == 200
        big = [{"id": "x", "op": "zeros", "args": [[2000]]}]
        check_problem(a.http.post("/sessions", json={"graph": {"nodes": big}}), 413)
    with cluster({"AUTOGRAD_API_KEYS": "k1,k2", "AUTOGRAD_KEY_MAX_SESSIONS": "2"}) as (
            _, (a, b)):
        for r, key in ((a, "k1"), (b, "k1"), (a, "k2")):
            assert r.http.post("/sessions", json={"graph": {"nodes": PLUS}},
                               headers={"X-API-Key": key}).status_code == 201
        r = b.http.post("/sessions", json={"graph": {"nodes": PLUS}}, headers={"X-API-Key": "k1"})
        assert check_problem(r, 429)["limit"] == "key_max_sessions"


def test_corrupted_or_foreign_values(two):
    redis, (a, b) = two
    sid = new_session(a)
    redis.client.rpush(f"autograd:s:{sid}:log", b"\x80not json")
    body = check_problem(b.http.get(f"/sessions/{sid}"), 500)
    assert "corrupted" in body["detail"] and body["type"].endswith("session-corrupt")
    assert b.http.delete(f"/sessions/{sid}").status_code == 204
    sid2 = new_session(a)
    redis.client.rpush(f"autograd:s:{sid2}:log", b'{"kind": "nodes", "nodes": [{"op": 1}]}')
    check_problem(b.http.get(f"/sessions/{sid2}"), 500)
    for key, value in (("autograd:s:s_foreign:meta", None), ("autograd:s:s_other:meta", "x")):
        if value is None:
            redis.client.hset(key, mapping={"owner": "", "format": "pickle"})
        else:
            redis.client.set(key, value)
        sid3 = key.split(":")[2]
        body = check_problem(a.http.get(f"/sessions/{sid3}"), 500)
        assert "not a session of this service" in body["detail"]
    assert a.http.get("/readyz").status_code == 200  # nothing crashed


def test_idempotency_key_across_replicas(two):
    """A retry with the same Idempotency-Key that lands on the other replica gets the
    first answer (the same bytes) and accumulates once; a different body with the key is
    a 422; the key and answer survive a cold replica (written with the log entry)."""
    redis, (a, b) = two
    sid = new_session(a)
    call = {"session": sid, "tensors": "s", "retain_graph": True}
    first = a.http.post("/backward", json=call, headers={"Idempotency-Key": "k-1"})
    retry = b.http.post("/backward", json=call, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == retry.status_code == 200, retry.text
    assert first.content == retry.content
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    s = (x * 3.0).sum()
    s.backward(retain_graph=True)  # once, whatever the retries
    np.testing.assert_array_equal(grad_x(a, sid), x.grad.numpy())
    np.testing.assert_array_equal(grad_x(b, sid), x.grad.numpy())
    check_problem(b.http.post("/backward", json={**call, "inputs": ["x"]},
                              headers={"Idempotency-Key": "k-1"}), 422)
    # binary answers come back byte for byte too, from either replica
    bin_call = {**call, "encoding": "binary"}
    one = b.http.post("/backward", json=bin_call, headers={"Idempotency-Key": "k-2"})
    two_ = a.http.post("/backward", json=bin_call, headers={"Idempotency-Key": "k-2"})
    assert one.status_code == two_.status_code == 200
    assert one.content == two_.content and one.headers.get("content-type") == \
        two_.headers.get("content-type")
    s.backward(retain_graph=True)
    np.testing.assert_array_equal(grad_x(a, sid), x.grad.numpy())
    # the session's graph_hash is the same from either replica, before and after a PUT
    assert a.http.get(f"/sessions/{sid}").json()["graph_hash"] == \
        b.http.get(f"/sessions/{sid}").json()["graph_hash"] == first.json()["graph_hash"]
    put = a.http.put(f"/sessions/{sid}/tensors/x", json=[5.0, 6.0]).json()["graph_hash"]
    assert put != first.json()["graph_hash"]
    assert b.http.get(f"/sessions/{sid}").json()["graph_hash"] == put
    # the records are in Redis with the session's expiry, and go with it
    assert redis.client.hexists(f"autograd:s:{sid}:idem", "k-1")
    assert redis.client.pttl(f"autograd:s:{sid}:idem") > 0
    assert a.http.delete(f"/sessions/{sid}").status_code == 204
    assert not redis.client.exists(f"autograd:s:{sid}:idem", f"autograd:s:{sid}:idem_order")


def test_rate_limit_holds_across_replicas():
    # one bucket per key in Redis: 3 requests of burst, shared by both replicas (a bucket per
    # process would let each replica take 3); another key has its own bucket
    env = {"AUTOGRAD_API_KEYS": "k1,k2", "AUTOGRAD_KEY_REQUESTS_PER_SECOND": "0.1",
           "AUTOGRAD_KEY_BURST": "3"}
    with cluster(env) as (redis, (a, b)):
        k1, k2 = {"X-API-Key": "k1"}, {"X-API-Key": "k2"}
        for r in (a, b, a):
            assert r.http.get("/sessions/s_unknown", headers=k1).status_code == 404
        refused = b.http.get("/sessions/s_unknown", headers=k1)
        body = check_problem(refused, 429)
        assert body["limit"] == "key_requests_per_second" and int(
            refused.headers["retry-after"]) >= 1
        assert check_problem(a.http.get("/sessions/s_unknown", headers=k1), 429)
        assert b.http.get("/sessions/s_unknown", headers=k2).status_code == 404
        # Redis down: the replica's own bucket decides (k2 has taken 1 of its 3 here), so a
        # one-shot request, which needs no store, is still answered
        redis.stop()
        one_shot = {"graph": {"nodes": PLUS}, "outputs": "s", "inputs": "x"}
        assert b.http.post("/grad", json=one_shot, headers=k2).status_code == 200
