"""Rebuild a Workspace from a session's log: what a shared store (Redis) does when a
request lands on a worker that does not hold the live objects.

Each entry is re-run as it first ran; an entry that failed then fails the same way now
(the engine is deterministic, rand/randn take a seed), so errors are skipped, as they were
answered then. Unseeded rand/randn are the one thing a replay cannot reproduce.
"""

from __future__ import annotations

from engine.errors import AutogradError

from .. import compute
from ..errors import Problem
from ..graphs import Workspace
from ..limits import Budget
from ..schemas import BackwardRequest, GradRequest, Node


def replay(log: list[dict], settings) -> Workspace:
    ws = Workspace()
    for entry in log:
        kind = entry["kind"]
        budget = Budget(settings)
        try:
            if kind == "nodes":
                ws.add_nodes([Node.model_validate(n) for n in entry["nodes"]], budget)
            elif kind == "backward":
                args = {k: v for k, v in entry.items() if k != "kind"}
                compute.backward(ws, BackwardRequest.model_validate(args), budget)
            elif kind == "grad":
                args = {k: v for k, v in entry.items() if k != "kind"}
                compute.grad(ws, GradRequest.model_validate(args), budget)
            elif kind == "zero_grad":
                ws.zero_grad()
            elif kind == "put":
                ws.put(entry["name"], entry["value"])
            else:
                raise ValueError(f"unknown log entry {kind!r}")
        except (Problem, AutogradError):
            pass  # it failed the first time too, with the same answer
    return ws
