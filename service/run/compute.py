"""backward and grad over a Workspace: references -> tensors, seeds, hooks, then the engine.

The engine raises PyTorch's errors (with PyTorch's texts); nothing here catches them, the
app's handlers map them to statuses.
"""

from __future__ import annotations

import contextlib
import threading

from engine import Tensor, autograd

from ..budget import Budget
from ..problems import bad
from ..wire import codec
from .hooks import compile_hook
from .workspace import Workspace, check_name


def _names(value, what: str) -> list[str]:
    names = [value] if isinstance(value, str) else list(value)
    for n in names:
        if not isinstance(n, str):
            raise bad(f"{what}: expected ids, got {n!r}")
    return names


def _depth(value) -> int:
    d = 0
    while isinstance(value, list) and value:
        value, d = value[0], d + 1
    return d


def seeds(ws: Workspace, raw, roots_spec, roots: list[Tensor], budget: Budget, what: str,
          batched: bool = False):
    """grad_tensors/grad_outputs -> one Tensor or None per root (``batched``: each seed has
    a leading batch dimension, as with is_grads_batched)."""
    if raw is None:
        return None
    if isinstance(roots_spec, str):  # one root: the seed itself (or a list of one seed)
        one = roots[0]
        if not (isinstance(raw, list) and len(raw) == 1 and (
                raw[0] is None or isinstance(raw[0], (str, dict, codec.RawTensor)) or
                isinstance(raw[0], list) and _depth(raw) > one.ndim + batched)):
            raw = [raw]
    if not isinstance(raw, list):
        raise bad(f"{what}: expected one seed per root (a list)")
    if len(raw) != len(roots):
        raise bad(f"{what}: got {len(roots)} tensors and {len(raw)} gradients")
    out = []
    for k, (value, root) in enumerate(zip(raw, roots)):
        if value is None:
            out.append(None)
        elif isinstance(value, str):
            out.append(ws.ref(value, f"{what}[{k}]"))
        else:
            explicit = isinstance(value, (dict, codec.RawTensor))
            arr = codec.decode(value, budget, None if explicit else _dtype_name(root))
            out.append(Tensor._make(arr))
    return out


def _dtype_name(t: Tensor) -> str | None:
    name = codec.dtype_name(t.array.dtype)
    return name if name in codec.DTYPES else None


def _hooks(ws: Workspace, hooks: dict, budget: Budget) -> list:
    """Each hook runs under the request's budget: every op it calls is checked before it
    allocates, and the clock with it (NOTE [allocation guard])."""
    handles = []
    for name, text in hooks.items():
        fn = compile_hook(text, f"hooks[{name!r}]")
        t = ws.ref(name, f"hooks[{name!r}]")

        def hook(grad, _fn=fn, _name=name):
            with budget.guarding():
                out = _fn(grad)
            if not hasattr(out, "shape"):
                raise bad(f"hooks[{_name!r}]: the expression must give a tensor, not a number")
            return out

        handles.append(t.register_hook(hook))
    return handles


# A walk of at most this many nodes over a workspace of at most this many elements ends in
# well under a millisecond: hooks checking the clock would cost more than the walk.
SHORT_WALK_NODES = 32
SHORT_WALK_ELEMENTS = 1 << 16


