"""The SessionStore interface and the Session it holds.

A session keeps the live engine objects (a Workspace) *and* an append-only log of what
happened to it: graph nodes appended, backward/grad calls with their arguments, zero_grad,
tensor puts. The live objects serve requests; the log is what a shared store (Redis) can
persist and replay in another worker to rebuild the same workspace.
"""

from __future__ import annotations

import abc
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..problems import Problem
from ..run.workspace import Workspace


def session_too_large(nbytes: int, limit: int, ended: bool = False) -> Problem:
    """The 413 for a session whose tensors pass max_session_bytes (``ended``: an existing
    session, which the store has just dropped)."""
    return Problem(413, f"max_session_bytes exceeded: {nbytes} > {limit} (setting "
                   "AUTOGRAD_MAX_SESSION_BYTES)" + ("; the session was ended" if ended else ""),
                   limit="max_session_bytes")


def new_id() -> str:
    return "s_" + secrets.token_urlsafe(24)  # 192 bits


@dataclass(eq=False)
class Session:
    id: str
    owner: str  # fingerprint of the API key that made it ("" without keys)
    ws: Workspace
    ttl: float
    log: list = field(default_factory=list)
    graph_retained: bool = True
    nbytes: int = 0
    synced: int = 0  # log entries already in the shared store (Redis)
    snapshot_at: int = 0  # log entries the newest snapshot known to cover (Redis)
    last_used: float = field(default_factory=time.monotonic)
    lock: object = field(default_factory=threading.RLock)  # serializes calls on the session
    # Idempotency-Key -> (request fingerprint, rendered answer or None when not at hand)
    idempotent: dict = field(default_factory=dict)
    pending: tuple | None = None  # (key, answer) the Redis store writes with the next commit

    def record(self, kind: str, **args) -> None:
        self.log.append({"kind": kind, **args})

    def expires_in(self) -> float:
        return self.last_used + self.ttl - time.monotonic()

    def info(self) -> dict:
        at = datetime.fromtimestamp(time.time() + max(self.expires_in(), 0), UTC)
        return {"id": self.id, "expires_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "graph_retained": self.graph_retained}


class SessionStore(abc.ABC):
    """Small on purpose: what the routes need, and what Redis can provide."""

    @abc.abstractmethod
    def create(self, owner: str, ws: Workspace) -> Session:
        """Store a new session (429 when full)."""

    @abc.abstractmethod
    def get(self, sid: str, owner: str) -> Session:
        """The live session, touched (404 when unknown, expired, or another owner's)."""

    @abc.abstractmethod
    def delete(self, sid: str, owner: str) -> None:
        """End a session (404 as get)."""

    @abc.abstractmethod
    def update(self, session: Session) -> None:
        """After a call: refresh its byte count and expiry (413/429 over the caps)."""

    @abc.abstractmethod
    def stats(self) -> tuple[int, int]:
        """(sessions held, tensor bytes held)."""

    # ready() asks another process (a network round trip): /readyz runs it in a thread of
    # its own with a deadline; False: it does no I/O and runs on the event loop
    ready_blocks = False

    def ready(self) -> bool:
        return True

    # Idempotency-Key records live with the session (content.py): here in its memory,
    # the Redis store keeps them in Redis, written with the call's log entries.

    def recall(self, session: Session, key: str) -> tuple | None:
        """(fingerprint, answer) for a key used in the session (answer None when it is no
        longer kept), None for a new key. Called under the session's lock."""
        return session.idempotent.get(key)

    def remember(self, session: Session, key: str, fingerprint: str, answer: dict) -> None:
        """Keep ``answer`` for ``key``; called just before update() publishes the call."""
        kept = session.idempotent
        kept[key] = (fingerprint, answer)
        if len(kept) > max(self.settings.idempotency_keys, 1):  # drop the oldest answer, keep its key (a retry is a 409)
            old = next(k for k, (_, a) in kept.items() if a is not None)
            kept[old] = (kept[old][0], None)
