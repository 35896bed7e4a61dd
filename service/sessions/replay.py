"""Rebuild a Workspace from a session's log: what the Redis store does when a request lands
on a worker that has not seen every call of the session.

Each entry is re-run as it first ran; an entry that failed then fails the same way now
(the engine is deterministic, rand/randn take a seed), so errors are skipped, as they were
answered then. Unseeded rand/randn are the one thing a replay cannot reproduce.

NOTE [bounded replay]: a catch-up costs a bounded amount, whatever the session's history.
* Snapshots (sessions/snapshots.py): the replica that commits a call writes a snapshot of
  the session's engine objects (run/workspace_snapshot.py, engine/graph_snapshot.py: a
  whitelisted JSON and raw-bytes document, never pickle) once the log has grown by
  ``snapshot_every`` entries since the newest one, under the session's hash tag with the
  log length it covers. A replica more than ``snapshot_every`` entries behind loads it and
  runs only the entries after it (fewer than ``snapshot_every`` when the last write was
  kept); one less behind runs its missing entries: so a catch-up runs at most
  ``snapshot_every`` entries, whatever the history. The entries a snapshot covers are still
  read and parsed, not run (the session's graph hash, Idempotency-Keys and gradcheck read
  the whole log).
* A workspace a snapshot cannot represent faithfully (a Python hook left registered, a
  custom Function's node, inference tensors, saved-tensor hooks: NOTE [graph snapshots])
  gets none (``SnapshotRefused``), nor does one over ``snapshot_max_bytes``; a snapshot
  that does not load (``SnapshotCorrupt``) is not used. Each is logged and counted, and
  that catch-up replays the log as below.
* The log has at most ``max_session_calls`` entries (``room`` refuses the call beyond, a
  413), and its nodes at most ``max_nodes`` over the session's life.
* A catch-up runs under a deadline of ``compute_seconds`` (``Deadline``), checked between
  entries: one entry runs whole (it ran within the limit when it was first answered), so
  the workspace is never left half-way through one. Past the deadline the request is a
  503 with Retry-After and the entries replayed so far are kept by the replica: the retry
  continues from there, so even a long log is caught up in bounded steps.
* One API key cannot push another's sessions out of a replica's cache (and so into
  replays): when the cache is over its caps, the key holding the most live sessions (or
  bytes) loses its least recently used one first (``victim``).
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from engine.errors import AutogradError

from ..budget import Budget
from ..problems import Problem, limit
from ..run import compute
from ..run.retained import free
from ..run.workspace import Workspace
from ..schemas import BackwardRequest, GradRequest, Node
from ..wire import codec

KINDS = ("nodes", "backward", "grad", "zero_grad", "free", "put")


def apply(ws: Workspace, entry: dict, settings) -> None:
    """Re-run one log entry on ``ws``."""
    kind = entry["kind"]
    budget = Budget(settings)
    budget.deadline = float("inf")  # it was within the time limit when it first ran
    args = {k: v for k, v in entry.items() if k not in ("kind", "idempotency")}
    try:
        if kind == "nodes":
            ws.add_nodes([Node.model_validate(n) for n in entry["nodes"]], budget)
        elif kind == "backward":
            compute.backward(ws, BackwardRequest.model_validate(args), budget)
        elif kind == "grad":
            compute.grad(ws, GradRequest.model_validate(args), budget)
        elif kind == "zero_grad":
            ws.zero_grad()
        elif kind == "free":
            free(ws)
        elif kind == "put":
            value = entry["value"]
            ws.put(entry["name"], value if isinstance(value, np.ndarray)
                   else codec.decode(value, budget))
        else:
            raise ValueError(f"unknown log entry {kind!r}")
    except (Problem, AutogradError):
        pass  # it failed the first time too, with the same answer


def replay(log: list[dict], settings) -> Workspace:
    ws = Workspace()
    for entry in log:
        apply(ws, entry, settings)
    return ws


class Deadline:
    """A catch-up's time limit, checked between entries (NOTE [bounded replay])."""

    def __init__(self, settings):
        self.seconds = settings.compute_seconds
        self.at = time.monotonic() + self.seconds

    def check(self, done: int, left: int) -> None:
        if left and time.monotonic() > self.at:
            raise Problem(503, f"the session's history is being replayed on this replica "
                          f"({done} entries in {self.seconds:g} s, {left} to go); retry: the "
                          "replay continues where it stopped", "store-unavailable",
                          retry_after=1)


def room(session, settings, entries: int = 1) -> None:
    """Refuse (413) a call that would make the session's log longer than
    max_session_calls (NOTE [bounded replay])."""
    n = len(session.log) + entries
    if n > settings.max_session_calls:
        raise limit("max_session_calls", n, settings.max_session_calls)


def victim(live: dict, over_bytes: bool) -> str:
    """The session id a replica's cache drops first: the least recently used session of
    the API key holding the most sessions (the most bytes, when over the byte cap).
    ``live`` is ordered least recently used first."""
    weight = Counter()
    for s in live.values():
        weight[s.owner] += s.nbytes if over_bytes else 1
    heaviest = max(weight, key=weight.get)
    return next(sid for sid, s in live.items() if s.owner == heaviest)
