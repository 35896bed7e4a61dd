"""One /backward or /grad call: find or make the workspace, append nodes, compute, store
the workspace when the graph is retained, and write the answer.

Runs in a worker thread (the engine is synchronous); a session's lock serializes calls
on it, so concurrent requests lose nothing.
"""

from __future__ import annotations

import logging
import time

from starlette.concurrency import run_in_threadpool

from engine.errors import AutogradError

from ..budget import Budget
from ..problems import Problem, bad, engine_status
from ..run import compute, content, graph_pictures, provenance
from ..run.source import SourceError, compile_source
from ..run.workspace import ARGUMENT_ERRORS, Workspace
from ..schemas import Node
from ..sessions.replay import room
from ..wire.codec import Encoder, render


def graph_nodes(req, settings, names: dict | None = None) -> list:
    """The request's nodes, from "graph" or compiled from "source" (in a session, against
    the session's ``names``: source reads and binds them, api.md)."""
    if req.graph is not None and req.source is not None:
        raise bad("send either graph or source, not both")
    if req.source is not None:
        try:
            raw = compile_source(req.source, max_nodes=settings.max_nodes, names=names)
        except SourceError as e:
            line, col = getattr(e, "line", None), getattr(e, "col", None)
            at = f"line {line}, col {col}: " if line is not None else ""
            if str(e.args[0] if e.args else "").startswith("the program makes more than"):
                raise Problem(413, f"source: {at}max_nodes exceeded: {e.args[0]} (setting "
                              "AUTOGRAD_MAX_NODES)", "limit-exceeded", limit="max_nodes") from None
            raise bad(f"source: {at}{e.args[0] if e.args else e}") from None
        except RecursionError:
            raise bad("source: nested too deeply") from None
        except ARGUMENT_ERRORS as e:  # the compiler met something it did not foresee
            raise bad(f"source: cannot compile ({type(e).__name__}: {e})") from None
        if len(raw) > settings.max_nodes:
            raise Problem(413, f"max_nodes exceeded: {len(raw)} > {settings.max_nodes}",
                          limit="max_nodes")
        return [Node.model_validate(n) for n in raw]
    return list(req.graph.nodes) if req.graph is not None else []


NODE_FIELDS = tuple(Node.model_fields)


def log_nodes(nodes) -> list:
    """Nodes as the session log keeps them: plain dicts, tensor values as they came (a
    shallow copy: binary tensors stay views, never converted). Read from the models'
    __dict__: iterating a pydantic model costs ~5 us a node."""
    out = []
    for n in nodes:
        given, values = n.model_fields_set, n.__dict__
        out.append({k: values[k] for k in NODE_FIELDS if k in given})
    return out


_NOT_LOGGED = frozenset({"graph", "source", "session", "encoding", "return_graph"})


def _log_args(req) -> dict:
    # the model's __dict__, as iterating it gives (extra fields are forbidden), without
    # its generator
    return {("as" if k == "as_" else k): v for k, v in req.__dict__.items()
            if k not in _NOT_LOGGED}


async def run_async(state, req, owner: str, kind: str, idempotency_key: str | None = None,
                    body_bytes: int = 0) -> tuple[dict, Encoder] | dict:
    """``run`` in a worker thread; a small self-contained call runs on the event loop
    instead, where it costs less than the hop to a thread (~50 us of a ~300 us call). It
    goes to a thread after all, from scratch, as soon as it makes more than a few thousand
    elements or takes more than a millisecond or two: nothing of the first try escapes
    (no session, nothing stored, a workspace of its own)."""
    if body_bytes <= INLINE_BODY_BYTES and _inline(req, kind):
        try:
            return run(state, req, owner, kind, idempotency_key, InlineBudget(state.settings))
        except TooBigInline:
            pass
    return await run_in_threadpool(run, state, req, owner, kind, idempotency_key)


def _inline(req, kind: str) -> bool:
    return (req.session is None and not req.create_graph and not req.retain_graph
            and not req.detect_anomaly and not (kind == "grad" and req.is_grads_batched)
            and not isinstance(req.return_graph, str)  # drawings: svg runs Graphviz
            and (req.graph is None or len(req.graph.nodes) <= INLINE_NODES)
            and (req.source is None or len(req.source) <= INLINE_BODY_BYTES)
            and not compute._gate.anomaly_walking())  # a plain walk would wait for it


INLINE_BODY_BYTES = 16 * 1024  # bigger bodies hold data that takes long to even read
INLINE_NODES = 64
INLINE_ELEMENTS = 1 << 14
INLINE_SECONDS = 0.002  # of this thread's CPU time: being preempted does not count


class TooBigInline(BaseException):
    """Raised inside an inline call to move it to a thread. A BaseException, so that no
    handler on the way (engine errors, argument errors) takes it for the client's fault."""


