"""Load a document of engine/graph_snapshot.py (NOTE [graph snapshots]).

The document is read as data: every kind, class key, op name, slot and attribute name is
looked up in a whitelist, every reference and memory range is checked against the document,
every field of a tensor, node and saved tensor is checked for the type the engine gives it,
and anything else is ``SnapshotCorrupt``. Objects are made empty first, then filled, in two
flat passes (no recursion over the graph).
"""

from __future__ import annotations

import json
import weakref

import numpy as np

from . import backend, dtypes, views
from . import graph as _graph
from ._tensor import Size, Tensor
from .graph import HookDict, Node, SavedTensor
from .graph_snapshot import (
    DTYPE_KINDS,
    MAX_DEPTH,
    NODE_ATTRS,
    SAVED_SLOTS,
    TENSOR_SLOTS,
    SnapshotCorrupt,
    dense_owner,
    gc_paused,
    registries,
    unpack,
)
from .ops import ROWS
from .ops.table import _NOTHING_SAVED


def loads(data: bytes):
    """The value ``dumps`` wrote, with new objects; SnapshotCorrupt for anything else."""
    header, blob = unpack(data)
    try:
        head = json.loads(header)
    except (ValueError, RecursionError) as e:
        raise SnapshotCorrupt(f"a header that is not JSON ({type(e).__name__})") from None
    return decode(head, blob)


def decode(head, blob: bytes):
    """The value ``encode`` made (its header as JSON has it), with new objects;
    SnapshotCorrupt for anything else."""
    try:
        with gc_paused():
            return _Loader(head, blob).run()
    except SnapshotCorrupt:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
            RecursionError, MemoryError) as e:
        raise SnapshotCorrupt(f"{type(e).__name__}: {str(e)[:200]}") from None


def _need(ok, why: str) -> None:
    if not ok:
        raise SnapshotCorrupt(why)


_DTYPES: dict = {}


def _dtype(name) -> np.dtype:
    d = _DTYPES.get(name) if type(name) is str else None
    if d is None:
        _need(type(name) is str and len(name) < 16, "a dtype that is not a name")
        d = np.dtype(name)
        _need(d.kind in DTYPE_KINDS and d.fields is None and d.name == name,
              f"dtype {name!r}")
        _DTYPES[name] = d
    return d


def _ints(v, what: str) -> tuple:
    _need(type(v) is list and len(v) <= 64 and all(type(x) is int for x in v), what)
    return tuple(v)


