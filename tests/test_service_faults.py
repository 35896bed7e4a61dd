"""Faults: the Redis store stops and comes back. While it is down, session requests get a
503 with Retry-After (never a 500 or a hang) and stateless requests still work; once it is
back the service serves sessions again (this Redis keeps no data across restarts, so the
sessions of before are gone: their durability is Redis's own, e.g. appendonly)."""

import contextlib
import os
import shutil
import subprocess
import time

import httpx
import pytest
from support.service_server import (
    check_problem,
    free_port,
    require_program,
    running_server,
    start_redis,
)
from support.small_graphs import PLUS

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed")


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


def test_kill_9_a_replica_loses_no_completed_step():
    """Two replicas share Redis; a session trained on replica A, A killed with SIGKILL:
    replica B continues the session with every step A answered 200 for."""
    import signal
    import sys

    from support.service_server import ROOT
    port = free_port()
    redis_proc = start_redis(port)
    store = {"AUTOGRAD_STORE": f"redis://127.0.0.1:{port}/0"}
    a_port = free_port()
    a = subprocess.Popen([sys.executable, "-m", "service", "--port", str(a_port),
                          "--log-level", "warning"], cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL,
                         env={**os.environ, **store, "PYTHONPATH": ROOT})
    try:
        a_url = f"http://127.0.0.1:{a_port}"
        for _ in range(300):
            try:
                if httpx.get(a_url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with running_server(store) as b_url:
            r = httpx.post(a_url + "/sessions", json={"graph": {"nodes": PLUS[:1]}})
            sid = r.json()["session"]["id"]
            for k in range(5):  # five steps on A, each appending nodes then backward
                r = httpx.post(a_url + "/backward", json={
                    "session": sid, "tensors": f"s{k}", "graph": {"nodes": [
                        {"id": f"y{k}", "op": "mul", "args": ["x", float(k + 1)]},
                        {"id": f"s{k}", "op": "sum", "args": [f"y{k}"]}]}})
                assert r.status_code == 200, r.text
            a.send_signal(signal.SIGKILL)
            a.wait(timeout=10)
            r = httpx.get(f"{b_url}/sessions/{sid}")
            assert r.status_code == 200, r.text
            assert r.json()["grads"]["x"]["data"] == [15.0, 15.0]  # 1+2+3+4+5
            r = httpx.post(b_url + "/backward", json={"session": sid, "tensors": "s4"})
            assert r.status_code == 409  # A's last walk freed its graph, as torch would
            r = httpx.post(b_url + "/backward", json={
                "session": sid, "tensors": "s5", "graph": {"nodes": [
                    {"id": "s5", "op": "sum", "args": ["x"]}]}})
            assert r.json()["grads"]["x"]["data"] == [16.0, 16.0]
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
        redis_proc.terminate()
        redis_proc.wait(timeout=10)


def _trickle(socks, stop, byte=b" "):
    """One byte a second on every socket: a slow-loris client."""
    while not stop.wait(1.0):
        for s in socks:
            with contextlib.suppress(OSError):
                s.send(byte)


def test_slow_loris_clients_do_not_block_others_and_are_cut():
    """30 connections send headers and then their body one byte a second: the server keeps
    answering everyone else promptly, and each slow body gets a 408 problem once
    AUTOGRAD_BODY_TIMEOUT_SECONDS (2 here) have passed, and its connection is closed."""
    import socket
    import threading
    import urllib.parse

    with running_server({"AUTOGRAD_BODY_TIMEOUT_SECONDS": "2"}) as url:
        host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
        stalled, stop = [], threading.Event()
        trickler = threading.Thread(target=_trickle, args=(stalled, stop), daemon=True)
        try:
            t_open = time.monotonic()
            for _ in range(30):
                s = socket.create_connection((host, port))
                s.sendall(b"POST /backward HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          b"application/json\r\nContent-Length: 100000\r\n\r\n{\"gra")
                stalled.append(s)
            trickler.start()
            t0 = time.monotonic()
            for _ in range(20):
                r = httpx.post(url + "/backward", json={"graph": {"nodes": PLUS},
                                                        "tensors": "s"}, timeout=10)
                assert r.status_code == 200
            assert time.monotonic() - t0 < 10
            for s in stalled:  # each is answered 408, then closed by the server
                s.settimeout(15)
                answer = b""
                # A byte trickled just as the server closes is unread there, so the close
                # is a reset rather than a FIN; it comes after the whole answer.
                with contextlib.suppress(ConnectionResetError):
                    while chunk := s.recv(65536):
                        answer += chunk
                head, _, body = answer.partition(b"\r\n\r\n")
                assert f"content-length: {len(body)}".encode() in head.lower(), answer[:300]
                assert head.startswith(b"HTTP/1.1 408"), answer[:300]
                assert b"application/problem+json" in head and b"connection: close" in head.lower()
                assert b"AUTOGRAD_BODY_TIMEOUT_SECONDS" in body
            took = time.monotonic() - t_open
            assert 2 <= took < 15, took
        finally:
            stop.set()
            for s in stalled:
                s.close()


def test_nginx_cuts_slow_headers():
    """In front of the service, docker/nginx.conf's client_header_timeout (2 s here) drops
    clients that send their headers one byte a second; others are answered meanwhile."""
    import socket
    import tempfile
    import threading
    from pathlib import Path

    from benchmarks.load import nginx_config
    nginx = require_program("nginx")
    with running_server() as url, tempfile.TemporaryDirectory() as tmp:
        listen = free_port()
        conf = nginx_config([int(url.rsplit(":", 1)[1])], listen, Path(tmp))
        assert "client_header_timeout 10s;" in conf
        conf = conf.replace("client_header_timeout 10s;", "client_header_timeout 2s;")
        (Path(tmp) / "nginx.conf").write_text(conf)
        proc = subprocess.Popen([nginx, "-p", tmp, "-c", f"{tmp}/nginx.conf", "-g",
                                 "daemon off;"], stderr=subprocess.DEVNULL)
        stalled, stop = [], threading.Event()
        try:
            lb = f"http://127.0.0.1:{listen}"
            for _ in range(100):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(lb + "/readyz", timeout=1).status_code == 200:
                        break
                time.sleep(0.05)
            t0 = time.monotonic()
            for _ in range(20):
                s = socket.create_connection(("127.0.0.1", listen))
                s.sendall(b"POST /backward HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                stalled.append(s)
            threading.Thread(target=_trickle, args=(stalled, stop, b"a"), daemon=True).start()
            for _ in range(10):
                r = httpx.post(lb + "/backward", json={"graph": {"nodes": PLUS},
                                                       "tensors": "s"}, timeout=10)
                assert r.status_code == 200
            for s in stalled:  # nginx closes each (it answers nothing to a half header)
                s.settimeout(15)
                with contextlib.suppress(ConnectionResetError):
                    while s.recv(65536):
                        pass
            assert 2 <= time.monotonic() - t0 < 15
        finally:
            stop.set()
            for s in stalled:
                s.close()
            proc.terminate()
            proc.wait(timeout=10)


def test_redis_at_maxmemory_is_503_then_recovers():
    """Redis full (maxmemory, noeviction): session writes get 503 with Retry-After, never a
    500; deleting sessions frees room and writes work again."""
    port = free_port()
    proc = start_redis(port, "--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
    try:
        big = [{"id": "x", "op": "tensor", "requires_grad": True, "data": [0.5] * 50_000}]
        with running_server({"AUTOGRAD_STORE": f"redis://127.0.0.1:{port}/0"}) as url, \
                httpx.Client(base_url=url, timeout=30) as api:
            sids, full = [], None
            for _ in range(40):
                r = api.post("/sessions", json={"graph": {"nodes": big}})
                if r.status_code != 201:
                    full = r
                    break
                sids.append(r.json()["session"]["id"])
            assert full is not None and sids, "redis never filled up"
            check_problem(full, 503)
            assert full.headers["Retry-After"] == "1"
            for sid in sids:
                api.delete(f"/sessions/{sid}")
            assert api.post("/sessions", json={"graph": {"nodes": PLUS}}).status_code == 201
    finally:
        proc.terminate()
        proc.wait(timeout=10)
