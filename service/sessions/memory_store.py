"""The in-memory SessionStore: one process, idle TTL, caps on count and bytes."""

from __future__ import annotations

import hmac
import math
import threading
import time

from ..problems import Problem
from ..run.workspace import Workspace
from .base import Session, SessionStore, new_id, session_too_large

NOT_FOUND = "unknown or expired session"


class MemoryStore(SessionStore):
    def __init__(self, settings):
        self.settings = settings
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()  # guards the dict; each session has its own lock

    def _purge(self) -> None:
        dead = [sid for sid, s in self._sessions.items() if s.expires_in() <= 0]
        for sid in dead:
            del self._sessions[sid]

    def create(self, owner: str, ws: Workspace) -> Session:
        s = self.settings
        nbytes = ws.nbytes()
        if nbytes > s.max_session_bytes:
            raise session_too_large(nbytes, s.max_session_bytes)
        with self._lock:
            self._purge()
            if len(self._sessions) >= s.max_sessions:
                raise Problem(429, f"max_sessions reached ({s.max_sessions}); delete sessions "
                              "or wait for idle ones to expire", limit="max_sessions")
            self._key_quota(owner, nbytes)
            if self._bytes() + nbytes > s.max_store_bytes:
                raise Problem(429, "max_store_bytes reached; delete sessions or wait for idle "
                              "ones to expire", limit="max_store_bytes")
            session = Session(new_id(), owner, ws, s.session_ttl_seconds, nbytes=nbytes)
            self._sessions[session.id] = session
        return session

    def get(self, sid: str, owner: str) -> Session:
        with self._lock:
            session = self._sessions.get(sid) if isinstance(sid, str) else None
            if session is not None and session.expires_in() <= 0:
                del self._sessions[sid]
                session = None
            if session is None or not hmac.compare_digest(session.owner, owner):
                raise Problem(404, NOT_FOUND)
            session.last_used = time.monotonic()
            return session

    def delete(self, sid: str, owner: str) -> None:
        self.get(sid, owner)
        with self._lock:
            self._sessions.pop(sid, None)

    def update(self, session: Session) -> None:
        s = self.settings
        session.nbytes = session.ws.nbytes()
        session.last_used = time.monotonic()
        if session.nbytes > s.max_session_bytes:
            with self._lock:
                self._sessions.pop(session.id, None)
            raise session_too_large(session.nbytes, s.max_session_bytes, ended=True)

    def _key_quota(self, owner: str, nbytes: int) -> None:
        """Per-key caps (AUTOGRAD_KEY_MAX_SESSIONS / _BYTES): 429, retry when the key's
        soonest idle session expires (or after deleting one)."""
        s = self.settings
        mine = [x for x in self._sessions.values() if x.owner == owner]
        retry = max(1, math.ceil(min((x.expires_in() for x in mine), default=1)))
        if s.key_max_sessions and len(mine) >= s.key_max_sessions:
            raise Problem(429, f"key_max_sessions reached ({s.key_max_sessions}) for this API "
                          "key; delete sessions or wait for idle ones to expire",
                          limit="key_max_sessions", retry_after=retry)
        held = sum(x.nbytes for x in mine)
        if s.key_max_bytes and held + nbytes > s.key_max_bytes:
            raise Problem(429, f"key_max_bytes reached: {held + nbytes} > {s.key_max_bytes} "
                          "for this API key; delete sessions or wait for idle ones to expire",
                          limit="key_max_bytes", retry_after=retry)

    def _bytes(self) -> int:
        return sum(x.nbytes for x in self._sessions.values())

    def stats(self) -> tuple[int, int]:
        with self._lock:
            self._purge()
            return len(self._sessions), self._bytes()