class _Loader:
    def __init__(self, head, blob: bytes):
        _need(type(head) is dict and set(head) == {"root", "objects", "memory"},
              "a header without root, objects and memory")
        _need(type(blob) is bytes, "memory that is not bytes")
        self.head, self.blob = head, blob
        self.classes, self.results = registries()

    def run(self):
        objects = self.head["objects"]
        _need(type(objects) is list and all(type(o) is list and o for o in objects),
              "objects is not a list of lists")
        self.owners = [self.owner(g) for g in _listed(self.head["memory"], "memory")]
        self.made = [self.shell(o) for o in objects]
        for k, o in enumerate(objects):  # weakrefs first: any filled object may hold one
            if o[0] == "wref":
                _need(len(o) == 2, "a weakref entry")
                target = None if o[1] is None else self.value(o[1], 0)
                _need(target is None or type(target) in (Tensor, SavedTensor) or
                      isinstance(target, Node) or type(target) in (list, dict, HookDict),
                      "a weakref to a value")
                self.made[k] = weakref.ref(_Gone() if target is None else target)
        for o, obj in zip(objects, self.made):
            self.fill(o, obj)
        for obj in self.made:  # once every object is filled
            _whole(obj)
        out = self.value(self.head["root"], 0)
        self.renumber()
        self.hide()
        return out

    # -- memory and arrays

    def owner(self, g):
        _need(type(g) is list and len(g) >= 3 and type(g[0]) is int and type(g[1]) is int and
              0 <= g[0] and 0 <= g[1] and g[0] + g[1] <= len(self.blob), "a memory block")
        raw = self.blob[g[0]:g[0] + g[1]]
        if g[2] == "buffer":
            _need(len(g) == 4 and type(g[3]) is bool, "a buffer block")
            return bytearray(raw) if g[3] else raw
        _need(g[2] == "array" and len(g) == 7 and type(g[6]) is bool, "an array block")
        shape, dtype, strides = _ints(g[3], "a shape"), _dtype(g[4]), _ints(g[5], "strides")
        _need(all(d >= 0 for d in shape) and len(strides) == len(shape), "a shape")
        _need(int(np.prod(shape, dtype=object)) * dtype.itemsize == len(raw),
              "an array block whose size is not its bytes")
        arr = dense_owner(shape, dtype, strides)
        _need(arr is not None, "an array block that is not dense")
        flat = arr.ravel(order="K")
        _need(arr.size == 0 or flat.base is arr, "an array block that is not dense")
        flat.view(np.uint8)[...] = np.frombuffer(raw, dtype=np.uint8)
        arr.flags.writeable = g[6]
        return arr

    def array(self, o) -> np.ndarray:
        _need(len(o) == 7 and type(o[1]) is int and 0 <= o[1] < len(self.owners) and
              type(o[2]) is int and type(o[6]) is bool, "an array entry")
        owner = self.owners[o[1]]
        shape, strides, dtype = _ints(o[3], "a shape"), _ints(o[4], "strides"), _dtype(o[5])
        _need(len(shape) == len(strides) and all(d >= 0 for d in shape), "a shape")
        buffer = owner.ravel(order="K").view(np.uint8) if isinstance(owner, np.ndarray) \
            else owner
        arr = np.ndarray(shape, dtype, buffer=buffer, offset=o[2], strides=strides)
        _need(backend.root_array(arr) is owner, "an array not over its block")
        if not o[6]:
            arr.flags.writeable = False
        elif not arr.flags.writeable:
            raise SnapshotCorrupt("a writeable array over read-only memory")
        return arr

    # -- objects

    def shell(self, o):
        kind = o[0]
        if kind == "list":
            return []
        if kind == "dict":
            return {}
        if kind == "hooks":
            return HookDict()
        if kind == "tensor":
            return object.__new__(Tensor)
        if kind == "saved":
            return object.__new__(SavedTensor)
        if kind == "node":
            _need(len(o) == 3 and type(o[1]) is str and o[1] in self.classes, "a node class")
            return object.__new__(self.classes[o[1]])
        if kind == "arr":
            return self.array(o)
        _need(kind == "wref", f"an object of kind {str(kind)[:40]!r}")
        return None

    def fill(self, o, obj) -> None:
        kind = o[0]
        if kind == "list":
            _need(len(o) == 2, "a list entry")
            obj.extend(self.value(x, 0) for x in _listed(o[1], "a list"))
        elif kind in ("dict", "hooks"):
            _need(len(o) == 2, "a dict entry")
            for item in _listed(o[1], "a dict"):
                _need(type(item) is list and len(item) == 2, "a dict item")
                key = self.value(item[0], 0)
                _need(key is None or type(key) in (bool, int, float, str, tuple), "a dict key")
                obj[key] = self.value(item[1], 0)
        elif kind == "tensor":
            self.slots(obj, o, TENSOR_SLOTS, _TENSOR_TYPES)
        elif kind == "saved":
            self.slots(obj, o, SAVED_SLOTS, _SAVED_TYPES)
            _need(obj.hooked is None, "saved-tensor hooks")
        elif kind == "node":
            attrs = o[2]
            _need(type(attrs) is dict and set(attrs) <= NODE_ATTRS, "node attributes")
            for name, raw in attrs.items():
                value = self.value(raw, 0)
                _check(_NODE_TYPES.get(name), value, name)
                setattr(obj, name, value)

    def slots(self, obj, o, names, types) -> None:
        _need(len(o) == 2 and type(o[1]) is list and len(o[1]) == len(names),
              "an object whose fields are not its slots")
        for name, raw in zip(names, o[1]):
            value = self.value(raw, 0)
            _check(types[name], value, name)
            setattr(obj, name, value)

    def value(self, v, depth: int):
        t = type(v)
        if t is list and len(v) == 2 and v[0] == "r":  # the most frequent: a reference
            k = v[1]
            if type(k) is int and 0 <= k < len(self.made):
                return self.made[k]
            raise SnapshotCorrupt("a reference")
        if v is None or t is bool or t is int or t is str:
            return v
        _need(t is list and v and type(v[0]) is str and depth <= MAX_DEPTH, "a value")
        tag, n = v[0], len(v)
        if tag in ("ed", "mf") and n == 2 and type(v[1]) is str:
            table = dtypes.ALL_BY_NAME if tag == "ed" else dtypes.MEMORY_FORMATS
            _need(v[1] in table, "an unknown dtype or memory format")
            return table[v[1]]
        if tag in ("I", "f", "d", "op") and n == 2 and type(v[1]) is str:
            s = v[1]
            if tag == "I":
                _need(len(s) < 100, "a long integer")
                return int(s)
            if tag == "f":
                return float.fromhex(s)
            if tag == "d":
                return _dtype(s)
            _need(s in ROWS, "an op that is not in the table")
            return ROWS[s]
        if tag in ("t", "Sz") and n == 2:
            items = tuple(self.value(x, depth + 1) for x in _listed(v[1], "a tuple"))
            return items if tag == "t" else Size(items)
        if tag == "nt" and n == 3 and v[1] in self.results:
            return self.results[v[1]](*(self.value(x, depth + 1) for x in _listed(v[2], "")))
        if tag == "sl" and n == 2 and type(v[1]) is list and len(v[1]) == 3:
            return slice(*(self.value(x, depth + 1) for x in v[1]))
        if tag == "c" and n == 3:
            return complex(float.fromhex(v[1]), float.fromhex(v[2]))
        if tag == "ns" and n == 3 and type(v[2]) is str:
            d = _dtype(v[1])
            raw = bytes.fromhex(v[2])
            _need(len(raw) == d.itemsize, "a scalar of the wrong size")
            return np.frombuffer(raw, dtype=d)[0]
        constants = {"E": Ellipsis, "TB": views.THROUGH_BASE, "NS": _NOTHING_SAVED}
        _need(n == 1 and tag in constants, f"a value tagged {tag[:20]!r}")
        return constants[tag]

    def hide(self) -> None:
        """Recorded nodes out of the cyclic GC's sight again, as recording left them
        (engine/graph.py ``hide``); those exposed since stay in it."""
        hide_node = _graph.hide_node
        if hide_node is None:
            return
        for x in self.made:
            if isinstance(x, Node) and type(x).op is not None and not x._gc_exposed:
                hide_node(x)

    def renumber(self) -> None:
        """Seq numbers in their order, past every node this process made (as a replay)."""
        nodes = [x for x in self.made if isinstance(x, Node) and type(x.seq) is int]
        for node in sorted(nodes, key=lambda x: x.seq):
            node.seq = next(_graph.sequence_nrs)


