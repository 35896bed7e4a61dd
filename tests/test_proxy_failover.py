"""docker/nginx.conf itself in front of replicas that are killed, stopped, frozen out and
scaled under load (tests/support/proxy_harness.py says what stands in for Docker: a DNS
stub for "api", loopback addresses for the containers). Each test prints what it
measured."""

import contextlib
import os
import re
import shutil
import signal
import socket
import threading
import time

import httpx
import numpy as np
import pytest
from support.proxy_harness import DnsStub, Nginx, Replica, compose_env, loopback_net
from support.service_server import as_numpy, check_problem, redis_server

if shutil.which("nginx") is None or shutil.which("redis-server") is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI: nginx and redis-server must be installed")
    pytest.skip("nginx or redis-server is not installed", allow_module_level=True)

MAX_BODY = 200_000  # AUTOGRAD_MAX_BODY_BYTES, given to both as compose does
PLUS = [{"id": "x", "op": "tensor", "data": [1.0, 2.0], "requires_grad": True},
        {"id": "y", "op": "mul", "args": ["x", 3.0]}, {"id": "s", "op": "sum", "args": ["y"]}]
# about a second of compute with a tiny answer: eight 600x600 matmuls scaled by a leaf w
SLOW = [{"id": "w", "op": "tensor", "data": 0.001, "requires_grad": True},
        {"id": "a", "op": "randn", "args": [600, 600], "kwargs": {"seed": 1}},
        {"id": "h", "op": "mul", "args": ["a", "w"]},
        *[{"id": "h", "op": "matmul", "args": ["h", "a"]} for _ in range(6)],
        {"id": "s", "op": "sum", "args": ["h"]}]


class Stack:
    """Redis, the DNS stub, replicas on NET.2, NET.3, ... and nginx on NET.1:8000."""

    def __init__(self, redis_url: str, replicas: int):
        self.net = loopback_net()
        shell = {"AUTOGRAD_MAX_BODY_BYTES": str(MAX_BODY)}
        self.env = {**compose_env("api", shell),
                    "AUTOGRAD_STORE": redis_url}  # redis://redis:6379/0, host substituted
        self.dns = DnsStub(self.net + ".1")
        self.replicas = {}
        for i in range(replicas):
            self.add(i + 2)
        self.nginx = Nginx(self.dns.address, self.net + ".1", compose_env("nginx", shell))
        self.url = self.nginx.url

    def add(self, n: int) -> Replica:
        """Scale up: start a replica on NET.n and list it in the DNS."""
        r = self.replicas[n] = Replica(f"{self.net}.{n}", self.env)
        self.dns.addresses = [*self.dns.addresses, r.host]
        return r

    def unlist(self, n: int):
        self.dns.addresses = [a for a in self.dns.addresses if a != f"{self.net}.{n}"]

    def upstreams(self, since: int = 0) -> list[str]:
        """The replica addresses nginx's access log names, one per request (the last try)."""
        lines = self.nginx.access_log()[since:]
        return [tried(x)[-1].removesuffix(":8000") for x in lines]

    def close(self):
        self.nginx.stop()
        for r in self.replicas.values():
            r.stop(signal.SIGKILL)
        self.dns.close()


def tried(line: str) -> list[str]:
    """The addresses nginx tried for the request of an access-log line, in order."""
    return re.search(r" upstream=(.*?) upstream_status=", line).group(1).split(", ")


@contextlib.contextmanager
def stack(replicas=2):
    with redis_server() as url:
        s = Stack(url, replicas)
        try:
            yield s
        finally:
            s.close()


class Load:
    """``threads`` clients posting ``body`` to /backward through nginx until stopped;
    records (start, end, status or the transport error's name, answer)."""

    def __init__(self, url: str, body: dict, threads: int = 4):
        self.url, self.body, self.results, self.stop = url, body, [], threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        with httpx.Client(base_url=self.url, timeout=60) as c:
            while not self.stop.is_set():
                t0 = time.monotonic()
                try:
                    r = c.post("/backward", json=self.body)
                    out = (r.status_code, r)
                except httpx.HTTPError as e:
                    out = (type(e).__name__, None)
                self.results.append((t0, time.monotonic(), *out))

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)
        return self.results


@pytest.fixture(scope="module")
def shared():
    """Two replicas for the tests that change nothing."""
    with stack(2) as s:
        yield s


