"""The Redis SessionStore: sessions shared by every replica (and every ``--workers`` worker).

A session in Redis is its *log*: the node lists, backward/grad/zero_grad/free calls and
tensor puts, in the order they ran, as JSON with tensors as raw little-endian bytes
(base64). Never pickle: reading a session can run nothing but the engine's own ops. Each
replica keeps live engine objects for the sessions it has served, with the number of log
entries they contain (the session's *version*). Under the session's Redis lock a replica
fetches only the entries past its version (none when it is warm) and replays them, runs
the call, then appends its own entries with one Lua script that first checks the version is
still the one it replayed to (fencing: a lock that expired under a paused replica cannot
fork the history). docs/sessions-in-redis.md says why and what is guaranteed.

Keys (prefix ``autograd:``): ``s:{id}:meta`` (hash: format, owner, nbytes), ``s:{id}:log``
(list of JSON entries), ``s:{id}:snap`` (hash: the newest snapshot of its engine objects and
the log length it covers, NOTE [bounded replay]), ``s:{id}:lock``,
``s:{id}:idem``/``idem_order`` (Idempotency-Key answers), all with the idle TTL as Redis
expiry; the index: the sorted set ``sessions`` (id -> expiry, for the count cap), the hash
``bytes`` (id -> bytes, for the byte cap) and a sorted set ``ids:{key}`` per API key (for
the per-key caps). On a Redis Cluster the id is a
hash tag and the index has its own (NOTE [session slot, index slot]). Every write to a
session is one script, so it is atomic: a session is never half written, and scripts
begin with ``#!lua`` so that Redis refuses them *before* running when it is out of memory;
those that only move an expiry or free memory (touch, index_keep, index_drop, delete) are
``allow-oom``, so a full Redis still lets a session be read and deleted to make room.
With Sentinel a call is answered once a replica holds it (NOTE [acknowledged means
replicated]).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import logging
import threading
from collections import OrderedDict

import numpy as np
import orjson
import redis
from redis.cluster import RedisCluster

from engine.errors import AutogradError

from ..problems import Problem
from ..redis_client import answers, connect
from ..run.workspace import Workspace
from ..wire.codec import RawTensor
from . import snapshots
from .base import Session, SessionStore, new_id, session_too_large
from .memory_store import NOT_FOUND
from .replay import KINDS, Deadline, apply, victim

PREFIX = "autograd:"
FORMAT = "autograd-log/1"
LOCK_TTL = 10.0  # seconds; extended while held, so a killed replica frees it this fast
WAIT_MS = 2000  # how long a call waits for a replica's confirmation (NOTE [acknowledged ...])
log = logging.getLogger("service")


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


def corrupt(sid: str, why: str) -> Problem:
    return Problem(500, f"session {sid} in the store is corrupted or not a session of this "
                   f"service ({why}); delete it (an operator may need to remove its Redis "
                   "keys)", "session-corrupt")


# NOTE [session slot, index slot]: every script touches either one session's keys or the
# shared index (count, bytes, per-key ids), never both, so that on a Redis Cluster each runs
# on one slot: a session's keys share the hash tag {id}, the index keys the tag {index}. A
# session's history is atomic (one script per call); the index is updated by a second
# script right after (the cap check before the session is written, the expiry and bytes
# after each call), so a replica that dies in between leaves an index entry that expires
# with the session's TTL (a cap counts it until then), never a session outside the caps.
_NOW = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
"""
# Expired ids leave the index first (their session keys Redis already dropped).
_PURGE = _NOW + """
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('HDEL', KEYS[2], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
"""
# Index scripts. KEYS sessions (zset id -> expiry ms), bytes (hash id -> bytes), the API
# key's ids (zset id -> expiry ms).
# ARGV sid, nbytes, ttl_ms, max_sessions, max_store_bytes, key_max_sessions, key_max_bytes
INDEX_ADD = "#!lua\n" + _PURGE + """
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return {'full', 'max_sessions'} end
local total = tonumber(ARGV[2])
for _, b in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(b) end
if total > tonumber(ARGV[5]) then return {'full', 'max_store_bytes'} end
local mine = redis.call('ZRANGE', KEYS[3], 0, -1)
if tonumber(ARGV[6]) > 0 and #mine >= tonumber(ARGV[6]) then
  return {'full', 'key_max_sessions'}
end
local held = tonumber(ARGV[2])
for _, id in ipairs(mine) do held = held + tonumber(redis.call('HGET', KEYS[2], id) or '0') end
if tonumber(ARGV[7]) > 0 and held > tonumber(ARGV[7]) then return {'full', 'key_max_bytes'} end
local expiry = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], expiry, ARGV[1]); redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], expiry, ARGV[1]); redis.call('PEXPIRE', KEYS[3], ARGV[3])
return {'ok'}
"""
# ARGV sid, nbytes ('' = unchanged), ttl_ms: the expiry moved on, of an id still indexed
INDEX_KEEP = "#!lua flags=allow-oom\n" + _NOW + """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local expiry = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], expiry, ARGV[1]); redis.call('ZADD', KEYS[3], expiry, ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 1
"""
INDEX_DROP = "#!lua flags=allow-oom\n" + """
redis.call('ZREM', KEYS[1], ARGV[1]); redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""
STATS = "#!lua\n" + _PURGE + """
local total = 0
for _, b in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(b) end
return {redis.call('ZCARD', KEYS[1]), tostring(total), redis.call('ZRANGE', KEYS[1], 0, -1)}
"""
# Session scripts. KEYS meta, log, idem, idem_order, snap (then lock, for DELETE).
_KEEP = """
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
"""
# ARGV sid, owner, ttl_ms, nbytes, entries...
CREATE = "#!lua\n" + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
redis.call('HSET', KEYS[1], 'format', '""" + FORMAT + """', 'owner', ARGV[2], 'nbytes', ARGV[4])
for i = 5, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
""" + _KEEP + "return {'ok', redis.call('LLEN', KEYS[2])}"
# ARGV version, nbytes, ttl_ms, idempotency key ('' for none), its answer, answers kept,
# entries... The answer goes in with the entries (whose last one names the key): a retry
# finds both or neither.
COMMIT = "#!lua\n" + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[1]) then return {'conflict'} end
for i = 7, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
  redis.call('RPUSH', KEYS[4], ARGV[4])
  while redis.call('LLEN', KEYS[4]) > tonumber(ARGV[6]) do
    redis.call('HDEL', KEYS[3], redis.call('LPOP', KEYS[4]))
  end
