"""Snapshots of engine objects (tensors, their graph, saved tensors, views) as a document
that is safe to load: a JSON header of whitelisted kinds plus raw array bytes. Nothing in it
names code: ops by their table name, node classes by their op's table name, arrays by
dtype, shape, strides and offset into a memory block. Never pickle.

NOTE [graph snapshots]: ``encode(value)`` (``dumps``: packed) writes ``value`` and every
engine object it reaches; ``decode`` (``loads``) builds objects that behave the same. Kept:
* identity: each Tensor, Node, SavedTensor, list, dict, array and weakref is written once
  and referred to by index, so a version counter shared by a view and its base, a node
  shared by two edges, a saved input that is also a named tensor stay shared (tuples,
  numbers and strings are values: immutable, their identity is never asked);
* memory: arrays are grouped by the object owning their memory (``backend.root_array``);
  each group's memory is written once (an owning array with its shape and strides, in any
  dimension order) and every array is rebuilt on it at its offset with its strides, so
  views still alias their bases, and ``root_array`` still tells groups apart;
* a freed graph (``saved`` None) stays freed; seq numbers keep their order (renumbered on
  load past every node this process made, as a replay would number them); nodes recording
  hid from the cyclic GC are hidden again (engine/graph.py ``hide``).
Refused, with ``SnapshotRefused`` naming it (the caller keeps what it had): any object
outside the whitelist, so a Python function (any hook dict that is not empty), a node whose
class is not a table row's, AccumulateGrad or CopySlices (a custom Function's, a refused
view's, a delayed error's), inference tensors, saved-tensor hooks, CuPy arrays, object or
structured dtypes; a tensor with hooks kept aside by id (post-accumulate-grad hooks, a
reassigned ``_backward_hooks``); a weakref with a callback; a node attribute the engine
does not set. ``decode`` raises ``SnapshotCorrupt`` for a document ``encode`` did not make;
it never runs anything the document names (engine/graph_snapshot_load.py).
"""

from __future__ import annotations

import contextlib
import gc
import json
import weakref

import numpy as np

from . import backend, dtypes, views
from . import graph as _graph
from ._tensor import Size, Tensor, _nonleaf_hooks_attr
from .graph import AccumulateGrad, HookDict, Node, SavedTensor
from .ops import ROWS
from .ops.table import _NOTHING_SAVED, Op

MAGIC = b"autograd-graph-snapshot/1\n"
MAX_DEPTH = 64  # nesting of plain values (tuples in tuples): op arguments, never deeper
DTYPE_KINDS = "biufc"
TENSOR_SLOTS = tuple(s for s in Tensor.__slots__ if s != "__weakref__")
SAVED_SLOTS = SavedTensor.__slots__
# every attribute the engine sets on a node (recording, backward, views, anomaly mode)
NODE_ATTRS = frozenset({
    "seq", "next_functions", "saved", "out_metas", "metas", "param_edge_counts", "attrs",
    "tensor_pre_hooks", "retains_grad_hooks", "pre_hooks", "post_hooks", "forward_trace",
    "anomaly_parent", "_metadata", "variable", "fn", "where", "_gc_exposed"})


IDENTITY = frozenset({list, dict, HookDict, np.ndarray, SavedTensor, Tensor,
                      weakref.ReferenceType})  # kept once, referred to by index


class SnapshotRefused(Exception):
    """The objects hold something a snapshot cannot represent faithfully."""


class SnapshotCorrupt(ValueError):
    """The document is not a snapshot this module wrote."""


def node_classes() -> dict:
    """Node class key -> class: each table row's grad_fn class (by the row's table name),
    AccumulateGrad, CopySlices."""
    out = {"AccumulateGrad": AccumulateGrad, "CopySlices": views.CopySlices}
    for name, row in ROWS.items():
        cls = getattr(row, "node_class", None)
        if cls is not None:
            out["op:" + name] = cls
    return out


def result_types() -> dict:
    """Named result tuple key -> class (torch.return_types of multi-output rows)."""
    return {name: row.return_type for name, row in ROWS.items()
            if row.return_type is not None}


_CLASSES: dict = {}
_RESULTS: dict = {}


def registries() -> tuple[dict, dict]:
    """(node classes, result types), built once every row is declared."""
    if not _CLASSES:
        _CLASSES.update(node_classes())
        _RESULTS.update(result_types())
    return _CLASSES, _RESULTS


