"""The bytes a workspace holds, kept up to date call by call (the byte caps read them after
every call on a session).

What counts is what ``retained.recount`` computes from scratch: each distinct array among the
workspace's tensors (their data and their ``.grad``), and the arrays saved for backward by
every node reachable from those tensors' ``grad_fn`` (and from their ``.grad``'s). A
recount after every call walks the session's whole history, so a step cost more the older
the session (20 ms at 1,500 steps). The ledger instead remembers, per *holder* (a tensor
or a node), the arrays it held when last looked at, and per array how many holders hold
it; a call looks again only at the holders it may have changed:

- the tensors it binds, and the nodes that became reachable through them;
- after a backward or grad: the nodes its walk can reach (a walk without retain_graph
  frees their saved tensors), the leaves whose AccumulateGrad it reached and the tensors
  retaining grad there (their ``.grad`` changed);
- a put's tensor (its array may have been replaced).

What could make part of the graph unreachable from the workspace, so that the saved arrays
there no longer count, is rare and mostly comes with calls that are whole-session anyway
(zero_grad, free, an in-place op on a view or a base with views, a ``grad_fn`` or ``.grad``
replaced by one that does not lead to the old one). Those drop the ledger (``stale``): the
next count is a recount, and incremental again after it.

Holders are held by the ledger as long as it lives (their ids are its keys, so they must
not be reused), which keeps nothing alive that the workspace does not: its tensors are
named or kept in ``Workspace.entries``, and the nodes are reachable from them.
"""

from __future__ import annotations

import os

from engine.graph import AccumulateGrad

# Tests set it (tests/conftest.py, the servers they start): every count is then checked
# against retained.recount, so each test that uses a session checks the ledger too.
CHECK_BYTES = os.environ.get("AUTOGRAD_CHECK_BYTES") == "1"


def saved_arrays(node):
    """The arrays a backward node holds for its backward (none once freed)."""
    saved = getattr(node, "saved", None) or {}
    for s in saved.values():
        for x in s if type(s) is list else (s,):
            if x is not None and getattr(x, "array", None) is not None:
                yield x.array


class Ledger:
    def __init__(self):
        self.total = 0  # bytes of the distinct arrays held
        self.looked = 0  # holders looked at, ever (tests read it per call: bounded per step)
        self.stale = False  # something may have become unreachable: recount
        self._arrays: dict[int, list] = {}  # id(array) -> [array, number of holders]
        self._held: dict[int, tuple] = {}  # id(holder) -> (holder, its arrays)
        self._graphs: dict[int, tuple] = {}  # id(tensor) -> (grad_fn, .grad's grad_fn)

    @classmethod
    def of(cls, tensors) -> Ledger:
        """A ledger counted from scratch over ``tensors`` (every tensor of a workspace)."""
        ledger = cls()
        for t in tensors:
            ledger.tensor(t)
        return ledger

    # -- what calls report

    def tensor(self, t) -> None:
        """``t`` was bound, or may have a new array, .grad or grad_fn."""
        self.looked += 1
        g = t._grad
        self._hold(t, (t.array,) if g is None else (t.array, g.array))
        fn, gfn = t._grad_fn, (g._grad_fn if g is not None else None)
        before = self._graphs.get(id(t))
        if before is not None and not (_leads_to(fn, before[0]) and _leads_to(gfn, before[1])):
            self.stale = True  # the old graph may be unreachable now
        self._graphs[id(t)] = (fn, gfn)
        self._reach(fn)
        self._reach(gfn)

    def walked(self, roots) -> None:
        """A backward or grad from ``roots`` ran (or failed part-way): look again at every
        node it could reach, and at the tensors whose .grad it could write."""
        stack = [t._grad_fn for t in roots if t._grad_fn is not None]
        seen = {id(n) for n in stack}
        while stack:
            node = stack.pop()
            if id(node) in self._held:
                self._node(node)
            if type(node) is AccumulateGrad:
                if id(node.variable) in self._graphs:
                    self.tensor(node.variable)
            elif node.retains_grad_hooks:
                for ref in node.retains_grad_hooks.values():
                    t = ref()
                    if t is not None and id(t) in self._graphs:
                        self.tensor(t)
            for fn, _ in _edges(node):
                if fn is not None and id(fn) not in seen:
                    seen.add(id(fn))
                    stack.append(fn)

    # -- the counts

    def _reach(self, fn) -> None:
        """Hold every node reachable from ``fn`` not held yet. Held nodes need no walk past
        them: what they lead to was held with them (next_functions never change)."""
        stack = [fn] if fn is not None and id(fn) not in self._held else []
        while stack:
            node = stack.pop()
            if id(node) in self._held:
                continue
            self._node(node)
            stack.extend(f for f, _ in _edges(node) if f is not None and id(f) not in self._held)

    def _node(self, node) -> None:
        self.looked += 1
        self._hold(node, tuple(saved_arrays(node)))

    def _hold(self, holder, arrays: tuple) -> None:
        old = self._held.get(id(holder))
        if old is not None:
            if len(old[1]) == len(arrays) and all(a is b for a, b in zip(old[1], arrays)):
                return
            for a in old[1]:
                self._drop(a)
        for a in arrays:
            entry = self._arrays.get(id(a))
            if entry is None:
                self._arrays[id(a)] = [a, 1]
                self.total += int(a.nbytes)
            else:
                entry[1] += 1
        self._held[id(holder)] = (holder, arrays)

    def _drop(self, a) -> None:
        entry = self._arrays[id(a)]
        entry[1] -= 1
        if entry[1] == 0:
            del self._arrays[id(a)]
            self.total -= int(a.nbytes)


def _leads_to(new, old) -> bool:
    """Whether ``old`` stays reachable through ``new``: the same node, or one stacked on it
    (an in-place op's node, the sum an accumulated create_graph .grad gets)."""
    return old is None or new is old or new is not None and any(
        f is old for f, _ in _edges(new))


def _edges(node):
    return getattr(node, "next_functions", ())  # set when a node is recorded; as memory._nodes
