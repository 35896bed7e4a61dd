"""Service speed: our server against a bare FastAPI floor, large tensors over HTTP, and
the scale-out configurations (memory store, Redis, two replicas with Redis).

    python benchmarks/service.py                  # everything (about a minute)
    python benchmarks/service.py --only small     # the floor comparison
    python benchmarks/service.py --only large     # 1e7-element gradient over HTTP
    python benchmarks/service.py --only scale     # memory / redis / 2 replicas + redis
    python benchmarks/service.py --runs 3 --seconds 3 --connections 8

Load comes from wrk (Debian package `wrk`) when installed, else from an asyncio httpx loop
(said in the output). Both servers run with one uvicorn worker, are loaded alike from
loopback, one after the other within the same run, so their ratio is the figure to quote
(absolute numbers depend on what else the machine is doing). Medians over --runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
if Path(sys.path[0]).resolve() == ROOT / "benchmarks":  # `import engine` is the package,
    sys.path[0] = str(ROOT)                             # not benchmarks/engine.py
sys.path.append(str(ROOT / "tests"))  # support/processes.py: servers started as in the tests
from support.processes import ready_process  # noqa: E402

from benchmarks.bodies import SMALL  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
# One training step inside a session (the session holds w and x; 3 nodes appended per call).
STEP_NODES = [{"id": "h", "op": "mul", "args": ["w", "x"]}, {"id": "t", "op": "tanh", "args": ["h"]},
              {"id": "loss", "op": "sum", "args": ["t"]}]
LARGE_N = 10_000_000


# --------------------------------------------------------------------------- the floor

class Node(BaseModel):
    id: str
    op: str
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    data: Any = None
    requires_grad: bool = False


class Graph(BaseModel):
    nodes: list[Node]


class FloorRequest(BaseModel):
    graph: Graph | None = None
    session: str | None = None
    tensors: str | list[str]
    grad_tensors: list[Any] | None = None


def floor_app():
    """A bare FastAPI endpoint that parses the same body with pydantic and answers a
    constant: what any FastAPI service pays before doing any work. Its handlers are
    ``async def``: a plain ``def`` runs in the thread pool, which costs a thread hop per
    request (measured 2.7x slower), and a floor is the cheapest honest way to serve the
    same body."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/backward")
    async def backward(req: FloorRequest):
        return {"grads": {"x": {"shape": [3], "dtype": "float32", "data": [1.0, 2.0, 3.0]}}}

    @app.get("/readyz")
    async def ready():
        return {"ok": True}

    return app


