"""Probe latency while every worker thread runs Python: the app's own /healthz beside the
probe process's (AUTOGRAD_PROBE_PORT, NOTE [probes outside the GIL]).

    python benchmarks/probes.py                      # 3 rounds of 24 requests
    python benchmarks/probes.py --rounds 1 --requests 60 --threads 40

Each round starts one server (probe port set), posts --requests 9,000-node `sin` chains
with create_graph (Python-bound: pure engine work that holds the GIL between numpy calls)
that compute to a 3 s limit on --threads worker threads, and, from one second in until
fewer requests than threads are left, asks both /healthz every 20 ms, alternating. Prints
the median, p90 and max latency of each, per round and over all rounds.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(threads: int):
    port, probe_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOGRAD_COMPUTE_SECONDS": "3",
           "AUTOGRAD_WORKER_THREADS": str(threads), "AUTOGRAD_PROBE_PORT": str(probe_port),
           "AUTOGRAD_PROBE_HOST": "127.0.0.1", "AUTOGRAD_MAX_NODES": "20000"}
    proc = subprocess.Popen([sys.executable, "-m", "service", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url, f"http://127.0.0.1:{probe_port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def sin_chain(length: int) -> dict:
    nodes = [{"id": "n0", "op": "ones", "args": [[4]], "requires_grad": True}]
    nodes += [{"id": f"n{k}", "op": "sin", "args": [f"n{k - 1}"]} for k in range(1, length)]
    nodes.append({"id": "y", "op": "sum", "args": [f"n{length - 1}"]})
    return {"graph": {"nodes": nodes}, "tensors": "y", "create_graph": True}


def one_round(requests: int, threads: int) -> dict[str, list[float]]:
    body = sin_chain(9000)
    times: dict[str, list[float]] = {"app /healthz": [], "probe port /healthz": []}
    with server(threads) as (url, probe):
        def post(_):
            with httpx.Client(timeout=300) as c:
                return c.post(url + "/backward", json=body).status_code

        with concurrent.futures.ThreadPoolExecutor(requests) as pool:
            futures = [pool.submit(post, k) for k in range(requests)]
            time.sleep(1.0)
            with httpx.Client(timeout=60) as c:
                while sum(not f.done() for f in futures) >= threads:
                    for name, base in (("app /healthz", url), ("probe port /healthz", probe)):
                        t = time.perf_counter()
                        c.get(base + "/healthz").raise_for_status()
                        times[name].append(time.perf_counter() - t)
                        time.sleep(0.02)
            for f in futures:
                f.result()
    return times


def summary(seconds: list[float]) -> str:
    s = sorted(seconds)
    return (f"median {statistics.median(s) * 1e3:7.1f} ms  p90 {s[int(0.9 * (len(s) - 1))] * 1e3:7.1f} ms"
            f"  max {s[-1] * 1e3:7.1f} ms  ({len(s)} probes)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=24)
    p.add_argument("--threads", type=int, default=8)
    args = p.parse_args()
    every: dict[str, list[float]] = {}
    for k in range(args.rounds):
        times = one_round(args.requests, args.threads)
        for name, seconds in times.items():
            print(f"round {k + 1}  {name:20} {summary(seconds)}", flush=True)
            every.setdefault(name, []).extend(seconds)
    for name, seconds in every.items():
        print(f"all      {name:20} {summary(seconds)}")


if __name__ == "__main__":
    main()
