"""POST /gradcheck and /gradgradcheck: torch.autograd.gradcheck on the client's own graph.

The graph is a function of the tensors named by ``inputs`` to those named by ``outputs``.
Each evaluation replays the node list in a fresh Workspace in which the ``inputs`` ids are
bound to the given (float64, requires-grad) tensors instead of what their nodes made, so
the finite differences and the analytical Jacobians run through exactly the client's ops.
"""

from __future__ import annotations

import numpy as np

from engine import Tensor
from engine.errors import AutogradError
from engine.gradcheck import failure_message, grad_of, gradcheck_report, random_grad_outputs

from ..budget import Budget
from ..problems import Problem, bad, limit
from ..run import content
from ..run.workspace import ARGUMENT_ERRORS, Workspace
from ..schemas import Node
from ..wire.codec import Encoder
from .backward_grad import graph_nodes, log_nodes

# finite differences cost two replays per input element: keep a request's work bounded
MAX_CHECK_EVALUATIONS = 4096


class _Replay(Workspace):
    """A Workspace whose ``inputs`` ids are bound to given tensors (the function's args)."""

    def __init__(self, overrides: dict):
        super().__init__()
        self._overrides = dict(overrides)

    def bind(self, name, op, t):
        if name in self._overrides:
            t = self._overrides.pop(name)  # first binding only: a later rebind is the graph's
        super().bind(name, op, t)


def _names(value, what: str) -> list[str]:
    names = [value] if isinstance(value, str) else list(value)
    if not names or not all(isinstance(n, str) for n in names):
        raise bad(f"{what}: expected one id or a non-empty list of ids")
    return names


def _function(nodes, input_names, output_names, budget):
    def func(*tensors):
        ws = _Replay(dict(zip(input_names, tensors)))
        ws.add_nodes(nodes, budget)
        return tuple(ws.ref(n, "outputs") for n in output_names)
    return func


def function_nodes(state, req, owner: str, budget, input_names) -> tuple[list, Workspace]:
    """The nodes that define the function, and a workspace built from them at the point of
    evaluation. In a session: every node sent so far (then the request's own, which are
    not kept), evaluated at the session's current values of ``inputs``. A PUT on any other
    tensor would not replay, so it is refused rather than silently ignored."""
    settings = state.settings
    if getattr(req, "session", None) is None:
        nodes = graph_nodes(req, settings)
        if not nodes:
            raise bad("send a graph (or source), or a session")
        first = Workspace()
        first.add_nodes(nodes, budget)
        return nodes, first
    session = state.store.get(req.session, owner)
    with session.lock:
        for entry in session.log:
            if entry.get("kind") == "put" and entry.get("name") not in input_names:
                raise bad(f"session: {entry.get('name')!r} was replaced by PUT and the "
                          "function replays the session's nodes; only `inputs` may have been "
                          "replaced")
        logged = [Node.model_validate(n) for e in session.log if e.get("kind") == "nodes"
                  for n in e["nodes"]]
        current = {n: Tensor._make(np.array(session.ws.ref(n, "inputs").array))
                   for n in input_names}
        nodes = graph_nodes(req, settings, session.ws.names)  # source reads the session's names
    nodes = logged + nodes
    first = _Replay(current)
    first.add_nodes(nodes, budget)
    return nodes, first


def run(state, req, second_order: bool, owner: str = "") -> dict:
    settings = state.settings
    budget = Budget(settings)
    input_names = _names(req.inputs, "inputs")
    output_names = _names(req.outputs, "outputs")
    nodes, first = function_nodes(state, req, owner, budget, input_names)
    inputs = []
    for n in input_names:
        t = first.ref(n, "inputs")
        if t.array.dtype.kind != "f":
            raise bad(f"inputs: {n!r} is not a floating point tensor")
        x = Tensor._make(np.array(t.array, dtype=np.float64))
        inputs.append(x.requires_grad_(True))
    outs = [first.ref(n, "outputs") for n in output_names]
    n_in = sum(t.numel() for t in inputs)
    n_out = sum(t.numel() for t in outs)
    if second_order:
        n_in, n_out = n_in + n_out, n_in
    if 2 * n_in + 2 * n_out > MAX_CHECK_EVALUATIONS:
        raise limit("check_evaluations", 2 * n_in + 2 * n_out, MAX_CHECK_EVALUATIONS)
    func = _function(nodes, input_names, output_names, budget)
    args = tuple(inputs)
    arg_names = list(input_names)
    try:
        with budget.guarding():  # every op of every evaluation (NOTE [allocation guard])
            if second_order:
                gos = random_grad_outputs(func, args, seed=req.seed)
                func = grad_of(func, len(args))
                args = args + tuple(Tensor._make(g.array.astype(np.float64)).requires_grad_(True)
                                    for g in gos)
                arg_names += [f"grad_outputs[{k}]" for k in range(len(gos))]
            report = gradcheck_report(func, args, eps=req.eps, atol=req.atol, rtol=req.rtol,
                                      nondet_tol=req.nondet_tol,
                                      check_forward_ad=req.check_forward_ad and not second_order)
    except (Problem, AutogradError):
        raise
    except ARGUMENT_ERRORS as e:
        raise bad(f"gradcheck: the graph could not be differentiated ({type(e).__name__}: "
                  f"{e})") from None
    enc = Encoder("list")
    out = {"ok": report["ok"], "message": failure_message(report, req.nondet_tol),
           "reentrant": report["reentrant"], "failure": None,
           "graph_hash": content.graph_hash([log_nodes(nodes)], settings)}
    f = report["failure"]
    if f is not None:
        out["failure"] = {
            "output": f["output"], "input": f["input"], "input_id": arg_names[f["input"]],
            "numerical": enc.tensor(f["numerical"]), "analytical": enc.tensor(f["analytical"]),
            "worst": f["worst"], "mode": f["mode"]}
    return out
