"""Plans of graph nodes, remembered by their structure.

# NOTE [node plans]
A graph sent again with new values (a training loop's step) resolves every node to the same
op row and the same output shapes: both depend only on the op, the types of its arguments,
the shapes and dtypes of its tensors and its constants (the shape rules see shapes, never
values). So ``Workspace._run`` keeps, per such structure, the row, the output shapes and the
row's extra elements, and a node seen before skips the overload resolution, the Tensor
check and the shape rules. What depends on the request still runs on every call: the
element limits (``Budget.elements`` / ``transient`` with the remembered shapes, so the
totals and the texts are the same), the row's own checks and its forward, decoding the
tensors. A plan is remembered only once resolution and the shape rules have succeeded, so
a node refused there is refused again with the same text; the row itself runs every time.
Keyword arguments, varargs rows, tensors of other classes and long constants make no key:
such nodes take the ordinary path. The store is bounded (AUTOGRAD_PLAN_CACHE_SIZE entries,
oldest dropped first; 0 = off), one store per process.
"""

from __future__ import annotations

import threading

from engine import Tensor

_SCALARS = frozenset({int, float, bool, str, type(None)})
LONGEST_CONSTANT = 64  # a longer list or string makes no key: keys stay small


def node_key(op: str, rows: int, args: list) -> tuple | None:
    """The structure of a node's call: the op (and how many rows it has, as the table may
    grow), each argument's type with its value or, for a tensor, its shape and dtype; None
    where the call has no plan (NOTE [node plans])."""
    out = [op, rows]
    for a in args:
        t = type(a)
        if t is Tensor:
            arr = a.array
            out.append((arr.shape, arr.dtype))
        elif t in _SCALARS:
            if t is str and len(a) > LONGEST_CONSTANT:
                return None
            out.append((t, a))
        elif t is list and len(a) <= LONGEST_CONSTANT:
            item = _list_key(a)
            if item is None:
                return None
            out.append(item)
        else:
            return None
    return tuple(out)


def _list_key(items: list) -> tuple | None:
    if all(type(v) is int for v in items):
        return (list, int, tuple(items))
    if all(type(v) is Tensor for v in items):
        return (list, Tensor, tuple((v.array.shape, v.array.dtype) for v in items))
    return None


class Plans:
    """A bounded map from node keys to (row, output shapes, extra elements or None)."""

    def __init__(self):
        self._plans: dict = {}
        self._lock = threading.Lock()  # eviction iterates the dict: one writer at a time

    def get(self, k):
        return self._plans.get(k)

    def put(self, k, plan, size: int) -> None:
        if size <= 0:
            return
        with self._lock:
            while len(self._plans) >= size:
                del self._plans[next(iter(self._plans))]
            self._plans[k] = plan

    def __len__(self) -> int:
        return len(self._plans)


PLANS = Plans()
