"""Per-key request rate (a token bucket per API key) and the request id of every answer
and log line.

Rate: AUTOGRAD_KEY_REQUESTS_PER_SECOND tokens a second, up to AUTOGRAD_KEY_BURST; a request
finding the bucket empty is a 429 with Retry-After (the seconds until a token is back).
Buckets live in the process (with N workers a key gets up to N times the rate).
"""

from __future__ import annotations

import contextvars
import logging
import math
import random
import re
import threading
import time

from .errors import Problem

REQUEST_ID = contextvars.ContextVar("request_id", default=None)
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # a client's id we may echo into headers/logs


class RateLimiter:
    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, max(burst, 1)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                wait = math.ceil((1 - tokens) / self.rate)
                raise Problem(429, f"key_requests_per_second exceeded ({self.rate:g}/s, burst "
                              f"{self.burst}); retry after {wait} s (setting "
                              "AUTOGRAD_KEY_REQUESTS_PER_SECOND)", limit="key_requests_per_second",
                              retry_after=wait)
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > 100_000:  # full buckets of idle keys carry no state
                self._buckets = {k: v for k, v in self._buckets.items()
                                 if now - v[1] < self.burst / self.rate}


class RequestIdMiddleware:
    """Pure ASGI (no task of its own), so the id set here is visible to the endpoint, the
    exception handlers (500 included) and uvicorn's access log line of the request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"")
        try:
            rid = given.decode("ascii") if _SANE.match(given.decode("ascii")) else None
        except UnicodeDecodeError:
            rid = None
        rid = rid or f"{random.getrandbits(128):032x}"  # uuid4().hex costs a syscall
        REQUEST_ID.set(rid)
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)


_installed = False


def install_log_ids() -> None:
    """Every log record made while a request is served starts with its id."""
    global _installed
    if _installed:
        return
    _installed = True
    make = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = make(*args, **kwargs)
        rid = REQUEST_ID.get()
        record.request_id = rid or "-"
        if rid and isinstance(record.msg, str):
            record.msg = f"[request {rid}] {record.msg}"
        return record

    logging.setLogRecordFactory(factory)
