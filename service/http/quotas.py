"""Per-key request rate (a token bucket per API key) and the request id of every answer
and log line.

Rate: AUTOGRAD_KEY_REQUESTS_PER_SECOND tokens a second, up to AUTOGRAD_KEY_BURST; a request
finding the bucket empty is a 429 with Retry-After (the seconds until a token is back).
With the memory store the buckets live in the process; with the Redis store they live in
Redis, so the rate holds across replicas and workers (RedisRateLimiter).
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
import time

import redis

from ..problems import Problem
from ..redis_client import connect
from .errors import REQUEST_ID

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
                raise self.refusal((1 - tokens) / self.rate)
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > 100_000:  # full buckets of idle keys carry no state
                self._buckets = {k: v for k, v in self._buckets.items()
                                 if now - v[1] < self.burst / self.rate}


    def refusal(self, seconds: float) -> Problem:
        wait = max(1, math.ceil(seconds))
        return Problem(429, f"key_requests_per_second exceeded ({self.rate:g}/s, burst "
                       f"{self.burst}); retry after {wait} s (setting "
                       "AUTOGRAD_KEY_REQUESTS_PER_SECOND)", limit="key_requests_per_second",
                       retry_after=wait)


# One token bucket per key in a Redis hash (tokens, time of the last take), taken atomically
# by a script with Redis's own clock, so every replica draws from the same bucket.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1]) or burst
local ts = tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate else tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter(RateLimiter):
    """The token bucket kept in Redis (AUTOGRAD_STORE=redis://...): one bucket per key for
    all replicas. When Redis cannot answer (down, at maxmemory, slow past 0.5 s) this
    replica's own bucket decides instead, and says so in the log: a quota must not turn an
    outage of the session store into an outage of one-shot requests, which need no store."""

    def __init__(self, url: str, rate: float, burst: int, prefix: str = "autograd:"):
        super().__init__(rate, burst)
        self._errors = redis.RedisError
        self._client = connect(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._take = self._client.register_script(_TAKE)
        self._prefix = prefix + "rate:"

    def take(self, key: str) -> None:
        if self.rate <= 0:
            return
        try:
            wait = float(self._take(keys=[self._prefix + (key or "-")],
                                    args=[repr(float(self.rate)), self.burst]))
        except self._errors as e:
            logging.getLogger("service").warning(
                "rate limit: Redis did not answer (%s); this replica's own bucket decides", e)
            return super().take(key)
        if wait > 0:
            raise self.refusal(wait)


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