end
redis.call('HSET', KEYS[1], 'nbytes', ARGV[2])
""" + _KEEP + "return {'ok', redis.call('LLEN', KEYS[2])}"
# ARGV -, -, ttl_ms: the owner and format, and the expiry moved on
TOUCH = "#!lua flags=allow-oom\n" + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local m = redis.call('HMGET', KEYS[1], 'format', 'owner')
if m[1] == '""" + FORMAT + """' and m[2] then""" + _KEEP + """end
return {m[1] or '', m[2] or ''}
"""
DELETE = "#!lua flags=allow-oom\n" + """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return 1
"""


class _SessionLock:
    """The session's Redis lock (after this replica's own threads queue on a local lock),
    kept alive by a watchdog while held; on entry the replica catches up with the log, on
    exit entries a failed call recorded are published too (a replay fails the same way)."""

    def __init__(self, store: RedisStore, session: Session):
        self.store, self.session = store, session
        self.local = threading.RLock()
        self.depth = 0

    def __enter__(self):
        self.local.acquire()
        self.depth += 1
        if self.depth > 1:
            return self
        try:
            wait = self.store.settings.compute_seconds + 30
            self.lock = self.store.redis.lock(self.store.key(self.session.id, "lock"),
                                              timeout=LOCK_TTL, sleep=0.005,
                                              blocking_timeout=wait)
            if not self.lock.acquire():
                raise Problem(503, "the session is busy; retry", "store-unavailable")
            self.stop = threading.Event()
            threading.Thread(target=self._keep, args=(self.lock, self.stop),
                             daemon=True).start()
            try:
                self.store.catch_up(self.session)
            except BaseException:
                self._release()
                raise
        except BaseException:
            self.depth -= 1
            self.local.release()
            raise
        return self

    @staticmethod
    def _keep(lock, stop):
        while not stop.wait(LOCK_TTL / 3):
            try:
                lock.extend(LOCK_TTL, replace_ttl=True)
            except Exception:  # lost or Redis gone: the commit's version check fences
                return

    def _release(self):
        self.stop.set()
        try:
            self.lock.release()
        except Exception:  # expired or Redis gone: it frees itself within LOCK_TTL
            pass

    def __exit__(self, kind, exc, tb):
        self.depth -= 1
        try:
            if self.depth == 0:
                try:
                    if self.session.synced < len(self.session.log):
                        if exc is None or isinstance(exc, (Problem, AutogradError)):
                            self.store.commit(self.session)  # raises only when exc is None
                        else:  # an unexpected error: keep it out of the shared history
                            self.store.forget(self.session)
                finally:
                    self._release()
        except Exception:
            if exc is None:
                raise
        finally:
            self.local.release()
        return False


