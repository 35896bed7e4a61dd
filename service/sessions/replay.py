"""Rebuild a Workspace from a session's log: what the Redis store does when a request lands
on a worker that has not seen every call of the session.

Each entry is re-run as it first ran; an entry that failed then fails the same way now
(the engine is deterministic, rand/randn take a seed), so errors are skipped, as they were
answered then. Unseeded rand/randn are the one thing a replay cannot reproduce.
"""

from __future__ import annotations

import numpy as np

from engine.errors import AutogradError

from .. import compute, wire
from ..errors import Problem
from ..graphs import Workspace
from ..limits import Budget
from ..schemas import BackwardRequest, GradRequest, Node

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
            from ..memory import free
            free(ws)
        elif kind == "put":
            value = entry["value"]
            ws.put(entry["name"], value if isinstance(value, np.ndarray)
                   else wire.decode(value, budget))
        else:
            raise ValueError(f"unknown log entry {kind!r}")
    except (Problem, AutogradError):
        pass  # it failed the first time too, with the same answer


def replay(log: list[dict], settings) -> Workspace:
    ws = Workspace()
    for entry in log:
        apply(ws, entry, settings)
    return ws
