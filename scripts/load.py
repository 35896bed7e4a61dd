"""Load and soak: N concurrent asyncio httpx clients for T seconds on a mixed workload
against one replica (in-memory store) or several replicas sharing a Redis store.

    python scripts/load.py --clients 32 --seconds 60                  # one replica
    python scripts/load.py --clients 32 --seconds 60 --replicas 2     # two + redis-server
    python scripts/load.py --seconds 600 --soak                       # RSS before/after
    python scripts/load.py --url http://127.0.0.1:8000                # a running server

Workload per request (weights): one-shot 7-node graph (70%), a session training step
(PUT the weights, append a step's nodes, backward; 27%), a large base64 tensor through an
elementwise chain (3%). Reports requests/s, p50/p99 per kind and overall, errors (any
answer other than the expected one, or a transport error), and each replica's resident
memory before and after. Exits 1 when there were errors.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"graph": {"nodes": [
    {"id": "x", "op": "tensor", "data": [1, 2, 3], "requires_grad": True},
    {"id": "y", "op": "tensor", "data": [3, 4, 5], "requires_grad": True},
    {"id": "z", "op": "tensor", "data": [1, 2, 3], "requires_grad": True},
    {"id": "xy", "op": "add", "args": ["x", "y"]}, {"id": "xy2", "op": "pow", "args": ["xy", 2]},
    {"id": "z3", "op": "pow", "args": ["z", 3]}, {"id": "out", "op": "mul", "args": ["xy2", "z3"]}]},
    "tensors": "out", "grad_tensors": [[1, 1, 1]]}
LARGE_N = 250_000  # 1 MB of float32, 1.3 MB as base64
STEPS_PER_SESSION = 150  # then a fresh session (a session's node count is capped)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (uvicorn workers)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    for p in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


@contextlib.contextmanager
def servers(replicas: int, redis: bool):
    procs, urls, logs = [], [], []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    redis_proc = None
    try:
        if redis:
            if not shutil.which("redis-server"):
                sys.exit("redis-server is not installed")
            port = free_port()
            redis_proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "",
                                           "--appendonly", "no"], stdout=subprocess.DEVNULL)
            env["AUTOGRAD_STORE"] = f"redis://127.0.0.1:{port}/0"
            time.sleep(0.5)
        for _ in range(replicas):
            port = free_port()
            log = tempfile.TemporaryFile()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "service", "--port", str(port), "--log-level", "warning"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log))
            logs.append(log)
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                        break
                time.sleep(0.1)
        yield urls, [p.pid for p in procs]
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
        self.lat: dict[str, list[float]] = {"small": [], "step": [], "large": []}
        self.errors: list[str] = []

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


async def client_loop(i: int, urls: list[str], deadline: float, stats: Stats, key: str | None):
    rng = random.Random(i)
    headers = {"X-API-Key": key} if key else {}
    large = np.random.default_rng(i).standard_normal(LARGE_N).astype(np.float32)
    large_body = {"graph": {"nodes": [
        {"id": "x", "op": "tensor", "requires_grad": True,
         "data": {"dtype": "float32", "shape": [LARGE_N],
                  "b64": base64.b64encode(large.tobytes()).decode()}},
        {"id": "a", "op": "tanh", "args": ["x"]}, {"id": "b", "op": "mul", "args": ["a", "x"]},
        {"id": "out", "op": "sum", "args": ["b"]}]}, "tensors": "out", "encoding": "base64"}
    sid, steps = None, 0
    async with httpx.AsyncClient(timeout=60, headers=headers) as http:
        while time.monotonic() < deadline:
            url = urls[rng.randrange(len(urls))]  # replicas share sessions through Redis
            roll = rng.random()
            start = time.perf_counter()
            try:
                if roll < 0.70:
                    kind = "small"
                    r = await http.post(url + "/backward", json=SMALL)
                    ok = r.status_code == 200
                elif roll < 0.97:
                    kind = "step"
                    if sid is None or steps >= STEPS_PER_SESSION:
                        if sid:
                            await http.delete(f"{url}/sessions/{sid}")
                        r = await http.post(url + "/sessions", json={"graph": {"nodes": [
                            {"id": "w", "op": "tensor", "data": [0.1] * 16, "requires_grad": True},
                            {"id": "x", "op": "tensor", "data": [1.0] * 16}]}})
                        if r.status_code != 201:
                            stats.errors.append(f"create {r.status_code} {r.text[:200]}")
                            continue
                        sid, steps = r.json()["session"]["id"], 0
                    steps += 1
                    w = [rng.uniform(-1, 1) for _ in range(16)]
                    r = await http.put(f"{url}/sessions/{sid}/tensors/w", json=w)
                    ok = r.status_code == 200
                    if ok:
                        r = await http.post(url + "/backward", json={
                            "session": sid, "tensors": "loss", "graph": {"nodes": [
                                {"id": "h", "op": "mul", "args": ["w", "x"]},
                                {"id": "t", "op": "tanh", "args": ["h"]},
                                {"id": "loss", "op": "sum", "args": ["t"]}]}})
                        ok = r.status_code == 200
                else:
                    kind = "large"
                    r = await http.post(url + "/backward", json=large_body)
                    ok = r.status_code == 200
            except httpx.HTTPError as e:
                stats.errors.append(f"{type(e).__name__}: {e}")
                continue
            elapsed = time.perf_counter() - start
            if ok:
                stats.lat[kind].append(elapsed)
            else:
                stats.errors.append(f"{kind} {r.status_code} {r.text[:200]}")
        if sid:
            with contextlib.suppress(httpx.HTTPError):
                await http.delete(f"{urls[0]}/sessions/{sid}")


async def run(urls, clients, seconds, key, pids) -> Stats:
    stats = Stats()
    stats.rss = []  # (seconds, [KiB per replica]) every tenth of the run: growth or plateau
    deadline = time.monotonic() + seconds

    async def sample():
        t0 = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(seconds / 10)
            stats.rss.append((time.monotonic() - t0, [rss_kib(p) for p in pids]))

    await asyncio.gather(sample(), *(client_loop(i, urls, deadline, stats, key)
                                     for i in range(clients)))
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", action="append", help="a running server (repeat for replicas)")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--replicas", type=int, default=1, help="2+: replicas share a redis-server")
    ap.add_argument("--key", help="API key to send")
    args = ap.parse_args()
    if args.url:
        ctx = contextlib.nullcontext((args.url, []))
    else:
        ctx = servers(args.replicas, redis=args.replicas > 1)
    with ctx as (urls, pids):
        before = [rss_kib(p) for p in pids]
        t0 = time.monotonic()
        stats = asyncio.run(run(urls, args.clients, args.seconds, args.key, pids))
        took = time.monotonic() - t0
        after = [rss_kib(p) for p in pids]
    rep = stats.report(took)
    store = "redis" if args.replicas > 1 else "memory"
    print(f"{len(urls)} replica(s), store {store}, {args.clients} clients, {took:.1f} s")
    for kind, v in rep.items():
        print(f"  {kind:6s} n={v['n']:6d}  {v['rps']:8.1f} req/s  p50 {v['p50_ms']:7.1f} ms  "
              f"p99 {v['p99_ms']:7.1f} ms")
    print(f"  errors: {len(stats.errors)}")
    for e in stats.errors[:10]:
        print("    " + e)
    if pids:
        print("  RSS MiB before/after: " + ", ".join(
            f"{b / 1024:.0f} -> {a / 1024:.0f}" for b, a in zip(before, after)))
        print("  RSS MiB during: " + "  ".join(
            f"{t:.0f}s:" + "/".join(f"{k / 1024:.0f}" for k in ks) for t, ks in stats.rss))
    return 1 if stats.errors else 0


if __name__ == "__main__":
    sys.exit(main())
