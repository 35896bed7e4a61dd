"""Starting a server process and waiting until it is ready: shared by the live server of
the HTTP tests (support/service_server.py) and the service benchmark
(benchmarks/service.py, which puts tests/ on sys.path for it). Only the standard library
and httpx: no pytest."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import IO

import httpx


def _raise(message: str):
    raise RuntimeError(message)


@contextlib.contextmanager
def ready_process(
    cmd: list[str],
    url: str,
    *,
    cwd,
    env: dict,
    stderr: IO[bytes],
    name: str = "server",
    fail: Callable[[str], object] = _raise,
) -> Iterator[subprocess.Popen]:
    """Start ``cmd`` in ``cwd`` with ``env`` (stdout dropped, stderr into the file
    ``stderr``: a file, not a pipe, so that a chatty server never blocks); yield its Popen
    once ``url``/readyz answers 200; then stop it (terminate, kill after 10 s). If it exits
    first or is not ready within 60 s: ``fail(message)`` (the message starts with ``name``;
    ``fail`` raises RuntimeError unless given, e.g. sys.exit)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                stderr.seek(0)
                fail(f"{name} exited: {stderr.read().decode()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                fail(f"{name} did not become ready")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
