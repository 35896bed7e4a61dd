"""Graph metadata as the contract shows it: per tensor its grad_fn name and next_functions
as [grad_fn name, id of the tensor it belongs to, output_nr], with server ids ("%k") for
the tensors and nodes nobody named (composite intermediates, .grad made by create_graph).
"""

from __future__ import annotations

from typing import Any

from engine import Tensor

from ..wire import codec


def describe(ws) -> list[dict[str, Any]]:
    """Graph metadata as the contract shows it: every named tensor, then the unnamed graph
    nodes reachable from them (composite intermediates, .grad made by create_graph), of
    ``ws`` (a graphs.Workspace, which imports this module)."""
    owners: dict[tuple[int, int], str] = {}  # (id(node), output_nr) -> tensor id
    tensors = []
    seen = set()
    for _name, op, t in ws.entries:
        if not isinstance(t, Tensor) or id(t) in seen:
            continue
        seen.add(id(t))
        tid = ws.id_of(t)
        tensors.append((tid, op, t))
        if t._grad_fn is not None:
            owners.setdefault((id(t._grad_fn), t._output_nr), tid)
    for _, _, t in list(tensors):  # gradients with a graph of their own (create_graph)
        g = t._grad
        if g is not None and g._grad_fn is not None and id(g) not in seen:
            seen.add(id(g))
            tid = ws.id_of(g)
            tensors.append((tid, None, g))
            owners.setdefault((id(g._grad_fn), g._output_nr), tid)
    out = [_entry(ws, tid, op, t, owners) for tid, op, t in tensors]
    # unnamed nodes: walk next_functions iteratively from the named ones
    stack = [t._grad_fn for _, _, t in tensors if t._grad_fn is not None]
    visited = {id(n) for n in stack}
    while stack:
        node = stack.pop()
        for fn, nr in node.next_functions:
            if fn is None or type(fn).__name__ == "AccumulateGrad":
                continue
            key = (id(fn), nr)
            if key not in owners:
                owners[key] = node_id(ws, fn, nr)
                shape, dtype = fn.out_metas[nr]
                out.append({"id": owners[key], "op": None, "shape": list(shape),
                            "dtype": str(dtype), "requires_grad": True, "is_leaf": False,
                            "retains_grad": False, "grad_fn": type(fn).__name__,
                            "next_functions": None, "_fn": fn})
            if id(fn) not in visited:
                visited.add(id(fn))
                stack.append(fn)
    for e in out:
        fn = e.pop("_fn", None)
        if fn is not None:
            e["next_functions"] = _edges(ws, fn, owners)
    return out


def node_id(ws, fn, nr: int) -> str:
    """The server id ("%k") of output ``nr`` of a node nobody named, the same on every ask."""
    ids = ws._node_ids.setdefault(fn, {})
    if nr not in ids:
        ids[nr] = ws._next_id()
    return ids[nr]


def _entry(ws, tid, op, t: Tensor, owners) -> dict:
    fn = t._grad_fn
    arr = t.array
    return {"id": tid, "op": op, "shape": list(arr.shape),
            "dtype": codec.dtype_name(arr.dtype),
            "requires_grad": t._requires_grad, "is_leaf": fn is None,
            "retains_grad": t._retains_grad,
            "grad_fn": type(fn).__name__ if fn is not None else None,
            "next_functions": _edges(ws, fn, owners) if fn is not None else [],
            }


def _edges(ws, fn, owners) -> list:
    out = []
    for nxt, nr in fn.next_functions:
        if nxt is None:
            out.append(None)
        elif type(nxt).__name__ == "AccumulateGrad":
            out.append(["AccumulateGrad", ws.id_of(nxt.variable), 0])
        else:
            out.append([type(nxt).__name__, owners.get((id(nxt), nr)) or node_id(ws, nxt, nr),
                        nr])
    return out