# --------------------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        with contextlib.suppress(OSError):
            todo += [int(k) for k in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes and their children (uvicorn workers)."""
    total = 0
    for root in pids:
        for p in _tree(root):
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # fields 14, 15 of stat(5)
    return total / CLK_TCK


@contextlib.contextmanager
def process(cmd: list[str], url: str, env: dict | None = None):
    """``cmd`` started in the root, yielded once ready and stopped after (the tests' own
    ready_process); a server that does not start ends the benchmark with its stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with tempfile.TemporaryFile() as log, ready_process(cmd, url, cwd=ROOT, env=env, stderr=log,
                                                        name=str(cmd), fail=sys.exit) as proc:
        yield proc


@contextlib.contextmanager
def our_server(env: dict | None = None):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with process([sys.executable, "-m", "service", "--port", str(port), "--log-level",
                  "warning"], url, env) as proc:
        yield url, proc.pid


@contextlib.contextmanager
def floor_server():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with process([sys.executable, "-m", "uvicorn", "--factory", "benchmarks.service:floor_app",
                  "--port", str(port), "--log-level", "warning", "--no-access-log"],
                 url) as proc:
        yield url, proc.pid


@contextlib.contextmanager
def redis_server():
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                sys.exit("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()


# --------------------------------------------------------------------------- load

WRK_LUA = """
local bodies = {%s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, "/backward", nil, bodies[(i %% #bodies) + 1])
end
"""


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m[2]]


def wrk_load(urls: list[str], bodies: list[bytes], seconds: float, connections: int) -> dict:
    """One wrk per URL (connections split between them), run at the same time; requests/s
    add up, p50/p99 are the worst of the URLs' (wrk reports no mergeable histogram)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA % ", ".join(json.dumps(b.decode()) for b in bodies))
    try:
        per = max(1, connections // len(urls))
        procs = [subprocess.Popen(["wrk", "-t1", f"-c{per}", f"-d{seconds}s", "--latency",
                                   "-s", f.name, u], stdout=subprocess.PIPE, text=True)
                 for u in urls]
        outs = [p.communicate()[0] for p in procs]
    finally:
        os.unlink(f.name)
    rps, p50, p99, errors = 0.0, 0.0, 0.0, 0
    for out in outs:
        rps += float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
        p50 = max(p50, _ms(re.search(r"\s50%\s+(\S+)", out)[1]))
        p99 = max(p99, _ms(re.search(r"\s99%\s+(\S+)", out)[1]))
        m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        errors += int(m[1]) if m else 0
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors}


def httpx_load(urls: list[str], bodies: list[bytes], seconds: float, connections: int) -> dict:
    """The fallback: `connections` asyncio clients, each on its own keep-alive connection,
    round-robin over the URLs and bodies."""
    async def main():
        lat, errors = [], 0
        deadline = time.monotonic() + seconds

        async def client(i):
            nonlocal errors
            url = urls[i % len(urls)] + "/backward"
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1)) as http:
                k = i
                while time.monotonic() < deadline:
                    k += 1
                    t = time.perf_counter()
                    r = await http.post(url, content=bodies[k % len(bodies)],
                                        headers={"Content-Type": "application/json"})
                    lat.append(time.perf_counter() - t)
                    errors += r.status_code != 200
        start = time.monotonic()
        await asyncio.gather(*(client(i) for i in range(connections)))
        a = np.array(lat) * 1000
        return {"rps": len(lat) / (time.monotonic() - start), "p50_ms": float(np.percentile(a, 50)),
                "p99_ms": float(np.percentile(a, 99)), "errors": errors}
    return asyncio.run(main())


LOAD = wrk_load if shutil.which("wrk") else httpx_load
LOADER = "wrk" if shutil.which("wrk") else "asyncio httpx loop (wrk not installed)"


def measure(urls, bodies, pids, args) -> dict:
    LOAD(urls, bodies, 1, args.connections)  # warm up (imports, caches, connections)
    runs = []
    for _ in range(args.runs):
        cpu0 = cpu_seconds(pids)
        r = LOAD(urls, bodies, args.seconds, args.connections)
        r["cpu_ms_per_req"] = (cpu_seconds(pids) - cpu0) / (r["rps"] * args.seconds) * 1000
        runs.append(r)
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def row(name, r, extra=""):
    print(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
          f"{r.get('cpu_ms_per_req', float('nan')):.3f} | {r['errors']:.0f} |{extra}", flush=True)


HEAD = ("| configuration | requests/s | p50 ms | p99 ms | server CPU ms/request | non-200 |\n"
        "|---|---|---|---|---|---|")


# --------------------------------------------------------------------------- benchmarks

def bench_small(args):
    body = [json.dumps(SMALL).encode()]
    with our_server() as (url, pid):
        r = httpx.post(url + "/backward", content=body[0],
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        ours = measure([url], body, [pid], args)
    with floor_server() as (url, pid):
        floor = measure([url], body, [pid], args)
    print(f"\n## small graph vs floor ({LOADER}, {args.connections} connections, "
          f"{args.seconds}s x {args.runs} runs, medians)\n")
    print(HEAD)
    row("bare FastAPI floor", floor)
    row("autograd service", ours)
    print(f"\nratio: requests/s {ours['rps'] / floor['rps']:.2f}x of the floor (target >= 0.5), "
          f"p99 {ours['p99_ms'] / floor['p99_ms']:.2f}x (target <= 2)")


def bench_large(args):
    """The client is what a user of our Python SDK gets with plain httpx: its encode (the
    tensor's bytes sent as they are, no joined body), read_answer (the answer read into one
    NumPy buffer) and decode (arrays that are views of it; a long base64 text decoded from the answer's
    bytes with pybase64's SIMD codec, the SDK's `fast` extra), the binary request encoded
    in the timed part, the base64 request made once before timing (as in earlier rounds)."""
    import orjson
    import pybase64

    sys.path.insert(0, str(ROOT / "clients" / "python"))
    import autograd_client as sdk

    import engine

    x = np.random.default_rng(0).standard_normal(LARGE_N).astype(np.float32)
    nodes = [{"id": "x", "op": "tensor", "requires_grad": True, "data": None},
             {"id": "s", "op": "sin", "args": ["x"]}, {"id": "q", "op": "pow", "args": ["x", 2]},
             {"id": "nq", "op": "neg", "args": ["q"]}, {"id": "e", "op": "exp", "args": ["nq"]},
             {"id": "se", "op": "mul", "args": ["s", "e"]}, {"id": "d", "op": "div", "args": ["x", 3]},
             {"id": "a", "op": "add", "args": ["se", "d"]}, {"id": "out", "op": "sum", "args": ["a"]}]

    def in_process():
        t = engine.tensor(x, requires_grad=True)
        (engine.sin(t) * engine.exp(-t ** 2) + t / 3).sum().backward()
        return t.grad.numpy()

    def binary(http, url):
        body, headers = sdk.encode({"graph": {"nodes": [dict(nodes[0], data=sdk.Raw(x)),
                                                        *nodes[1:]]},
                                    "tensors": "out", "encoding": "binary"})
        with http.stream("POST", url + "/backward", content=body, headers=headers) as r:
            return sdk.decode(r.status_code, r.headers, sdk.read_answer(r))["grads"]["x"]

    b64_body = orjson.dumps({"graph": {"nodes": [dict(nodes[0], data={
        "dtype": "float32", "shape": [LARGE_N], "b64": pybase64.b64encode(x).decode()}),
        *nodes[1:]]}, "tensors": "out", "encoding": "base64"})

    def b64(http, url):
        with http.stream("POST", url + "/backward", content=b64_body,
                         headers={"Content-Type": "application/json"}) as r:
            return sdk.decode(r.status_code, r.headers, sdk.read_answer(r))["grads"]["x"]

    want = in_process()
    times = {"in-process engine": [], "HTTP binary": [], "HTTP base64": []}
    # the chain makes 8 tensors of 1e7 elements: above the default per-request total
    with our_server({"AUTOGRAD_MAX_TOTAL_ELEMENTS": str(20 * LARGE_N)}) as (url, _), \
            httpx.Client(timeout=120) as http:
        for _ in range(args.runs + 1):  # the first round warms up, not counted
            for name, fn in (("in-process engine", in_process),
                             ("HTTP binary", lambda: binary(http, url)),
                             ("HTTP base64", lambda: b64(http, url))):
                t = time.perf_counter()
                got = fn()
                times[name].append(time.perf_counter() - t)
                assert np.allclose(got, want, atol=1e-5), name
    med = {k: statistics.median(v[1:]) * 1000 for k, v in times.items()}
    base = med["in-process engine"]
    print(f"\n## 1e7-element gradient of sum(sin(x) * exp(-x**2) + x / 3) "
          f"(medians of {args.runs}, client encode/decode included)\n")
    print("| path | ms | x in-process | overhead ms | target |\n|---|---|---|---|---|")
    for k, target in (("in-process engine", ""), ("HTTP binary", "<= 1.3x"),
                      ("HTTP base64", "<= 2.5x")):
        print(f"| {k} | {med[k]:.0f} | {med[k] / base:.2f} | {med[k] - base:.0f} | {target} |")


def bench_scale(args):
    if not shutil.which("redis-server"):
        print("\n(scale-out skipped: redis-server is not installed)")
        return
    small = [json.dumps(SMALL).encode()]
    print(f"\n## scale-out ({LOADER}, {args.connections} connections, {args.seconds}s x "
          f"{args.runs} runs, medians)\n")
    # No balancer process even where nginx is installed: it would take CPU from the 2
    # replicas on a small machine; the load generator spreads the connections itself.
    print("no balancer: the load generator spreads the connections over both replicas' "
          "ports itself (one wrk per port, requests/s summed, the worse p99).\n")
    print(HEAD)
    with contextlib.ExitStack() as stack:
        configs = []
        url, pid = stack.enter_context(our_server())
        configs.append(("1 replica, memory store", [url], [pid]))
        redis_url = stack.enter_context(redis_server())
        url, pid = stack.enter_context(our_server({"AUTOGRAD_STORE": redis_url}))
        configs.append(("1 replica, Redis", [url], [pid]))
        pair = [stack.enter_context(our_server({"AUTOGRAD_STORE": redis_url})) for _ in range(2)]
        configs.append(("2 replicas, Redis", [u for u, _ in pair], [p for _, p in pair]))
        for name, urls, pids in configs:
            row(f"{name}: 7-node graph", measure(urls, small, pids, args))
        for name, urls, pids in configs:
            # one session per connection, each call one training step appending 3 nodes
            steps = []
            for _ in range(args.connections):
                r = httpx.post(urls[0] + "/sessions", json={"graph": {"nodes": [
                    {"id": "w", "op": "tensor", "data": [0.1] * 16, "requires_grad": True},
                    {"id": "x", "op": "tensor", "data": [1.0] * 16}]}})
                assert r.status_code == 201, r.text
                steps.append(json.dumps({"session": r.json()["session"]["id"], "tensors": "loss",
                                         "graph": {"nodes": STEP_NODES}}).encode())
            row(f"{name}: session step", measure(urls, steps, pids, args))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", choices=["small", "large", "scale"])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=int, default=3)
    p.add_argument("--connections", type=int, default=8)
    args = p.parse_args()
    for name, fn in (("small", bench_small), ("large", bench_large), ("scale", bench_scale)):
        if args.only in (None, name):
            fn(args)


if __name__ == "__main__":
    main()
