"""Which graph node an engine error concerns, as problem+json extension members.

Engine errors carry ``.node`` (the backward node). Here it becomes ids the client knows:
``node`` (the tensor whose grad_fn it is: a client id, or a server id "%k" for an unnamed
intermediate), ``op`` (the forward op that made it), ``grad_fn``, ``output`` (for anomaly
errors: which of the node's gradient outputs held NaN, i.e. which input of the forward
op), ``input`` (the id of the tensor that gradient was for) and ``forward_node`` (the
client's node whose call created the backward node: the same as ``node`` unless a
composite op made unnamed primitives).
"""

from __future__ import annotations

import re

from engine import Tensor

from .graph_metadata import node_id

_OUTPUT = re.compile(r"returned nan values in its (\d+)th output")


def members(ws, exc) -> dict:
    node = getattr(exc, "node", None)
    if node is None or not hasattr(node, "next_functions"):
        return {}
    owner = op = None
    forward = None
    seq = getattr(node, "seq", None)
    for name, entry_op, t in ws.entries:
        for item in t if isinstance(t, tuple) else (t,):
            fn = item._grad_fn if isinstance(item, Tensor) else None
            if fn is None:
                continue
            if fn is node and owner is None:
                owner, op = ws.id_of(item), entry_op
            if forward is None and isinstance(seq, int) and isinstance(fn.seq, int) and \
                    fn.seq >= seq:
                forward = name
    if owner is None:
        owner = node_id(ws, node, 0)
    out = {"node": owner, "op": op, "grad_fn": node.name(),
           "forward_node": forward if forward is not None else owner}
    m = _OUTPUT.search(str(exc))
    if m:
        i = int(m[1])
        out["output"] = i
        if i < len(node.next_functions):
            child, nr = node.next_functions[i]
            if child is not None:
                out["input"] = _target_id(ws, child, nr)
    return out


def _target_id(ws, fn, nr) -> str:
    if type(fn).__name__ == "AccumulateGrad":
        return ws.id_of(fn.variable)
    for _, _, t in ws.entries:
        for item in t if isinstance(t, tuple) else (t,):
            if isinstance(item, Tensor) and item._grad_fn is fn and item._output_nr == nr:
                return ws.id_of(item)
    return node_id(ws, fn, nr)