def _whole(obj) -> None:
    """What a filled object needs beyond its fields' types."""
    if type(obj) is Tensor:
        vc, acc = obj._version_counter, obj._acc
        _need(len(vc) == 1 and type(vc[0]) is int, "a version counter")
        _need(acc is None or acc is views.THROUGH_BASE or type(acc) is weakref.ReferenceType,
              "an accumulator that is not a weakref")
    elif type(obj) is SavedTensor:
        _need(len(obj.version) == 1 and type(obj.version[0]) is int, "a version counter")
    elif isinstance(obj, Node):
        _need(type(getattr(obj, "seq", None)) in (int, float), "a node without seq")
        edges = getattr(obj, "next_functions", None)
        _need(type(edges) is tuple and all(
            type(e) is tuple and len(e) == 2 and (e[0] is None or isinstance(e[0], Node))
            and type(e[1]) is int for e in edges), "a node's edges")


class _Gone:
    """What a weakref whose object had died is loaded as a weakref to (dead at once)."""


def _listed(v, what: str) -> list:
    _need(type(v) is list, f"{what} is not a list")
    return v


def _check(allowed, value, name: str) -> None:
    if allowed is None:
        return
    _need(isinstance(value, allowed), f"field {name} holds a {type(value).__name__}")


_TENSOR_TYPES = {
    "array": np.ndarray, "_requires_grad": bool, "_grad_fn": (Node, type(None)),
    "_output_nr": int, "_grad": (Tensor, type(None)), "_retains_grad": bool,
    "_hooks": (HookDict, dict, type(None)), "_acc": None,
    "_version_counter": list, "_view": (tuple, type(None)), "_views": (list, type(None))}
_SAVED_TYPES = {
    "tensor": (Tensor, type(None)), "array": (np.ndarray, type(None)), "output_nr": int,
    "version": list, "saved_version": int, "producer_node": (Node, type(None)),
    "hooked": type(None)}
_NODE_TYPES = {
    "seq": (int, float), "next_functions": tuple, "saved": (dict, type(None)),
    "out_metas": tuple, "metas": (tuple, type(None)), "attrs": dict,
    "tensor_pre_hooks": (dict, type(None)), "retains_grad_hooks": (dict, type(None)),
    "pre_hooks": (HookDict, type(None)), "post_hooks": (HookDict, type(None)),
    "forward_trace": str, "anomaly_parent": Node, "_metadata": dict, "variable": Tensor,
    "fn": (Node, type(None)), "where": (np.ndarray, type(None)), "_gc_exposed": bool}
