"""The REAL server for the service tests: uvicorn in a subprocess on a free port.

Test modules import the fixtures they use (``from support.service_server import api``); pytest
finds fixtures imported into a module. Each xdist worker starts its own server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import pytest

from support.processes import ready_process

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Small limits so that the limit tests are fast; everything else is the default.
TEST_ENV = {"AUTOGRAD_MAX_TENSOR_ELEMENTS": "1000000", "AUTOGRAD_MAX_TOTAL_ELEMENTS": "4000000",
            "AUTOGRAD_MAX_BODY_BYTES": str(16 * 2**20), "AUTOGRAD_MAX_NODES": "20000",
            "AUTOGRAD_CHECK_BYTES": "1",  # byte counts checked against a recount
            "AUTOGRAD_GC_FREEZE": "1"}  # as in production (conftest turns it off in process)


def require_program(name: str) -> str:
    """Where ``name`` is on PATH; a test without it is skipped, except under CI, which
    installs it (.ci/run): there its absence is an error."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            raise RuntimeError(f"CI: {name} must be installed")
        pytest.skip(f"{name} is not installed")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int, *args: str) -> subprocess.Popen:
    """A throwaway redis-server on ``port``, keeping nothing on disk (``args`` add
    settings), once it answers PING."""
    import redis
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly",
                             "no", "--bind", "127.0.0.1", *args], stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@contextlib.contextmanager
def redis_server(*args: str):
    """start_redis on a free port; yield its URL; stop it."""
    port = free_port()
    proc = start_redis(port, *args)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


PIDS: dict[str, int] = {}  # base URL -> the server's process id (its RSS: /proc/PID/status)


@contextlib.contextmanager
def running_server(env: dict | None = None, args: tuple = ()):
    """Start `python -m service` with ``env`` settings (and CLI ``args``); yield its base
    URL (its pid in PIDS); stop it."""
    port = free_port()
    full_env = {**os.environ, **TEST_ENV, **(env or {}),
                "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", *args]
    log = tempfile.TemporaryFile()  # the server's stderr, read once it has stopped
    try:
        with ready_process(cmd, url, cwd=ROOT, env=full_env, stderr=log) as proc:
            PIDS[url] = proc.pid
            yield url
    finally:
        PIDS.pop(url, None)
        log.seek(0)
        stderr = log.read().decode(errors="replace")
        log.close()
        # the catch-all handler logs tracebacks: a test run must never cause one
        assert "Traceback" not in stderr, stderr[-4000:]


@pytest.fixture(scope="session")
def server_url():
    with running_server() as url:
        yield url


@pytest.fixture(scope="session")
def api(server_url):
    with httpx.Client(base_url=server_url, timeout=60) as client:
        yield client


# --------------------------------------------------------------------------- torch side

def torch_build(nodes: list[dict]) -> dict:
    """Run a node list with torch (the oracle): name -> torch tensor."""
    import torch

    names: dict = {}

    def value(v):
        if isinstance(v, str):
            base, _, attr = v.partition(".")
            if base in names:
                return names[base].grad if attr == "grad" else names[base]
        return v

    for n in nodes:
        with torch.set_grad_enabled(n.get("grad_mode", True)):
            if n["op"] == "tensor":
                dtype = getattr(torch, n.get("dtype", "float32"))
                t = torch.tensor(n["data"], dtype=dtype,
                                 requires_grad=n.get("requires_grad", False))
            elif n["op"] == "detach":
                t = value(n["args"][0]).detach()
            else:
                args = [value(a) for a in n.get("args", [])]
                kwargs = {k: value(v) for k, v in n.get("kwargs", {}).items()}
                t = getattr(torch, n["op"])(*args, **kwargs)
        names[n["id"]] = t
    return names


def torch_meta(names: dict) -> dict:
    """name -> (grad_fn name, next_functions as [name, owner name, output_nr] | None)."""
    owners = {}
    for name, t in names.items():
        if t.grad_fn is not None:
            owners[(id(t.grad_fn), t.output_nr)] = name
    leaves = {id(t): name for name, t in names.items()}
    out = {}
    for name, t in names.items():
        fn = t.grad_fn
        if fn is None:
            out[name] = (None, [])
            continue
        edges = []
        for nxt, nr in fn.next_functions:
            if nxt is None:
                edges.append(None)
            elif type(nxt).__name__ == "AccumulateGrad":
                edges.append(["AccumulateGrad", leaves.get(id(nxt.variable)), 0])
            else:
                edges.append([type(nxt).__name__, owners.get((id(nxt), nr)), nr])
        out[name] = (type(fn).__name__, edges)
    return out


def as_numpy(t: dict):
    """A response tensor -> NumPy (list, base64 encodings)."""
    import base64

    import numpy as np
    if t.get("b64") is not None:
        return np.frombuffer(base64.b64decode(t["b64"]), dtype=t["dtype"]).reshape(t["shape"])
    data = t["data"]
    nonfinite = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}
    if isinstance(data, str):
        data = nonfinite[data]
    elif isinstance(data, list):
        data = np.array(data, dtype=object)
        flat = [nonfinite.get(x, x) if isinstance(x, str) else x for x in data.ravel()]
        data = np.array(flat, dtype=float).reshape(data.shape) if flat else data
    return np.asarray(data, dtype=t["dtype"]).reshape(t["shape"])


def check_problem(r, status: int, detail: str | None = None):
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert set(body) >= {"type", "title", "status", "detail"}, body
    assert body["status"] == status
    if detail is not None:
        assert body["detail"] == detail or body["detail"].endswith(": " + detail), body
    return body
