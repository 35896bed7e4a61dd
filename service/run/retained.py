"""What a retained graph holds: the tensors its nodes saved for backward.

PyTorch users cannot see this ("what is my retained graph keeping alive?"); here it is
data: per node, each saved tensor (name, shape, dtype, bytes), and the total. Bytes are
counted once per array (an input saved by three nodes is one array), and arrays the
workspace already holds as named tensors are not counted again by ``extra_bytes``, which
is what the store's byte caps add to the workspace's own bytes.
"""

from __future__ import annotations

from engine import Tensor

from .byte_accounting import saved_arrays as _saved_arrays
from .graph_metadata import node_id


def _nodes(ws):
    """Every backward node reachable from the workspace's tensors (iterative walk)."""
    stack, seen = [], set()
    for t in ws.tensors():
        if isinstance(t, Tensor):
            for fn in (t._grad_fn, t._grad._grad_fn if t._grad is not None else None):
                if fn is not None:
                    stack.append(fn)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(fn for fn, _ in getattr(node, "next_functions", ()) if fn is not None)


def report(ws) -> dict:
    """{"nodes": [{node, grad_fn, saved: [{name, shape, dtype, bytes}]}], "saved_bytes"}."""
    owners = {}
    for t in ws.tensors():
        if isinstance(t, Tensor) and t._grad_fn is not None:
            owners.setdefault(id(t._grad_fn), ws.id_of(t))
    nodes, seen, total = [], set(), 0
    for node in _nodes(ws):
        info = node.saved_tensors_info() if hasattr(node, "saved_tensors_info") else []
        if not info:
            continue
        for arr in _saved_arrays(node):
            if id(arr) not in seen:
                seen.add(id(arr))
                total += int(arr.nbytes)
        nodes.append({"node": owners.get(id(node)) or node_id(ws, node, 0),
                      "grad_fn": node.name(),
                      "saved": [{"name": n, "shape": list(shape), "dtype": dtype, "bytes": b}
                                for n, shape, dtype, b in info]})
    return {"nodes": nodes, "saved_bytes": total}


def recount(ws) -> int:
    """What ``Workspace.nbytes`` counts, from scratch: each distinct array of the
    workspace's tensors (data and .grad), then the saved arrays of their graphs. The
    definition the incremental count (byte_accounting.py) must equal; tests compare the two."""
    seen, total = set(), 0
    for t in ws.tensors():
        for a in (t.array, t._grad.array if t._grad is not None else None):
            if a is not None and id(a) not in seen:
                seen.add(id(a))
                total += int(a.nbytes)
    return total + extra_bytes(ws, seen)


def extra_bytes(ws, counted: set) -> int:
    """Bytes of saved arrays not in ``counted`` (ids of arrays already counted)."""
    total = 0
    for node in _nodes(ws):
        for arr in _saved_arrays(node):
            if id(arr) not in counted:
                counted.add(id(arr))
                total += int(arr.nbytes)
    return total


def free(ws) -> int:
    """Free every retained graph of the workspace now (as a backward without
    retain_graph would); returns the number of nodes freed."""
    n = 0
    for node in list(_nodes(ws)):
        if getattr(node, "saved", None):
            node.release_variables()
            n += 1
    ws.recount_bytes()  # every graph's saved arrays are gone: cheaper counted again
    return n