class RedisStore(SessionStore):
    def __init__(self, settings):
        self.settings = settings
        self.redis = connect(settings.store)
        self.cluster = isinstance(self.redis, RedisCluster)
        sentinel = settings.store.startswith("redis-sentinel://")
        # NOTE [acknowledged means replicated]: with Sentinel, a call is answered only once
        # WAIT says a replica holds its log entries, so the replica a failover promotes has
        # every answered call (docs/sessions-in-redis.md).
        self.wait = settings.store_wait_replicas
        if self.wait < 0:
            self.wait = 1 if sentinel else 0
        if self.wait and self.cluster:
            raise ValueError("AUTOGRAD_STORE_WAIT_REPLICAS is not supported with "
                             "redis-cluster:// (set it to 0)")
        # NOTE [session slot, index slot]; a single Redis keeps the names it always had
        self._tag = (lambda x: "{" + x + "}") if self.cluster else (lambda x: x)
        self._index = PREFIX + ("{index}:" if self.cluster else "")
        self.scripts = {name: self.redis.register_script(src) for name, src in (
            ("create", CREATE), ("commit", COMMIT), ("touch", TOUCH), ("delete", DELETE),
            ("index_add", INDEX_ADD), ("index_keep", INDEX_KEEP),
            ("index_drop", INDEX_DROP), ("stats", STATS), ("snapshot", snapshots.WRITE))}
        # this replica's engine objects, least recently used first (bounded: _trim)
        self._live: OrderedDict[str, Session] = OrderedDict()
        self._guard = threading.Lock()
        self.replayed = 0  # log entries replayed by this replica (a warm one replays none)
        self.dropped = 0  # sessions whose engine objects _trim let go
        # NOTE [bounded replay]: snapshots written, refused (not representable or too
        # large: the log is replayed instead), and found corrupt on load (the same)
        self.snapshots = {"written": 0, "loaded": 0, "refused": 0, "corrupt": 0}

    def key(self, sid: str, part: str) -> str:
        return f"{PREFIX}s:{self._tag(sid)}:{part}"

    def _keys(self, sid: str) -> list[str]:
        """The session's keys, one slot: meta, log, idem, idem_order, snap, lock."""
        return [self.key(sid, p) for p in ("meta", "log", "idem", "idem_order", "snap",
                                           "lock")]

    def _index_keys(self, owner: str) -> list[str]:
        """The index's keys, one slot: the count, the bytes, the API key's ids."""
        return [self._index + "sessions", self._index + "bytes", self._index + "ids:" + owner]

    def _run(self, name: str, sid: str, args: list, keys: list, client=None):
        try:
            return self.scripts[name](keys=keys, args=args, client=client)
        except redis.ResponseError as e:
            if "WRONGTYPE" in str(e):
                raise corrupt(sid, "a Redis key of the wrong type") from None
            raise

    def _replicated(self, name: str, sid: str, args: list) -> list:
        """A session script, then (NOTE [acknowledged means replicated]) WAIT on the same
        connection: a 503 when no replica confirmed it in time (this replica forgets its
        objects: the promoted replica may not have the entries)."""
        if not self.wait:
            return self._run(name, sid, args, self._keys(sid)[:5])
        pipe = self.redis.pipeline(transaction=False)
        self._run(name, sid, args, self._keys(sid)[:5], client=pipe)
        pipe.execute_command("WAIT", self.wait, WAIT_MS)
        try:
            out, acked = pipe.execute()
        except redis.ResponseError as e:
            if "WRONGTYPE" in str(e):
                raise corrupt(sid, "a Redis key of the wrong type") from None
            raise
        self._confirmed(acked)
        return out

    def _confirmed(self, acked: int) -> None:
        if acked < self.wait:
            raise Problem(503, f"the call reached the primary but {acked} of {self.wait} "
                          f"replicas confirmed it within {WAIT_MS} ms; retry with the same "
                          "Idempotency-Key (it is then answered once)", "store-unavailable")

    def _ttl_ms(self) -> int:
        return max(int(self.settings.session_ttl_seconds * 1000), 1)

    def _index_keep(self, session: Session, nbytes) -> None:
        self._run("index_keep", session.id, [session.id, nbytes, self._ttl_ms()],
                  self._index_keys(session.owner))

    def _drop(self, sid: str, owner: str) -> None:
        self._run("delete", sid, [], self._keys(sid))
        self._run("index_drop", sid, [sid], self._index_keys(owner))

    # -- the log

    def forget(self, session: Session) -> None:
        """Drop this replica's engine objects for the session (in place, so that threads
        waiting on its lock see it too): the next call replays the log from Redis."""
        session.ws, session.log, session.synced = Workspace(), [], 0
        session.idempotent, session.pending = {}, None

    def catch_up(self, session: Session) -> None:
        """Replay the entries other replicas appended since this one last looked."""
        sid = session.id
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.llen(self.key(sid, "log"))
            pipe.lrange(self.key(sid, "log"), session.synced, -1)
            pipe.hget(self.key(sid, "snap"), "index")
            length, entries, snapped = pipe.execute(raise_on_error=False)
            for out in (length, entries):
                if isinstance(out, Exception):
                    raise out
        except redis.ResponseError as e:
            if "WRONGTYPE" in str(e):
                raise corrupt(sid, "a Redis key of the wrong type") from None
            raise
        if length < session.synced:  # Redis lost writes (restart without AOF): start over
            self.forget(session)
            entries = self.redis.lrange(self.key(sid, "log"), 0, -1)
        deadline = Deadline(self.settings)  # NOTE [bounded replay]
        # entries the newest snapshot covers are read (the session's hash, keys and
        # gradcheck read the log) but not run
        covered = snapshots.restore(self, session, length, snapped)
        for k, raw in enumerate(entries):
            if k >= covered:  # (the covered ones stand for the loaded objects: all or none)
                deadline.check(k - covered, len(entries) - k)
            try:
                entry = orjson.loads(raw)
                if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
                    raise ValueError("a log entry that is not one of " + ", ".join(KINDS))
                if k >= covered:
                    apply(session.ws, entry, self.settings)
                    self.replayed += 1
            except Problem:
                raise
            except Exception as e:  # JSON, schema or tensor bytes: someone else's value
                self.forget(session)
                why = f"{type(e).__name__}: {str(e)[:200]}"
                if isinstance(e, (orjson.JSONDecodeError, binascii.Error)):
                    why = "a log entry that is not this service's JSON"
                raise corrupt(sid, why) from None
            session.log.append(entry)
            session.synced += 1
            self._note_key(session, entry)
        if entries or covered:  # what it holds now counts against replica_cache_bytes
            session.nbytes = session.ws.nbytes()
            with self._guard:
                self._trim()

    def commit(self, session: Session) -> None:
        """Publish the entries this replica appended, atomically, if nobody else did
        meanwhile; on any failure forget the engine objects (they ran ahead of Redis)."""
        fresh = session.log[session.synced:]
        key, answer = session.pending or ("", b"")
        session.pending = None
        try:
            out = self._replicated("commit", session.id, [
                session.synced, session.nbytes, self._ttl_ms(), key, answer,
                max(self.settings.idempotency_keys, 1), *(encode_entry(e) for e in fresh)])
        except BaseException:
            self.forget(session)
            raise
        status = out[0].decode()
        if status != "ok":
            self.forget(session)
            if status == "gone":
                raise Problem(404, NOT_FOUND)
            raise Problem(503, "the session changed under this call (its lock expired); "
                          "nothing was saved; retry", "store-unavailable")
        session.synced = len(session.log)
        self._index_keep(session, session.nbytes)
        snapshots.write(self, session)

    # -- Idempotency-Key records: the key and fingerprint in the call's log entry (so every
    # replica that replayed the log knows them), the answer in the session's idem hash

    @staticmethod
    def _note_key(session: Session, entry: dict) -> None:
        idem = entry.get("idempotency")
        if isinstance(idem, dict) and idem.get("key") not in session.idempotent:
            session.idempotent[idem.get("key")] = (idem.get("fingerprint"), None)

    def recall(self, session: Session, key: str) -> tuple | None:
        found = session.idempotent.get(key)
        if found is None or found[1] is not None:
            return found
        if self.wait:  # NOTE [acknowledged means replicated]: a write, then WAIT, confirms
            pipe = self.redis.pipeline(transaction=False)  # all before it, this answer too
            pipe.hget(self.key(session.id, "idem"), key)
            pipe.pexpire(self.key(session.id, "meta"), self._ttl_ms())
            pipe.execute_command("WAIT", self.wait, WAIT_MS)
            raw, _, acked = pipe.execute()
            self._confirmed(acked)
        else:
            raw = self.redis.hget(self.key(session.id, "idem"), key)  # kept, or dropped since
        if raw is None:
            return found
        stored = orjson.loads(raw)
        return found[0], {"body": base64.b64decode(stored["body"]),
                          "media_type": stored["media_type"], "headers": stored["headers"]}

    def remember(self, session: Session, key: str, fingerprint: str, answer: dict) -> None:
        """The answer travels with the next commit (update() right after)."""
        session.idempotent[key] = (fingerprint, None)  # read back from Redis when needed
        session.pending = (key, orjson.dumps({
            "body": base64.b64encode(answer["body"]).decode(),
            "media_type": answer["media_type"], "headers": answer["headers"]}))

    # -- the interface

    def _session(self, sid: str, owner: str) -> Session:
        session = Session(sid, owner, Workspace(), self.settings.session_ttl_seconds)
        session.lock = _SessionLock(self, session)
        return session

    def create(self, owner: str, ws: Workspace) -> Session:
        """A session of this replica only, until update() stores it (with its first log
        entries, in one script that also checks the caps)."""
        s = self.settings
        nbytes = ws.nbytes()
        if nbytes > s.max_session_bytes:
            raise session_too_large(nbytes, s.max_session_bytes)
        session = self._session(new_id(), owner)
        session.ws, session.nbytes = ws, nbytes
        session.synced = -1  # not in Redis yet
        return session

    def get(self, sid: str, owner: str) -> Session:
        if not isinstance(sid, str) or not sid.startswith("s_") or len(sid) > 200 or \
                not sid.isascii() or "{" in sid or "}" in sid:
            raise Problem(404, NOT_FOUND)
        out = self._run("touch", sid, ["", "", self._ttl_ms()], self._keys(sid)[:5])
        if out is None:
            with self._guard:
                self._live.pop(sid, None)
            raise Problem(404, NOT_FOUND)
        fmt, stored = (x.decode(errors="replace") for x in out)
        if fmt != FORMAT:
            raise corrupt(sid, f"its meta hash has format {fmt!r}, not {FORMAT!r}")
        if not hmac.compare_digest(stored.encode(), owner.encode()):
            raise Problem(404, NOT_FOUND)
        with self._guard:
            session = self._live.get(sid)
            if session is None:
                session = self._session(sid, owner)
            self._keep(session)
        self._index_keep(session, "")
        return session

    def _keep(self, session: Session) -> None:
        """Mark ``session`` most recently used and keep the live sessions within
        replica_cache_sessions and replica_cache_bytes (caller holds _guard). A dropped
        session is replayed from its log when next used; a thread still working on the
        dropped object is safe, the Redis lock and the version check serialize the two."""
        self._live[session.id] = session
        self._live.move_to_end(session.id)
        self._trim()

    def _trim(self) -> None:
        s = self.settings
        total = sum(x.nbytes for x in self._live.values())
        while len(self._live) > 1 and (len(self._live) > s.replica_cache_sessions
                                       or total > s.replica_cache_bytes):
            old = self._live.pop(victim(self._live, total > s.replica_cache_bytes))
            total -= old.nbytes
            self.dropped += 1

    def delete(self, sid: str, owner: str) -> None:
        self.get(sid, owner)
        self._drop(sid, owner)
        with self._guard:
            self._live.pop(sid, None)

    def update(self, session: Session) -> None:
        s = self.settings
        session.nbytes = session.ws.nbytes()
        if session.nbytes > s.max_session_bytes:
            if session.synced >= 0:
                self._drop(session.id, session.owner)
            with self._guard:
                self._live.pop(session.id, None)
            raise session_too_large(session.nbytes, s.max_session_bytes, ended=True)
        if session.synced >= 0:
            self.commit(session)
            with self._guard:  # its bytes may have grown: trim
                self._keep(session)
            return
        session.pending = None  # a new session: no Idempotency-Key (keys are per session)
        sid, index = session.id, self._index_keys(session.owner)
        out = self._run("index_add", sid, [  # NOTE [session slot, index slot]: caps first
            sid, session.nbytes, self._ttl_ms(), s.max_sessions, s.max_store_bytes,
            s.key_max_sessions, s.key_max_bytes], index)
        if out[0] == b"full":
            which = out[1].decode()
            whose = " for this API key" if which.startswith("key_") else ""
            raise Problem(429, f"{which} reached ({getattr(s, which)}){whose}; delete "
                          "sessions or wait for idle ones to expire", limit=which)
        try:
            out = self._replicated("create", sid, [
                sid, session.owner, self._ttl_ms(), session.nbytes,
                *(encode_entry(e) for e in session.log)])
        except BaseException:
            with contextlib.suppress(redis.RedisError):  # else it expires with the TTL
                self._run("index_drop", sid, [sid], index)
            raise
        if out[0] != b"ok":  # 192 random bits met another session's id
            raise Problem(503, "a new session's id was taken; retry", "store-unavailable")
        session.synced = len(session.log)
        snapshots.write(self, session)
        with self._guard:
            self._keep(session)

    def stats(self) -> tuple[int, int]:
        count, total, sids = self.scripts["stats"](keys=self._index_keys("-"), args=[])
        alive = {s.decode() for s in sids}
        with self._guard:  # forget engine objects of sessions that ended elsewhere
            for sid in set(self._live) - alive:
                del self._live[sid]
        return int(count), int(total)

    ready_blocks = True

    def ready(self) -> bool:
        return answers(self.redis)
