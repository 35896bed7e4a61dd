"""A Workspace as a snapshot document (engine/graph_snapshot.py) and back: what the Redis
store keeps so that a replica catches up by loading it and replaying only the later log
entries (NOTE [bounded replay] in service/sessions/replay.py).

Kept: every binding in order (``entries``: the names are the last binding of each), which
tensor each name still binds, the server ids ("%k") given so far to unnamed tensors and
nodes and the counter, with the engine objects they reach (NOTE [graph snapshots]). Hooks
sent with a call (``hooks``: expressions) are registered for that call only and removed
after it, so a workspace between calls holds none; a hook dict that is not empty is a
function, which the engine refuses (``SnapshotRefused``). Not kept: caches (the byte
ledger, content summaries), made again when asked for.
"""

from __future__ import annotations

import orjson

from engine import Tensor
from engine.graph import Node
from engine.graph_snapshot import (
    SnapshotCorrupt,
    SnapshotRefused,
    encode,
    gc_paused,
    pack,
    unpack,
)
from engine.graph_snapshot_load import decode

from .workspace import Workspace

__all__ = ["SnapshotCorrupt", "SnapshotRefused", "dump", "load"]
FIELDS = {"entries", "name_of", "server_ids", "node_ids", "counter", "elements"}


def dump(ws: Workspace) -> bytes:
    """The snapshot of ``ws``; SnapshotRefused for what it cannot keep."""
    at = {}
    for k, (_, _, t) in enumerate(ws.entries):
        at.setdefault(id(t), k)
    name_of = []
    for key, name in ws._name_of.items():
        if key not in at:  # every bound object stays in entries: never seen
            raise SnapshotRefused(f"a name ({name!r}) for an object no entry holds")
        name_of.append((at[key], name))
    header, blob = encode({
        "entries": [tuple(e) for e in ws.entries],
        "name_of": name_of,
        "server_ids": [(sid, t) for sid, t in ws._server_ids.values()],
        "node_ids": [(node, dict(ids)) for node, ids in ws._node_ids.items()],
        "counter": ws._counter, "elements": ws.elements})
    return pack(orjson.dumps(header), blob)  # (the engine's dumps, with a faster JSON)


def load(data: bytes) -> Workspace:
    """The Workspace a snapshot holds; SnapshotCorrupt when it is not one of ``dump``'s."""
    header, blob = unpack(data)
    try:
        with gc_paused():  # (tens of thousands of small lists)
            head = orjson.loads(header)
    except orjson.JSONDecodeError as e:
        raise SnapshotCorrupt(f"a header that is not JSON ({e})") from None
    root = decode(head, blob)
    _need(type(root) is dict and set(root) == FIELDS, "not a workspace snapshot")
    ws = Workspace()
    for e in _items(root["entries"], 3):
        name, op, t = e
        _need(type(name) is str and type(op) is str and (type(t) is Tensor or isinstance(
            t, tuple) and all(type(x) is Tensor for x in t)), "a binding")
        ws.names[name] = t
        ws.entries.append((name, op, t))
    for k, name in _items(root["name_of"], 2):
        _need(type(k) is int and 0 <= k < len(ws.entries) and type(name) is str, "a name")
        ws._name_of[id(ws.entries[k][2])] = name
    for sid, t in _items(root["server_ids"], 2):
        _need(type(sid) is str and type(t) is Tensor, "a server id")
        ws._server_ids[id(t)] = (sid, t)
    for node, ids in _items(root["node_ids"], 2):
        _need(isinstance(node, Node) and type(ids) is dict and all(
            type(k) is int and type(v) is str for k, v in ids.items()), "a node's ids")
        ws._node_ids[node] = ids
    counter, elements = root["counter"], root["elements"]
    _need(type(counter) is int and type(elements) is int and counter >= 0 and
          elements == sum(x.array.size for x in ws.tensors()), "the counters")
    ws._counter, ws.elements = counter, elements
    return ws


def _need(ok, why: str) -> None:
    if not ok:
        raise SnapshotCorrupt(why)


def _items(value, n: int) -> list:
    _need(type(value) is list and all(isinstance(x, tuple) and len(x) == n for x in value),
          f"a list of {n}-tuples")
    return value
