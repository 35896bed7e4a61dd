"""The probes in a process of their own, on ``AUTOGRAD_PROBE_PORT``.

NOTE [probes outside the GIL]: the app's own /healthz and /readyz run on the event loop and
never wait for a worker thread, but the event loop takes turns at the GIL with every busy
worker, and a call that holds the GIL for long (pydantic validating a large body, a full
collection of the cyclic GC) holds the probes too: seconds under a Python-bound load
(docs/reliability.md). A probe that a busy replica answers late gets a healthy replica
killed. So, with a probe port set, the replica starts one small process that owns no
request and no engine state: it answers the probes with its own interpreter and GIL, and
learns whether the replica is alive from a heartbeat, a timestamp in shared memory that the
replica's event loop writes every ``HEARTBEAT_SECONDS``. A heartbeat older than
``probe_stale_seconds`` means the event loop has not run for that long: both probes answer
503 (a hung replica is still restarted). /readyz also pings the session store, as the app's
does. The process exits when the replica does (it watches its parent).

With ``--workers N`` each worker starts its own probe process on the same port
(SO_REUSEPORT): the kernel spreads the probes over them, and a stalled worker fails its
share.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import socket
import time

from ..redis_client import answers, connect

HEARTBEAT_SECONDS = 0.25
READY_SECONDS = 2.0  # a store that takes longer to answer a ping is not ready (both /readyz)
UNAVAILABLE = b'{"status":"unavailable"}'  # both probes' 503 body
PARENT_SECONDS = 0.5  # how often the probe process checks that its replica still runs
HEAD_BYTES = 8192  # a probe's request head is a line and a few headers
HEAD_SECONDS = 5.0  # a client that sends no full head in this long is dropped

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def check_port(host: str, port: int) -> None:
    """Raise ValueError, with a sentence, when the probe port cannot be bound (taken by a
    socket that does not share it): `autograd-service` checks this before it starts."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((host, port))
    except OSError as e:
        raise ValueError(f"probe port: cannot listen on {host}:{port}: {e.strerror or e}") \
            from None


class ProbeProcess:
    """The replica's side: the heartbeat it writes and the probe process that reads it."""

    def __init__(self, settings, health: dict):
        ctx = multiprocessing.get_context("spawn")  # no copy of the replica's threads or heap
        self.heartbeat = ctx.Value("d", time.monotonic(), lock=False)
        self._started, started = ctx.Pipe(duplex=False)
        redis_url = settings.store if settings.store != "memory" else None
        self.process = ctx.Process(
            target=serve, name="autograd-probes", daemon=True,
            args=(settings.probe_host, settings.probe_port, self.heartbeat,
                  settings.probe_stale_seconds, redis_url, json.dumps(health, separators=(",", ":")).encode(),
                  os.getpid(), started))

    def start(self) -> None:
        """Start it and wait until it listens; a port it cannot bind fails the startup."""
        self.process.start()
        if not self._started.poll(60):
            self.stop()
            raise RuntimeError("the probe process did not start within 60 s")
        error = self._started.recv()
        if error:
            self.stop()
            raise RuntimeError(f"probe port: {error}")

    async def beat(self) -> None:
        while True:
            self.heartbeat.value = time.monotonic()
            await asyncio.sleep(HEARTBEAT_SECONDS)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


# ----------------------------------------------------------------------- the probe process

def serve(host, port, heartbeat, stale_seconds, redis_url, health, parent, started) -> None:
    asyncio.run(_serve(host, port, heartbeat, stale_seconds, redis_url, health, parent,
                       started))


async def _serve(host, port, heartbeat, stale_seconds, redis_url, health, parent, started):
    store_ready = _store_ping(redis_url)

    async def answer(method: str, path: str) -> tuple[int, bytes]:
        if path not in ("/healthz", "/readyz"):
            return 404, b'{"status":"not found"}'
        if method not in ("GET", "HEAD"):
            return 405, b'{"status":"method not allowed"}'
        if time.monotonic() - heartbeat.value > stale_seconds:
            return 503, UNAVAILABLE
        if path == "/healthz":
            return 200, health
        return (200, b'{"status":"ready"}') if await store_ready() else (503, UNAVAILABLE)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_SECONDS)
            method, path, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            status, body = await answer(method, path.split("?", 1)[0])
            writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nCache-Control: no-store\r\n"
                         b"Connection: close\r\n\r\n"
                         % (status, _REASONS[status].encode(), len(body)))
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError, ValueError):
            pass  # not a probe: drop the connection
        finally:
            writer.close()

    try:
        server = await asyncio.start_server(handle, host, port, reuse_port=True,
                                            limit=HEAD_BYTES)
    except OSError as e:
        started.send(f"cannot listen on {host}:{port}: {e.strerror or e}")
        return
    started.send(None)
    async with server:
        while os.getppid() == parent:  # the replica is gone: so is its probe
            await asyncio.sleep(PARENT_SECONDS)


def _store_ping(redis_url):
    """The store's readiness: the memory store is the replica itself (ready while it beats);
    Redis must answer a PING, from a thread, within READY_SECONDS (as RedisStore.ready)."""
    async def memory() -> bool:
        return True

    if redis_url is None:
        return memory
    client = connect(redis_url, socket_timeout=READY_SECONDS,
                     socket_connect_timeout=READY_SECONDS)

    async def redis_ready() -> bool:
        try:
            return await asyncio.wait_for(asyncio.to_thread(answers, client), READY_SECONDS)
        except TimeoutError:
            return False

    return redis_ready
