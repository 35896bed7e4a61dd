"""Load and soak: N concurrent asyncio httpx clients for T seconds on a mixed workload
against one replica (in-memory store) or two replicas sharing a redis-server (behind nginx
with docker/nginx.conf when nginx is installed), then a correctness check.

    python benchmarks/load.py                                # 32 clients, 60 s, 1 replica
    python benchmarks/load.py --replicas 2                   # 2 replicas + Redis (+ nginx)
    python benchmarks/load.py --soak 600                     # 10 min, RSS every 30 s
    python benchmarks/load.py --url http://127.0.0.1:8000    # a running server

Workload (each client draws per request): a one-shot 7-node graph (70%); a session
training step (27%: PUT 16 weights, append the step's nodes, backward; a fresh session every
150 steps); a 250,000-element float32 tensor as base64 through tanh, mul, sum with the
gradient answered in base64 (3%). Every session also holds a scalar ``c`` added to the loss,
so ``c.grad`` counts the backward calls it received; before a session is dropped, and at
the end, the client reads ``c.grad`` and ``w.grad`` and checks them against the steps it
was answered 200 for (and ``w.grad`` against the sum it computed itself).

Reports requests/s, p50 and p99 per kind and overall, errors per kind (any answer other
than the expected one, or a transport error), the correctness checks, and each server's
resident memory (VmRSS of /proc/<pid>/status, children included) before, during and after.
Exits 1 on any error or failed check.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if Path(sys.path[0]).resolve() == ROOT / "benchmarks":  # as service.py: the root's packages
    sys.path[0] = str(ROOT)
from benchmarks.bodies import SMALL  # noqa: E402

# d/dx of (x + y)^2 z^3 = 2 (x + y) z^3: what every one-shot answer must say
SMALL_GRAD_X = (2 * (np.array([1, 2, 3]) + [3, 4, 5]) * np.array([1, 2, 3]) ** 3).tolist()
LARGE_N = 250_000  # 1 MB of float32, 1.3 MB as base64
STEPS_PER_SESSION = 150  # then a fresh session (a session's node count is capped)
X16 = np.linspace(0.5, 2.0, 16)
SESSION_NODES = [{"id": "w", "op": "tensor", "data": [0.1] * 16, "requires_grad": True},
                 {"id": "x", "op": "tensor", "data": X16.tolist()},
                 {"id": "c", "op": "tensor", "data": 0.0, "requires_grad": True}]
STEP_NODES = [{"id": "h", "op": "mul", "args": ["w", "x"]}, {"id": "t", "op": "tanh", "args": ["h"]},
              {"id": "s", "op": "sum", "args": ["t"]}, {"id": "loss", "op": "add", "args": ["s", "c"]}]
KINDS = ("small", "step", "large")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (uvicorn workers)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def wait_ready(url: str, proc: subprocess.Popen | None = None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not become ready")
        time.sleep(0.05)


def start_redis(port: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", *extra],
                            stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return proc
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.02)


def start_replica(env: dict, port: int | None = None) -> tuple[subprocess.Popen, str, object]:
    """``python -m service`` on a free port; its stderr goes to a temporary file."""
    port = port or free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "service", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=log, env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    return proc, f"http://127.0.0.1:{port}", log


def nginx_config(ports: list[int], listen: int, tmp: Path) -> str:
    """docker/nginx.conf with "api" pointed at this machine's ports, its logs in ``tmp``."""
    conf = (ROOT / "docker" / "nginx.conf").read_text()
    conf = conf.replace("${AUTOGRAD_MAX_BODY_BYTES}", os.environ.get(
        "AUTOGRAD_MAX_BODY_BYTES", str(64 * 2**20)))  # the image renders it so
    # "api" names this upstream group instead of Docker's DNS (tests/test_proxy_failover.py
    # runs the file with its resolver)
    servers = "".join(f" server 127.0.0.1:{p};" for p in ports)
    conf = conf.replace("set $api api:8000;", "set $api api;")  # a port would bypass the group
    conf = conf.replace("  server {", f"  upstream api {{{servers} }}\n  server {{", 1)
    conf = conf.replace("listen 8000;", f"listen 127.0.0.1:{listen};")
    conf = conf.replace("access_log /dev/stdout autograd;", "access_log off;")
    return conf.replace("http {", f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nhttp {{"
                        f"\n  client_body_temp_path {tmp};"
                        f"\n  proxy_temp_path {tmp};", 1)


@contextlib.contextmanager
def nginx(ports: list[int]):
    """nginx with docker/nginx.conf in front of ``ports``; yields its URL."""
    tmp = Path(tempfile.mkdtemp())
    listen = free_port()
    (tmp / "nginx.conf").write_text(nginx_config(ports, listen, tmp))
    proc = subprocess.Popen([shutil.which("nginx"), "-p", str(tmp), "-c", str(tmp / "nginx.conf"),
                             "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{listen}"
        wait_ready(url, proc, 10)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def servers(replicas: int, redis: bool, balancer: bool):
    """Yields (urls the clients call, server pids). With a balancer the clients call nginx
    only; without, they spread over the replicas' ports themselves."""
    env, procs, logs = {}, [], []
    redis_proc = None
    try:
        if redis:
            if not shutil.which("redis-server"):
                sys.exit("redis-server is not installed")
            port = free_port()
            redis_proc = start_redis(port)
            env["AUTOGRAD_STORE"] = f"redis://127.0.0.1:{port}/0"
        urls = []
        for _ in range(replicas):
            proc, url, log = start_replica(env)
            procs.append(proc)
            logs.append(log)
            urls.append(url)
        for proc, url in zip(procs, urls):
            wait_ready(url, proc)
        pids = [p.pid for p in procs]
        if balancer:
            with nginx([int(u.rsplit(":", 1)[1]) for u in urls]) as lb:
                yield [lb], pids
        else:
            yield urls, pids
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        for log in logs:
            log.seek(0)
            text = log.read().decode(errors="replace")
            if "Traceback" in text:
                print("SERVER TRACEBACK:\n" + text[-3000:], file=sys.stderr)
        if redis_proc:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)


class Stats:
    def __init__(self):
        self.lat: dict[str, list[float]] = {k: [] for k in KINDS}
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.checks = {"sessions": 0, "steps": 0, "failed": []}
        self.rss: list[tuple[float, list[int]]] = []

    def report(self, seconds: float) -> dict:
        out = {}
        every = [v for vs in self.lat.values() for v in vs]
        for kind, vs in [("all", every), *self.lat.items()]:
            if vs:
                a = np.array(vs) * 1000
                out[kind] = {"n": len(vs), "rps": len(vs) / seconds,
                             "p50_ms": float(np.percentile(a, 50)),
                             "p99_ms": float(np.percentile(a, 99))}
        return out


def _grad(body: dict) -> np.ndarray:
    return np.asarray(body["data"], dtype=np.float64)


class Trainer:
    """One client's training session: the steps it was answered 200 for, and the .grad of
    ``w`` they must add up to (computed here in float64: (1 - tanh(w x)^2) x per step)."""

    def __init__(self):
        self.sid, self.steps, self.acked = None, 0, 0
        self.expected = np.zeros(16)

    async def check(self, http: httpx.AsyncClient, url: str, stats: Stats) -> None:
        """c.grad == steps acknowledged; w.grad == their summed contributions."""
        if self.sid is None or self.acked == 0:
            return
        rc = await http.get(f"{url}/sessions/{self.sid}/tensors/c.grad")
        rw = await http.get(f"{url}/sessions/{self.sid}/tensors/w.grad")
        stats.checks["sessions"] += 1
        stats.checks["steps"] += self.acked
        if rc.status_code != 200 or rw.status_code != 200:
            stats.checks["failed"].append(f"{self.sid}: reading grads gave {rc.status_code}, "
                                          f"{rw.status_code}")
            return
        count = float(_grad(rc.json()))
        if count != self.acked:
            stats.checks["failed"].append(f"{self.sid}: c.grad {count} after {self.acked} "
                                          "acknowledged steps")
        elif not np.allclose(_grad(rw.json()), self.expected, rtol=1e-4, atol=1e-4):
            stats.checks["failed"].append(f"{self.sid}: w.grad differs from the sum of its "
                                          "steps' contributions")


async def client_loop(i: int, urls: list[str], deadline: float, stats: Stats,
                      key: str | None) -> None:
    rng = random.Random(i)
    headers = {"X-API-Key": key} if key else {}
    large = np.random.default_rng(i).standard_normal(LARGE_N).astype(np.float32)
    large_body = {"graph": {"nodes": [
        {"id": "x", "op": "tensor", "requires_grad": True,
         "data": {"dtype": "float32", "shape": [LARGE_N],
                  "b64": base64.b64encode(large.tobytes()).decode()}},
        {"id": "a", "op": "tanh", "args": ["x"]}, {"id": "b", "op": "mul", "args": ["a", "x"]},
        {"id": "out", "op": "sum", "args": ["b"]}]}, "tensors": "out", "encoding": "base64"}
    x64 = large.astype(np.float64)
    large_want = np.tanh(x64) + x64 * (1 - np.tanh(x64) ** 2)
    tr = Trainer()
    async with httpx.AsyncClient(timeout=60, headers=headers) as http:
        while time.monotonic() < deadline:
            url = urls[rng.randrange(len(urls))]  # replicas share sessions through Redis
            roll = rng.random()
            kind = "small" if roll < 0.70 else "step" if roll < 0.97 else "large"
            start = time.perf_counter()
            try:
                if kind == "small":
                    r = await http.post(url + "/backward", json=SMALL)
                    ok = r.status_code == 200 and r.json()["grads"]["x"]["data"] == SMALL_GRAD_X
                elif kind == "large":
                    r = await http.post(url + "/backward", json=large_body)
                    ok = r.status_code == 200
                    if ok:
                        got = np.frombuffer(base64.b64decode(r.json()["grads"]["x"]["b64"]), "<f4")
                        ok = np.allclose(got, large_want, rtol=1e-4, atol=1e-5)
                else:
                    if tr.sid is None or tr.steps >= STEPS_PER_SESSION:
                        if tr.sid:
                            await tr.check(http, url, stats)
                            await http.delete(f"{url}/sessions/{tr.sid}")
                        tr = Trainer()
                        r = await http.post(url + "/sessions", json={"graph": {"nodes": SESSION_NODES}})
                        if r.status_code != 201:
                            stats.errors["step"].append(f"create {r.status_code} {r.text[:200]}")
                            continue
                        tr.sid = r.json()["session"]["id"]
                        start = time.perf_counter()
                    tr.steps += 1
                    w = np.array([rng.uniform(-1, 1) for _ in range(16)], dtype=np.float32)
                    r = await http.put(f"{url}/sessions/{tr.sid}/tensors/w", json=w.tolist())
                    ok = r.status_code == 200
                    if ok:
                        r = await http.post(url + "/backward", json={
                            "session": tr.sid, "tensors": "loss", "graph": {"nodes": STEP_NODES}})
                        ok = r.status_code == 200
                        if ok:
                            tr.acked += 1
                            w64 = w.astype(np.float64)
                            tr.expected += (1 - np.tanh(w64 * X16) ** 2) * X16
            except httpx.HTTPError as e:
                stats.errors[kind].append(f"{type(e).__name__}: {e}")
                continue
            elapsed = time.perf_counter() - start
            if ok:
                stats.lat[kind].append(elapsed)
            else:
                stats.errors[kind].append(f"{r.status_code} {r.text[:200]}")
        with contextlib.suppress(httpx.HTTPError):
            await tr.check(http, urls[0], stats)
            if tr.sid:
                await http.delete(f"{urls[0]}/sessions/{tr.sid}")


async def run(urls, clients, seconds, key, pids, every: float) -> Stats:
    stats = Stats()
    deadline = time.monotonic() + seconds

    async def sample():
        t0 = time.monotonic()
        while time.monotonic() + every <= deadline + 1:
            await asyncio.sleep(every)
            stats.rss.append((time.monotonic() - t0, [rss_kib(p) for p in pids]))

    await asyncio.gather(sample(), *(client_loop(i, urls, deadline, stats, key)
                                     for i in range(clients)))
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", action="append", help="a running server (repeat for replicas)")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--soak", type=float, metavar="SECONDS",
                    help="a soak of this length (one replica unless --replicas): RSS is "
                         "sampled every --sample seconds")
    ap.add_argument("--sample", type=float, default=30.0,
                    help="seconds between RSS samples in a soak (default 30; a tenth of the "
                         "run otherwise)")
    ap.add_argument("--replicas", type=int, default=1, help="2+: replicas share a redis-server")
    ap.add_argument("--no-nginx", action="store_true",
                    help="with --replicas 2+: spread the clients over the replicas' ports "
                         "instead of nginx (used when nginx is installed)")
    ap.add_argument("--key", help="API key to send")
    args = ap.parse_args()
    seconds = args.soak or args.seconds
    every = args.sample if args.soak else seconds / 10
    balancer = args.replicas > 1 and not args.no_nginx and shutil.which("nginx") is not None
    if args.url:
        ctx = contextlib.nullcontext((args.url, []))
    else:
        ctx = servers(args.replicas, redis=args.replicas > 1, balancer=balancer)
    with ctx as (urls, pids):
        before = [rss_kib(p) for p in pids]
        t0 = time.monotonic()
        stats = asyncio.run(run(urls, args.clients, seconds, args.key, pids, every))
        took = time.monotonic() - t0
        after = [rss_kib(p) for p in pids]
    rep = stats.report(took)
    store = "redis" if args.replicas > 1 else "memory"
    front = "nginx (docker/nginx.conf)" if balancer else "no balancer"
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs: "
          f"{len(pids) or len(urls)} replica(s), store {store}, {front}, {args.clients} clients, "
          f"{took:.1f} s{' (soak)' if args.soak else ''}")
    print("| kind | requests | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|")
    for kind, v in rep.items():
        errs = (sum(len(e) for e in stats.errors.values()) if kind == "all"
                else len(stats.errors.get(kind, ())))
        print(f"| {kind} | {v['n']} | {v['rps']:.1f} | {v['p50_ms']:.1f} | "
              f"{v['p99_ms']:.1f} | {errs} |")
    errors = [e for es in stats.errors.values() for e in es]
    print(f"errors: {len(errors)}")
    for e in errors[:10]:
        print("    " + e)
    c = stats.checks
    print(f"checks: {c['sessions']} sessions, {c['steps']} acknowledged steps: c.grad == steps "
          f"and w.grad == sum of contributions: {len(c['failed'])} failed")
    for f in c["failed"][:10]:
        print("    " + f)
    if pids:
        print("RSS MiB before -> after: " + ", ".join(
            f"{b / 1024:.0f} -> {a / 1024:.0f}" for b, a in zip(before, after)))
        print("RSS MiB during: " + "  ".join(
            f"{t:.0f}s:" + "/".join(f"{k / 1024:.0f}" for k in ks) for t, ks in stats.rss))
    return 1 if errors or c["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
