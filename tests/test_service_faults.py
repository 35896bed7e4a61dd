"""Faults: the Redis store stops and comes back. While it is down, session requests get a
503 with Retry-After (never a 500 or a hang) and stateless requests still work; once it is
back the service serves sessions again (this Redis keeps no data across restarts, so the
sessions of before are gone: their durability is Redis's own, e.g. appendonly)."""

import shutil
import subprocess
import time

import httpx
import pytest
from service_server import check_problem, free_port, running_server

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed")
PLUS = [{"id": "x", "op": "tensor", "data": [1.0, 2.0], "requires_grad": True},
        {"id": "y", "op": "add", "args": ["x", 1]}, {"id": "s", "op": "sum", "args": ["y"]}]


def start_redis(port):
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly",
                             "no", "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL)
    import redis
    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def test_redis_restart(tmp_path):
    port = free_port()
    proc = start_redis(port)
    try:
        with running_server({"AUTOGRAD_STORE": f"redis://127.0.0.1:{port}/0"}) as url, \
                httpx.Client(base_url=url, timeout=30) as api:
            r = api.post("/backward", json={"graph": {"nodes": PLUS}, "tensors": "s",
                                            "retain_graph": True})
            sid = r.json()["session"]["id"]
            proc.terminate()
            proc.wait(timeout=10)
            t0 = time.monotonic()
            r = api.post("/backward", json={"session": sid, "tensors": "s"})
            check_problem(r, 503)
            assert r.headers["Retry-After"] == "1" and time.monotonic() - t0 < 10
            check_problem(api.post("/sessions", json={"graph": {"nodes": PLUS}}), 503)
            # a one-shot graph needs no store
            r = api.post("/backward", json={"graph": {"nodes": PLUS}, "tensors": "s"})
            assert r.status_code == 200, r.text
            proc = start_redis(port)  # back, empty (no persistence): the session is gone
            r = api.post("/sessions", json={"graph": {"nodes": PLUS}})
            assert r.status_code == 201, r.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
