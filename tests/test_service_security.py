"""Security promises over HTTP: per-key session isolation on every session route, per-key
quotas (sessions, bytes, requests per second) answered 429 with Retry-After, a request id
on every answer (echoed when the client sent a sane one) and on log lines."""

import logging
import time

import httpx
import pytest
from support.service_server import check_problem, running_server

pytest_plugins = ["support.service_server"]

X = [{"id": "x", "op": "tensor", "data": [1.0, 2.0], "requires_grad": True},
     {"id": "y", "op": "mul", "args": ["x", "x"]}, {"id": "z", "op": "sum", "args": ["y"]}]
K1, K2, K3, K4 = ({"X-API-Key": k} for k in ("key-1", "key-2", "key-3", "key-4"))


@pytest.fixture(scope="module")
def keyed():
    env = {"AUTOGRAD_API_KEYS": "key-1,key-2,key-3,key-4", "AUTOGRAD_KEY_MAX_SESSIONS": "2",
           "AUTOGRAD_KEY_MAX_BYTES": "1000", "AUTOGRAD_KEY_REQUESTS_PER_SECOND": "5",
           "AUTOGRAD_KEY_BURST": "15"}
    with running_server(env) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def test_sessions_are_invisible_to_other_keys(keyed):
    r = keyed.post("/sessions", json={"graph": {"nodes": X}}, headers=K1)
    assert r.status_code == 201, r.text
    sid = r.json()["session"]["id"]
    attempts = [("GET", f"/sessions/{sid}", None), ("POST", f"/sessions/{sid}/zero_grad", None),
                ("GET", f"/sessions/{sid}/tensors/x", None),
                ("PUT", f"/sessions/{sid}/tensors/x", [5.0, 5.0]),
                ("POST", "/backward", {"session": sid, "tensors": "z"}),
                ("POST", "/grad", {"session": sid, "outputs": "z", "inputs": "x"}),
                ("DELETE", f"/sessions/{sid}", None)]
    for method, path, body in attempts:
        r = keyed.request(method, path, json=body, headers=K2)
        body = check_problem(r, 404)
        assert sid not in r.text and "key-1" not in r.text
    # the owner's session is untouched by all of that
    r = keyed.get(f"/sessions/{sid}/tensors/x", headers=K1)
    assert r.status_code == 200 and r.json()["data"] == [1.0, 2.0]
    assert keyed.delete(f"/sessions/{sid}", headers=K1).status_code == 204


def test_per_key_session_and_byte_quotas(keyed):
    for _ in range(2):
        assert keyed.post("/sessions", json={"graph": {"nodes": X}}, headers=K3).status_code == 201
    r = keyed.post("/sessions", json={"graph": {"nodes": X}}, headers=K3)
    body = check_problem(r, 429)
    assert body["limit"] == "key_max_sessions" and int(r.headers["Retry-After"]) >= 1
    # the quota is per key: another key still creates sessions
    big = [{"id": "x", "op": "tensor", "data": [0.5] * 300, "requires_grad": True}]
    r = keyed.post("/sessions", json={"graph": {"nodes": big}}, headers=K4)
    body = check_problem(r, 429)  # 300 float32 + grad > 1000 bytes for this key
    assert body["limit"] == "key_max_bytes" and int(r.headers["Retry-After"]) >= 1
    assert keyed.post("/sessions", json={"graph": {"nodes": X}}, headers=K4).status_code == 201


def test_per_key_request_rate(keyed):
    time.sleep(3.5)  # full buckets
    statuses = [keyed.get("/sessions/s_none", headers=K2) for _ in range(30)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited and statuses[0].status_code == 404
    r = limited[0]
    assert check_problem(r, 429)["limit"] == "key_requests_per_second"
    assert int(r.headers["Retry-After"]) == 1
    # another key is not slowed down by key-2's burst
    assert keyed.get("/sessions/s_none", headers=K1).status_code == 404
    time.sleep(0.5)  # a token is back
    assert keyed.get("/sessions/s_none", headers=K2).status_code == 404


def test_request_ids(api):
    seen = set()
    for method, path in [("GET", "/healthz"), ("GET", "/nowhere"), ("GET", "/backward"),
                         ("POST", "/backward"), ("GET", "/ops")]:
        r = api.request(method, path)
        rid = r.headers["X-Request-ID"]
        assert 16 <= len(rid) <= 128 and rid not in seen
        seen.add(rid)
    r = api.get("/healthz", headers={"X-Request-ID": "client-abc.123"})
    assert r.headers["X-Request-ID"] == "client-abc.123"  # a sane one is echoed
    for insane in ["a" * 500, "two words", "<script>", "ü"]:
        r = api.get("/healthz", headers={"X-Request-ID": insane.encode("utf-8")})
        assert r.headers["X-Request-ID"] != insane and len(r.headers["X-Request-ID"]) == 32


def test_log_lines_carry_the_request_id(caplog):
    from service.http.quotas import REQUEST_ID, install_log_ids
    install_log_ids()
    token = REQUEST_ID.set("req-42")
    try:
        with caplog.at_level(logging.INFO):
            logging.getLogger("service").warning("something about %s", "x")
    finally:
        REQUEST_ID.reset(token)
    assert caplog.records[-1].getMessage() == "[request req-42] something about x"
    assert caplog.records[-1].request_id == "req-42"


def test_keys_are_compared_in_constant_time():
    # the check is code, not a timing measurement (those are flaky on shared machines):
    # every configured key is compared with hmac.compare_digest, without an early exit
    import inspect

    from service.http import bodies
    src = inspect.getsource(bodies.owner)
    assert "hmac.compare_digest" in src and "break" not in src and "return" not in \
        src.split("for k in keys")[1].split("if not ok")[0]


def test_access_log_lines_carry_the_request_id(tmp_path):
    import os
    import subprocess
    import sys

    from support.service_server import ROOT, free_port
    port, log = free_port(), tmp_path / "server.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "service", "--port", str(port),
                                 "--log-level", "info"], cwd=ROOT, stderr=err, stdout=err,
                                env={**os.environ, "PYTHONPATH": ROOT})
        try:
            for _ in range(300):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            r = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "trace-7"})
            fresh = httpx.get(f"http://127.0.0.1:{port}/nowhere").headers["X-Request-ID"]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    text = log.read_text()
    assert r.headers["X-Request-ID"] == "trace-7"
    assert '[request trace-7] 127.0.0.1' in text and "GET /healthz" in text
    assert f"[request {fresh}]" in text