def encode(value) -> tuple[dict, bytes]:
    """(header, memory) for ``value`` (plain values, tensors, nodes, ...: NOTE [graph
    snapshots]): the header holds JSON types only; SnapshotRefused when ``value`` holds
    anything else."""
    enc = _Encoder()
    with gc_paused():
        root = enc.value(value, 0)
        while enc.todo:  # iterative: a graph may be a chain of thousands of nodes
            obj, k = enc.todo.pop()
            enc.objects[k] = enc.fill(obj)
        blob, groups = enc.memory()
    return {"root": root, "objects": enc.objects, "memory": groups}, blob


@contextlib.contextmanager
def gc_paused():
    """No cyclic collection while a snapshot is written or read: each makes tens of
    thousands of small containers, each allocation burst triggering collections that walk
    every live object (the graphs of every session), to free nothing (measured: 0.9 s of
    a 1.3 s load of 34,000 objects)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def pack(header: bytes, blob: bytes) -> bytes:
    """The document: MAGIC, the header's length, the header (JSON), the memory."""
    return MAGIC + len(header).to_bytes(8, "little") + header + blob


def unpack(data) -> tuple[bytes, bytes]:
    """(header JSON, memory) of a document; SnapshotCorrupt when it is not one."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SnapshotCorrupt("not bytes")
    data = bytes(data)
    start = len(MAGIC) + 8
    if not data.startswith(MAGIC) or len(data) < start:
        raise SnapshotCorrupt("not a graph snapshot")
    n = int.from_bytes(data[len(MAGIC):start], "little")
    if start + n > len(data):
        raise SnapshotCorrupt("a header longer than the document")
    return data[start:start + n], data[start + n:]


def dumps(value) -> bytes:
    """``encode`` packed, its header by the standard library's JSON (the service packs
    with orjson: the same document, faster)."""
    header, blob = encode(value)
    return pack(json.dumps(header, separators=(",", ":"), allow_nan=False).encode(), blob)


class _Encoder:
    def __init__(self):
        classes, results = registries()
        self.class_key = {cls: k for k, cls in classes.items()}
        self.result_key = {cls: k for k, cls in results.items()}
        self.index: dict[int, int] = {}
        self.keep: list = []  # the objects indexed, alive while ids are compared
        self.objects: list = []
        self.todo: list = []
        self.roots: dict[int, int] = {}  # id(memory owner) -> group
        self.owners: list = []
        self.extent: list = []  # per group: bytes of its memory the arrays reach

    def ref(self, obj) -> list:
        k = self.index.get(id(obj))
        if k is None:
            k = self.index[id(obj)] = len(self.objects)
            self.keep.append(obj)
            self.objects.append(None)
            self.todo.append((obj, k))
        return ["r", k]

    def value(self, v, depth: int):
        t = type(v)
        if v is None or t is bool or t is str:  # (a string is JSON's: every tag is a list)
            return v
        if t is int:
            return v if -2**63 <= v < 2**63 else ["I", str(v)]
        if t in IDENTITY or t in self.class_key:
            if v is _NOTHING_SAVED:
                return ["NS"]
            k = self.index.get(id(v))
            return ["r", k] if k is not None else self.ref(v)
        if t is float:
            return ["f", v.hex()]
        if depth > MAX_DEPTH:
            raise SnapshotRefused(f"values nested deeper than {MAX_DEPTH}")
        if t is tuple or t is Size:
            return ["t" if t is tuple else "Sz", [self.value(x, depth + 1) for x in v]]
        if t is complex:
            return ["c", v.real.hex(), v.imag.hex()]
        if t is slice:
            return ["sl", [self.value(x, depth + 1) for x in (v.start, v.stop, v.step)]]
        if v is Ellipsis:
            return ["E"]
        if v is views.THROUGH_BASE:
            return ["TB"]
        if isinstance(v, np.dtype):
            return ["d", _dtype(v)]
        if t is dtypes.dtype and dtypes.ALL_BY_NAME.get(v.name) is v:
            return ["ed", v.name]
        if t is dtypes.memory_format and dtypes.MEMORY_FORMATS.get(v.name) is v:
            return ["mf", v.name]
        if isinstance(v, np.generic) and not isinstance(v, np.object_):
            return ["ns", _dtype(v.dtype), v.tobytes().hex()]
        if t is Op and ROWS.get(v.qualname) is v:
            return ["op", v.qualname]
        if t in self.result_key:
            return ["nt", self.result_key[t], [self.value(x, depth + 1) for x in v]]
        if isinstance(v, Node):
            raise SnapshotRefused(f"a {type(v).__name__} node (not a table op's)")
        raise SnapshotRefused(f"a {t.__name__} value")

    def fill(self, obj) -> list:
        t = type(obj)
        if t is list:
            return ["list", [self.value(x, 0) for x in obj]]
        if t is dict or t is HookDict:
            return ["dict" if t is dict else "hooks",
                    [[self.value(k, 0), self.value(x, 0)] for k, x in obj.items()]]
        if t is np.ndarray:
            return self.array(obj)
        if t is Tensor:
            if id(obj) in _graph.post_accumulate_grad_hooks or id(obj) in _nonleaf_hooks_attr:
                raise SnapshotRefused("a tensor with hooks kept aside by id")
            if type(obj._version_counter) is not list:
                raise SnapshotRefused("an inference tensor")
            return ["tensor", [self.value(getattr(obj, s), 0) for s in TENSOR_SLOTS]]
        if t is SavedTensor:
            if obj.hooked is not None:
                raise SnapshotRefused("a saved tensor with saved-tensor hooks")
            return ["saved", [self.value(getattr(obj, s), 0) for s in SAVED_SLOTS]]
        if t is weakref.ReferenceType:
            if obj.__callback__ is not None:
                raise SnapshotRefused("a weakref with a callback")
            target = obj()
            return ["wref", None if target is None else self.value(target, 0)]
        attrs = {}
        for name, x in vars(obj).items():
            if name not in NODE_ATTRS:
                raise SnapshotRefused(f"a node attribute {name!r}")
            attrs[name] = self.value(x, 0)
        return ["node", self.class_key[t], attrs]

    def array(self, a: np.ndarray) -> list:
        if a.dtype.kind not in DTYPE_KINDS or a.dtype.fields is not None:
            raise SnapshotRefused(f"an array of dtype {a.dtype}")
        owner = backend.root_array(a)
        g = self.roots.get(id(owner))
        if g is None:
            g = self.roots[id(owner)] = len(self.owners)
            self.owners.append(owner)
            self.extent.append(0)
        start = _start(owner)
        offset = a.__array_interface__["data"][0] - start
        if a.size:
            reach = offset + sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s > 0) \
                + a.itemsize
            self.extent[g] = max(self.extent[g], reach)
        return ["arr", g, offset, list(a.shape), list(a.strides), _dtype(a.dtype),
                bool(a.flags.writeable)]

    def memory(self) -> tuple[bytes, list]:
        """The memory blocks, one per owner: an owning array whole (with its dtype, shape
        and order, so that it is rebuilt as the owner), any other buffer up to the last
        byte an array reaches."""
        parts, groups, at = [], [], 0
        for owner, reach in zip(self.owners, self.extent):
            if type(owner) is np.ndarray:
                name = _dtype(owner.dtype)
                if dense_owner(owner.shape, owner.dtype, owner.strides) is None:
                    raise SnapshotRefused("an array owning memory it does not hold densely")
                raw = owner.ravel(order="K").view(np.uint8).tobytes()
                spec = ["array", list(owner.shape), name, list(owner.strides),
                        bool(owner.flags.writeable)]
            else:
                try:
                    view = np.frombuffer(owner, dtype=np.uint8)
                except (TypeError, ValueError):
                    raise SnapshotRefused(f"memory held by a {type(owner).__name__}") from None
                raw = view[:reach].tobytes()
                spec = ["buffer", bool(view.flags.writeable)]
            groups.append([at, len(raw), *spec])
            parts.append(raw)
            at += len(raw)
        return b"".join(parts), groups


def dense_owner(shape, dtype, strides) -> np.ndarray | None:
    """A new array owning its memory (``base`` None) with this shape and these strides,
    its dimensions in any order in memory (a copy of a transposed array is one); None
    when no such array has exactly these strides."""
    order = sorted(range(len(shape)), key=lambda i: -strides[i])
    proto = np.empty([shape[i] for i in order], dtype=dtype).transpose(np.argsort(order))
    arr = np.empty_like(proto, order="K")
    return arr if arr.strides == tuple(strides) and arr.base is None else None


def _start(owner) -> int:
    if isinstance(owner, np.ndarray):
        return owner.__array_interface__["data"][0]
    if type(owner).__module__.startswith("cupy"):
        raise SnapshotRefused("a CuPy array")
    try:
        return np.frombuffer(owner, dtype=np.uint8).__array_interface__["data"][0]
    except (TypeError, ValueError):
        raise SnapshotRefused(f"memory held by a {type(owner).__name__}") from None


_DTYPE_NAMES: dict = {}  # (numpy's dtype.name costs ~25 us)


def _dtype(d: np.dtype) -> str:
    name = _DTYPE_NAMES.get(d)
    if name is None:
        if d.kind not in DTYPE_KINDS or d.fields is not None or d.byteorder == ">":
            raise SnapshotRefused(f"dtype {d}")
        name = _DTYPE_NAMES[d] = d.name
    return name
