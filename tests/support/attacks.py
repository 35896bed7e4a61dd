"""Shared by the attack suites (tests/test_attacks_*.py): what every attack asserts about
the server after it, measured from outside: the answer's status, the server's resident
memory (peak, from /proc/PID/status), and how long /healthz takes to answer."""

from __future__ import annotations

import threading
import time

import httpx

from .service_server import PIDS

MIB = 2**20


def memory(url: str) -> dict:
    """The server process's resident memory now (VmRSS) and at its peak (VmHWM), bytes."""
    out = {}
    with open(f"/proc/{PIDS[url]}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def healthz_seconds(url: str) -> float:
    t = time.perf_counter()
    r = httpx.get(url + "/healthz", timeout=30)
    assert r.status_code == 200
    return time.perf_counter() - t


class Prober:
    """Probes /healthz (and /readyz) every ``every`` seconds in a thread of the test while
    something else loads the server; ``times`` holds each probe's latency."""

    def __init__(self, url: str, every: float = 0.05, path: str = "/healthz"):
        self.url, self.every, self.path = url, every, path
        self.times: list[float] = []
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with httpx.Client(base_url=self.url, timeout=30) as c:
            while not self._stop.is_set():
                t = time.perf_counter()
                r = c.get(self.path)
                self.times.append(time.perf_counter() - t)
                self.statuses.append(r.status_code)
                self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def median(self) -> float:
        s = sorted(self.times)
        return s[len(s) // 2]


PROBE_SCRIPT = r"""
import sys, time, httpx
url, path, seconds, every = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
end = time.monotonic() + seconds
with httpx.Client(base_url=url, timeout=60) as c:
    while time.monotonic() < end:
        t = time.perf_counter()
        r = c.get(path)
        print(r.status_code, time.perf_counter() - t, flush=True)
        time.sleep(every)
"""