def logged_line(nginx, needle: str) -> str:
    """nginx's access-log line holding ``needle``: nginx writes it after the answer has
    gone, so a client may read the log before it is there (waited for, up to 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in nginx.access_log() if needle in line]
        if lines or time.monotonic() > deadline:
            return lines[-1] if lines else ""
        time.sleep(0.05)


def test_request_id_kept_and_logged_forwarded_for_sent(shared):
    s = shared
    r = httpx.get(s.url + "/readyz", headers={"X-Request-ID": "trace-42.a:b",
                                              "X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "trace-42.a:b"
    assert "request=trace-42.a:b" in logged_line(s.nginx, "request=trace-42.a:b")
    a = s.replicas[int(s.upstreams()[-1].rsplit(".", 1)[1])]  # the one that answered
    # the replica logged the same id, and the client's address from X-Forwarded-For
    assert "[request trace-42.a:b] 203.0.113.9:" in a.output()
    # an id that is not sane is replaced, by one id that nginx and the replica share
    r = httpx.get(s.url + "/readyz", headers={"X-Request-ID": "bad id\x01"})
    rid = r.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert f"request={rid}" in logged_line(s.nginx, f"request={rid}")
    a = s.replicas[int(s.upstreams()[-1].rsplit(".", 1)[1])]
    assert f"[request {rid}]" in a.output()


def test_body_limit_is_one_setting_with_problem_json_from_the_proxy(shared):
    s = shared
    big = b'{"graph": {"nodes": []}, "pad": "' + b"x" * MAX_BODY + b'"}'
    r = httpx.post(s.url + "/backward", content=big,
                   headers={"content-type": "application/json", "X-Request-ID": "big-1"})
    body = check_problem(r, 413)
    assert body["limit"] == "max_body_bytes" and str(MAX_BODY) in body["detail"]
    assert r.headers["server"].startswith("nginx") and r.headers["x-request-id"] == "big-1"
    # the replica has the same limit from the same variable: its own 413 says so too
    direct = httpx.post(s.replicas[2].url + "/backward", content=big,
                        headers={"content-type": "application/json"})
    assert check_problem(direct, 413)["limit"] == "max_body_bytes"
    assert f"> {MAX_BODY} " in direct.json()["detail"]
    # just under the limit passes nginx and is the replica's to judge
    ok = b'{"graph": {"nodes": ' + b" " * (MAX_BODY - 100) + b'[]}}'
    r = httpx.post(s.url + "/backward", content=ok,
                   headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert s.upstreams()[-1] in s.dns.addresses  # answered by a replica


def test_session_continues_across_replicas_through_the_proxy(shared):
    s = shared
    with httpx.Client(base_url=s.url, timeout=60) as lb:
        r = lb.post("/sessions", json={"graph": {"nodes": PLUS}})
        assert r.status_code == 201, r.text
        sid = r.json()["session"]["id"]
        for _ in range(8):
            assert lb.post("/backward", json={"session": sid, "tensors": "s",
                                              "retain_graph": True}).status_code == 200
        np.testing.assert_array_equal(as_numpy(lb.get(f"/sessions/{sid}/tensors/x.grad")
                                               .json()), [24.0, 24.0])
        assert len(set(s.upstreams()[-9:])) == 2  # both replicas served it


def test_scale_up_and_down_seen_without_restarting_nginx():
    with stack(1) as s, httpx.Client(base_url=s.url, timeout=60) as lb:
        one = {"graph": {"nodes": PLUS}, "tensors": "s"}
        for _ in range(10):
            assert lb.post("/backward", json=one).status_code == 200
        assert set(s.upstreams()) == {s.net + ".2"}
        s.add(3)  # --scale api=2: the new replica is in the DNS answer
        t0, n = time.monotonic(), len(s.nginx.access_log())
        seen = set()
        while s.net + ".3" not in seen:
            assert lb.post("/backward", json=one).status_code == 200
            seen = set(s.upstreams(n))
            assert time.monotonic() - t0 < 5, "nginx did not pick up the new replica"
        print(f"\nscale up: a new replica got requests {time.monotonic() - t0:.2f} s after "
              "it was listed")
        n = len(s.nginx.access_log())
        for _ in range(30):
            assert lb.post("/backward", json=one).status_code == 200
        counts = {a: s.upstreams(n).count(a) for a in (s.net + ".2", s.net + ".3")}
        assert min(counts.values()) >= 3, counts
        # --scale api=1: Docker drops the replica from its DNS, then stops it (SIGTERM)
        load = Load(s.url, one)
        time.sleep(0.5)
        s.unlist(2)
        time.sleep(1.5)
        s.replicas[2].stop()
        time.sleep(0.5)
        results = load.finish()
        assert [x for x in results if x[2] != 200] == []
        assert s.upstreams()[-5:] == [s.net + ".3"] * 5


def _report(name: str, results: list, t_event: float):
    errors = [x for x in results if x[2] != 200]
    after = [x for x in results if x[0] >= t_event]
    worst = max((x[1] - x[0] for x in after), default=0.0)
    print(f"\n{name}: {len(results)} requests, {len(errors)} errors "
          f"{sorted({str(x[2]) for x in errors})}, slowest after the event {worst:.2f} s")
    return errors, worst


def test_kill_9_a_replica_under_load():
    """kill -9 (and Docker's DNS still naming it, as a restart policy would bring it back
    at the same address): requests it held fail once with nginx's 503 problem; every
    later request is answered by the other replica at once (the port refuses)."""
    with stack(2) as s:
        load = Load(s.url, {"graph": {"nodes": PLUS}, "tensors": "s"})
        time.sleep(1.0)
        t_kill = time.monotonic()
        s.replicas[3].proc.kill()
        time.sleep(2.0)
        results = load.finish()
        errors, worst = _report("kill -9", results, t_kill)
        assert len(errors) <= 4  # at most the requests in flight on it (4 clients)
        for _, _, status, r in errors:
            if status == "RemoteProtocolError":  # the replica died while its answer was
                continue  # on the way: nginx can only cut the client's connection
            assert status == 503 and r.headers["retry-after"] == "1"
            check_problem(r, 503)
        late = [x for x in results if x[0] > t_kill + 0.5]
        assert late and all(x[2] == 200 for x in late)
        assert worst < 3.0


def test_vanished_replica_fails_over_within_the_connect_timeout():
    """A stopped container's address stops answering at all (SYNs go nowhere): it is what
    made nginx wait its 60 s default. Stood in for by a socket whose accept queue is full
    (the kernel drops further SYNs). proxy_connect_timeout 2 s: a request that tries it
    goes to the live replica after 2 s; none fails."""
    with stack(2) as s:
        s.replicas[3].proc.kill()
        s.replicas[3].proc.wait()
        hole = socket.socket()
        hole.bind((s.net + ".3", 8000))
        hole.listen(0)
        fillers = []
        for _ in range(4):  # fill the accept queue (backlog 0 holds one or two)
            c = socket.socket()
            c.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                c.connect((s.net + ".3", 8000))
            fillers.append(c)
        time.sleep(0.2)
        t0 = time.monotonic()
        load = Load(s.url, {"graph": {"nodes": PLUS}, "tensors": "s"})
        time.sleep(6.0)
        results = load.finish()
        errors, worst = _report("vanished replica", results, t0)
        assert errors == []
        assert 1.9 < worst < 4.0  # the connect timeout, then the live replica's answer
        # requests that tried the dead address, then the live one
        assert [x for x in s.nginx.access_log() if len(tried(x)) == 2]
        hole.close()
        for c in fillers:
            c.close()


def test_graceful_stop_finishes_requests_in_flight():
    """SIGTERM (docker stop, scale down, a rolling update): the replica stops accepting,
    and the requests it holds, each about a second of compute, are answered; the others
    go to the other replica. Nothing is lost."""
    with stack(2) as s:
        b = s.replicas[3]
        load = Load(s.url, {"graph": {"nodes": SLOW}, "tensors": "s"}, threads=4)
        held = Load(b.url, {"graph": {"nodes": SLOW}, "tensors": "s"}, threads=2)  # surely held
        time.sleep(3.0)
        held.stop.set()
        t_stop = time.monotonic()
        b.proc.terminate()
        b.proc.wait(timeout=60)
        stopped = time.monotonic() - t_stop
        time.sleep(2.0)
        results = load.finish()
        errors, _ = _report("SIGTERM", results, t_stop)
        direct = held.finish()
        cut = [x for x in direct if x[0] < t_stop < x[1]]
        assert cut and all(x[2] == 200 for x in cut), direct  # those it held: answered
        assert all(x[2] != 200 for x in direct if x[0] > t_stop + 0.2)  # no longer accepting
        served_by_b = [x for x in s.upstreams() if x == s.net + ".3"]
        in_flight = [x for x in results if x[0] < t_stop < x[1]]
        print(f"SIGTERM: the replica exited {stopped:.2f} s after it; {len(cut)} requests "
              f"sent to it directly and {len(in_flight)} through nginx were in flight")
        assert errors == []
        assert served_by_b and b.proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises it


def test_no_replica_is_a_503_problem():
    with stack(1) as s:
        s.replicas[2].stop()
        s.unlist(2)
        time.sleep(1.2)
        r = httpx.post(s.url + "/backward", json={"graph": {"nodes": PLUS}, "tensors": "s"},
                       headers={"X-Request-ID": "none-up"})
        check_problem(r, 503)
        assert r.headers["retry-after"] == "1" and r.headers["x-request-id"] == "none-up"