class InlineBudget(Budget):
    """A Budget that moves the call to a thread (TooBigInline) past INLINE_ELEMENTS or
    INLINE_SECONDS of this thread's CPU time. Reading the CPU clock is a system call (~0.5
    us, more under load), so ``tick`` reads the wall clock and asks the CPU clock only once
    the wall clock has passed the mark: CPU time never runs ahead of wall time."""

    def __init__(self, settings):
        super().__init__(settings)
        self.cpu_start = time.thread_time()
        self.inline_until = time.monotonic() + INLINE_SECONDS

    def elements(self, shape, what: str = "tensor") -> int:
        n = super().elements(shape, what)
        if self.total > INLINE_ELEMENTS:
            raise TooBigInline
        return n

    def transient(self, n: int) -> None:
        super().transient(n)
        if self.total + n > INLINE_ELEMENTS:
            raise TooBigInline

    def tick(self) -> None:
        now = time.monotonic()
        if now > self.deadline:
            super().tick()
        if now > self.inline_until:
            left = INLINE_SECONDS - (time.thread_time() - self.cpu_start)
            if left <= 0:
                raise TooBigInline
            self.inline_until = now + left  # preempted for a while: CPU time is behind


def run(state, req, owner: str, kind: str, idempotency_key: str | None = None,
        budget: Budget | None = None) -> tuple[dict, Encoder] | dict:
    """(payload, encoder); with an Idempotency-Key, the answer as rendered (codec.render),
    first or stored."""
    settings, store = state.settings, state.store
    budget = budget or Budget(settings)
    # source in a session is compiled under the session's lock, against its names
    in_session_source = req.session is not None and req.source is not None
    nodes = [] if in_session_source else graph_nodes(req, settings)
    encoder = Encoder(req.encoding)
    if req.return_graph == "svg" and (missing := graph_pictures.svg_missing()) is not None:
        raise missing  # before computing: a refused request changes nothing
    action = _guarded(compute.backward if kind == "backward" else compute.grad, kind)
    args = _log_args(req)
    if req.session is not None:
        session = store.get(req.session, owner)
        with session.lock:
            if in_session_source:
                nodes = graph_nodes(req, settings, session.ws.names)
            logged = log_nodes(nodes)
            fingerprint = (content.request_fingerprint(args, logged, settings)
                           if idempotency_key is not None else "")
            again = content.replayed(store, session, idempotency_key, fingerprint)
            if again is not None:  # a retry: the first answer, nothing run twice
                return again
            room(session, settings, 2 if nodes else 1)
            if nodes:
                session.record("nodes", nodes=logged)
                session.ws.add_nodes(nodes, budget)
            session.record(kind, **args)
            entry = session.log[-1]
            result = action(session.ws, req, budget)
            retain = result if kind == "backward" else result[1]
            session.graph_retained = retain
            payload = _answer(session.ws, req, kind, result, encoder, session.info())
            payload["graph_hash"] = content.session_hash(session, settings)
            if idempotency_key is not None:  # kept with the call's entry: one atomic write
                entry["idempotency"] = {"key": idempotency_key, "fingerprint": fingerprint}
                answer = render(payload, encoder)
                store.remember(session, idempotency_key, fingerprint, answer)
                store.update(session)
                return answer
            store.update(session)
            return payload, encoder
    if not nodes:
        raise bad("send a graph (or source), or a session to work in")
    ws = Workspace()
    ws.add_nodes(nodes, budget)
    result = action(ws, req, budget)
    retain = result if kind == "backward" else result[1]
    info = None
    logged = log_nodes(nodes)
    if retain or req.create_graph:
        session = store.create(owner, ws)
        session.record("nodes", nodes=logged)
        session.record(kind, **args)
        session.graph_retained = retain
        store.update(session)  # publishes the log where the store is shared
        info = session.info()
    encoder.lazy = info is None  # no session keeps ws: its tensors cannot change now
    payload = _answer(ws, req, kind, result, encoder, info)
    payload["graph_hash"] = content.graph_hash([logged], settings, ws.summaries)
    return payload, encoder


def _guarded(fn, kind: str):
    """Engine errors pass (the app maps them); Python errors from a VJP meeting arguments it
    did not expect become a 422 naming the call, never a 500."""
    def run(ws, req, budget):
        try:
            return fn(ws, req, budget)
        except Problem:
            raise
        except AutogradError as e:
            extra = provenance.members(ws, e)  # the node it concerns, as ids (issue 7)
            if not extra:
                raise
            raise Problem(engine_status(e), str(e), **extra) from None
        except ARGUMENT_ERRORS as e:
            logging.getLogger("service").warning("%s failed: %s: %s", kind, type(e).__name__, e)
            raise bad(f"{kind}: the graph's arguments could not be differentiated "
                      f"({type(e).__name__}: {e})") from None
    return run


def _answer(ws: Workspace, req, kind: str, result, encoder: Encoder, info) -> dict:
    if kind == "backward":
        out = {"grads": ws.leaf_grads(encoder), "retained": ws.retained(encoder)}
    else:
        out = {"grads": [encoder.tensor(g) for g in result[0]]}
    if req.return_graph:
        out["graph"] = ws.graph()
    if isinstance(req.return_graph, str):
        out["picture"] = {"format": req.return_graph,
                          "content": graph_pictures.render(ws, req.return_graph)}
    if info is not None:
        out["session"] = info
    return out