def _deadline(ws: Workspace, roots: list[Tensor], budget: Budget) -> list:
    """A pre-hook on every node the walk may reach, checking the request's compute time, so
    a long backward stops between nodes (a 413 naming compute_seconds)."""
    nodes, seen = [], set()
    stack = [t.grad_fn for t in roots if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen or not node.next_functions:  # AccumulateGrad: no pre-hooks
            continue
        seen.add(id(node))
        nodes.append(node)
        stack.extend(fn for fn, _ in node.next_functions if fn is not None)
    if len(nodes) <= SHORT_WALK_NODES and ws.elements <= SHORT_WALK_ELEMENTS:
        return []
    return [node.register_prehook(lambda grads: budget.tick()) for node in nodes]


def _guarded_walk(ws: Workspace, budget: Budget):
    """A walk over more than a short workspace runs with every VJP's op call checked by the
    budget (NOTE [allocation guard]); a short one does not pay the shape rules' ~2-6 us an
    op call: its VJPs allocate no more than its forward did, which was checked."""
    if ws.elements <= SHORT_WALK_ELEMENTS:
        return contextlib.nullcontext()
    return budget.guarding()


def _check_batch(grads, inputs, budget: Budget) -> None:
    """Batched seeds: each a tensor with a leading batch dimension, the same for all; the
    results are batch x input elements, counted before the walk."""
    if grads is None or any(g is None for g in grads):
        raise bad("grad_outputs: is_grads_batched needs one batched seed per output")
    sizes = {g.shape[0] if g.ndim else None for g in grads}
    if None in sizes or len(sizes) != 1:
        raise bad("grad_outputs: with is_grads_batched every seed needs the same leading "
                  "batch dimension")
    batch = grads[0].shape[0]
    for t in inputs:
        budget.elements((batch, *t.shape), "batched gradient")


class _AnomalyGate:
    """The engine's anomaly mode is process-wide (as torch's is), and requests run in
    worker threads: a walk with detect_anomaly runs alone, so it never makes another
    request's NaN an error, and no other walk switches it off half-way."""

    def __init__(self):
        self._cond = threading.Condition()
        self._walks = 0  # walks without anomaly mode in progress
        self._anomaly = False

    def anomaly_walking(self) -> bool:
        return self._anomaly

    @contextlib.contextmanager
    def walk(self, anomaly: bool):
        with self._cond:
            if anomaly:
                self._cond.wait_for(lambda: not self._anomaly and self._walks == 0)
                self._anomaly = True
            else:
                self._cond.wait_for(lambda: not self._anomaly)
                self._walks += 1
        try:
            if anomaly:
                with autograd.set_detect_anomaly(True):
                    yield
            else:
                yield
        finally:
            with self._cond:
                if anomaly:
                    self._anomaly = False
                else:
                    self._walks -= 1
                self._cond.notify_all()


_gate = _AnomalyGate()


def backward(ws: Workspace, req, budget: Budget) -> bool:
    """Run torch.autograd.backward; returns the effective retain_graph."""
    names = _names(req.tensors, "tensors")
    tensors = [ws.ref(n, "tensors") for n in names]
    grads = seeds(ws, req.grad_tensors, req.tensors, tensors, budget, "grad_tensors")
    inputs = ([ws.ref(n, "inputs") for n in _names(req.inputs, "inputs")]
              if req.inputs is not None else None)
    for n in req.retain_grad:
        ws.ref(n, "retain_grad").retain_grad()
    retain = req.create_graph if req.retain_graph is None else req.retain_graph
    handles = _hooks(ws, req.hooks, budget) + _deadline(ws, tensors, budget)
    try:
        with _gate.walk(req.detect_anomaly), _guarded_walk(ws, budget):
            autograd.backward(tensors, grads, retain_graph=retain,
                              create_graph=req.create_graph, inputs=inputs)
    finally:
        for h in handles:
            h.remove()
        ws.walked(tensors)  # freed saved tensors, new .grad: the byte count follows
    return retain


def grad(ws: Workspace, req, budget: Budget) -> tuple[list, bool]:
    """Run torch.autograd.grad; binds results to ``as`` ids; returns (grads, retain)."""
    outputs = [ws.ref(n, "outputs") for n in _names(req.outputs, "outputs")]
    input_names = _names(req.inputs, "inputs")
    inputs = [ws.ref(n, "inputs") for n in input_names]
    grads = seeds(ws, req.grad_outputs, req.outputs, outputs, budget, "grad_outputs",
                  req.is_grads_batched)
    if req.is_grads_batched:
        _check_batch(grads, inputs, budget)
    if req.as_ is not None:
        if len(req.as_) != len(inputs):
            raise bad(f"as: {len(req.as_)} ids for {len(inputs)} inputs")
        for n in req.as_:
            check_name(n, "as")
    retain = req.create_graph if req.retain_graph is None else req.retain_graph
    handles = _deadline(ws, outputs, budget)
    try:
        with _gate.walk(req.detect_anomaly), _guarded_walk(ws, budget):
            result = autograd.grad(outputs, inputs, grads, retain_graph=retain,
                                   create_graph=req.create_graph,
                                   allow_unused=req.allow_unused,
                                   is_grads_batched=req.is_grads_batched)
    finally:
        for h in handles:
            h.remove()
        ws.walked(outputs)
    for name, g in zip(req.as_ or (), result):
        if g is not None:
            ws.bind(name, "grad", g)
    return list(result), retain
