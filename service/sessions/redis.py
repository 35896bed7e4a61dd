"""The Redis SessionStore: sessions shared by every worker (``--workers N``).

Redis keeps each session's append-only log (and its owner, byte count and expiry); each
worker keeps live engine objects for the sessions it has served and, holding the
session's Redis lock, first replays the log entries other workers appended since, then
pushes its own before releasing the lock. So every worker sees one history, in one order.

Keys (prefix ``autograd:``): ``s:{id}:meta`` (hash: owner, nbytes), ``s:{id}:log`` (list
of JSON entries, tensors as {"dtype", "shape", "b64"}), ``s:{id}:lock``, and the sorted set
``sessions`` (id -> expiry time) for the count cap.
"""

from __future__ import annotations

import base64
import hmac
import threading
import time

import numpy as np
import orjson

from ..errors import Problem
from ..graphs import Workspace
from ..wire import RawTensor
from .base import Session, SessionStore, new_id
from .memory import NOT_FOUND
from .replay import apply

PREFIX = "autograd:"


def encode_entry(entry: dict) -> bytes:
    """A log entry as JSON; arrays and binary tensors become base64 tensor values."""
    def default(obj):
        if isinstance(obj, RawTensor):
            return {"dtype": obj.dtype, "shape": list(obj.shape),
                    "b64": base64.b64encode(obj.buffer).decode()}
        if isinstance(obj, np.ndarray):
            arr = np.ascontiguousarray(obj)
            return {"dtype": "bool" if arr.dtype == np.bool_ else str(arr.dtype),
                    "shape": list(arr.shape), "b64": base64.b64encode(arr.data).decode()}
        raise TypeError(f"cannot store {type(obj).__name__} in a session log")
    return orjson.dumps(entry, default=default)


class _SessionLock:
    """The session's Redis lock, plus catching up with the log on entry and publishing
    this worker's entries on exit."""

    def __init__(self, store: RedisStore, session: Session):
        self.store, self.session = store, session
        timeout = store.settings.compute_seconds + 60
        self.lock = store.redis.lock(store.key(session.id, "lock"), timeout=timeout,
                                     blocking_timeout=timeout)
        self.local = threading.RLock()  # threads of this worker queue here first

    def __enter__(self):
        self.local.acquire()
        try:
            if not self.lock.acquire():
                raise Problem(503, "the session is busy; try again")
        except Exception:
            self.local.release()
            raise
        try:
            self.store.catch_up(self.session)
        except Exception:
            self.lock.release()
            self.local.release()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.store.push(self.session)
        finally:
            self.lock.release()
            self.local.release()
        return False


class RedisStore(SessionStore):
    def __init__(self, settings):
        import redis
        self.settings = settings
        self.redis = redis.Redis.from_url(settings.store)
        self._live: dict[str, Session] = {}  # this worker's engine objects
        self._guard = threading.Lock()

    def key(self, sid: str, part: str) -> str:
        return f"{PREFIX}s:{sid}:{part}"

    # -- the log

    def catch_up(self, session: Session) -> None:
        """Replay the entries other workers appended since this worker last looked."""
        entries = self.redis.lrange(self.key(session.id, "log"), session.synced, -1)
        for raw in entries:
            entry = orjson.loads(raw)
            apply(session.ws, entry, self.settings)
            session.log.append(entry)
        session.synced += len(entries)

    def push(self, session: Session) -> None:
        fresh = session.log[session.synced:]
        if fresh:
            self.redis.rpush(self.key(session.id, "log"), *[encode_entry(e) for e in fresh])
            session.synced += len(fresh)
        self._touch(session)

    def _touch(self, session: Session) -> None:
        ttl = self.settings.session_ttl_seconds
        session.last_used = time.monotonic()
        pipe = self.redis.pipeline()
        for part in ("meta", "log"):
            pipe.pexpire(self.key(session.id, part), max(int(ttl * 1000), 1))
        pipe.zadd(PREFIX + "sessions", {session.id: time.time() + ttl})
        pipe.execute()

    # -- the interface

    def _session(self, sid: str, owner: str) -> Session:
        session = Session(sid, owner, Workspace(), self.settings.session_ttl_seconds)
        session.synced = 0
        session.lock = _SessionLock(self, session)
        return session

    def create(self, owner: str, ws: Workspace) -> Session:
        s = self.settings
        nbytes = ws.nbytes()
        if nbytes > s.max_session_bytes:
            raise Problem(413, f"max_session_bytes exceeded: {nbytes} > {s.max_session_bytes} "
                          "(setting AUTOGRAD_MAX_SESSION_BYTES)", limit="max_session_bytes")
        count, total = self.stats()
        if count >= s.max_sessions:
            raise Problem(429, f"max_sessions reached ({s.max_sessions}); delete sessions or "
                          "wait for idle ones to expire", limit="max_sessions")
        if total + nbytes > s.max_store_bytes:
            raise Problem(429, "max_store_bytes reached; delete sessions or wait for idle ones "
                          "to expire", limit="max_store_bytes")
        session = self._session(new_id(), owner)
        session.ws, session.nbytes = ws, nbytes
        self.redis.hset(self.key(session.id, "meta"), mapping={"owner": owner,
                                                               "nbytes": nbytes})
        self._touch(session)
        with self._guard:
            self._live[session.id] = session
        return session

    def get(self, sid: str, owner: str) -> Session:
        if not isinstance(sid, str) or len(sid) > 200:
            raise Problem(404, NOT_FOUND)
        stored = self.redis.hget(self.key(sid, "meta"), "owner")
        if stored is None or not hmac.compare_digest(stored.decode(), owner):
            with self._guard:
                self._live.pop(sid, None)
            raise Problem(404, NOT_FOUND)
        with self._guard:
            session = self._live.get(sid)
            if session is None:
                session = self._live[sid] = self._session(sid, owner)
        self._touch(session)
        return session

    def delete(self, sid: str, owner: str) -> None:
        self.get(sid, owner)
        self.redis.delete(*(self.key(sid, p) for p in ("meta", "log", "lock")))
        self.redis.zrem(PREFIX + "sessions", sid)
        with self._guard:
            self._live.pop(sid, None)

    def update(self, session: Session) -> None:
        s = self.settings
        session.nbytes = session.ws.nbytes()
        self.push(session)
        self.redis.hset(self.key(session.id, "meta"), "nbytes", session.nbytes)
        if session.nbytes > s.max_session_bytes:
            self.redis.delete(*(self.key(session.id, p) for p in ("meta", "log")))
            self.redis.zrem(PREFIX + "sessions", session.id)
            raise Problem(413, f"max_session_bytes exceeded: {session.nbytes} > "
                          f"{s.max_session_bytes} (setting AUTOGRAD_MAX_SESSION_BYTES); the "
                          "session was ended", limit="max_session_bytes")

    def stats(self) -> tuple[int, int]:
        zset = PREFIX + "sessions"
        self.redis.zremrangebyscore(zset, "-inf", time.time())
        sids = [s.decode() for s in self.redis.zrange(zset, 0, -1)]
        with self._guard:  # forget engine objects of sessions that ended elsewhere
            for sid in set(self._live) - set(sids):
                del self._live[sid]
        if not sids:
            return 0, 0
        pipe = self.redis.pipeline()
        for sid in sids:
            pipe.hget(self.key(sid, "meta"), "nbytes")
        return len(sids), sum(int(b or 0) for b in pipe.execute())

    def ready(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:
            return False
