"""Content addresses and idempotent retries.

``graph_hash``: SHA-256 over the canonical node list: each node's fields as sorted-key
JSON, with every tensor value replaced by (dtype, shape, SHA-256 of its bytes), so the
same graph sent as nested lists, base64 or binary hashes the same. In a session it covers
every node sent so far, in order, and the values PUT since; every answer about a graph
carries it (/backward, /grad, /functional/*, /gradcheck, the session endpoints).

``Idempotency-Key`` on /backward in a session: the first answer (its bytes) is stored per
key in the session store, with the call's log entry, and a retry gets it again without
running (a retried request never accumulates twice into ``.grad``, whichever replica it
lands on); the same key with a different body is a 422. The Redis store writes the key, the
answer and the call's log entries in one script (docs/sessions-in-redis.md).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import orjson

from ..budget import Budget
from ..problems import Problem
from ..wire import codec

_SCALARS = (str, int, float, bool, type(None))


def _digest(arr: np.ndarray) -> str:
    """sha256 of a C-contiguous array's bytes, read in place (tobytes() would copy 40 MB
    for a 1e7-element tensor): the same digest as hashing ``arr.tobytes()``."""
    return hashlib.sha256(arr.reshape(-1).view(np.uint8)).hexdigest()


def summary(arr: np.ndarray) -> dict:
    arr = np.ascontiguousarray(arr)
    return {"dtype": codec.dtype_name(arr.dtype), "shape": list(arr.shape), "sha256": _digest(arr)}


# hashlib releases the GIL while it hashes a large buffer: the digest of a 40 MB tensor
# (~30 ms) runs on another core beside the engine's work, instead of before it.
_HASHER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="graph-hash")
BACKGROUND_DIGEST_BYTES = 1 << 20


def summary_soon(arr: np.ndarray) -> dict | Future:
    """``summary(arr)``, or for a large read-only array (a binary or base64 tensor of the
    request: nothing can write into it while it is hashed) a Future of it, started now.
    ``resolved`` reads either."""
    if arr.nbytes < BACKGROUND_DIGEST_BYTES or arr.flags.writeable:
        return summary(arr)
    return _HASHER.submit(summary, arr)


def resolved(value: dict | Future) -> dict:
    return value.result() if isinstance(value, Future) else value


def _canonical(value, settings, dtype=None):
    if type(value) in _SCALARS:
        return value
    if isinstance(value, (codec.RawTensor, dict)) and (
            isinstance(value, codec.RawTensor) or "b64" in value or "data" in value):
        return summary(codec.decode(value, Budget(settings), dtype))
    if isinstance(value, dict):
        return {k: _canonical(v, settings) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if all(type(v) in _SCALARS for v in value):  # ids and numbers: as they are
            return list(value)
        return [_canonical(v, settings) for v in value]
    if isinstance(value, np.ndarray):
        return summary(value)
    return value


def _node(n: dict, settings, known: dict) -> dict:
    out = {k: _canonical(v, settings) for k, v in n.items() if k != "data"}
    data = n.get("data")
    if data is not None:  # a tensor node's value: always by dtype, shape, bytes
        hit = known.get(id(data))
        out["data"] = resolved(hit[1]) if hit is not None and hit[0] is data else summary(
            codec.decode(data, Budget(settings), n.get("dtype")))
    return out


def graph_hash(node_lists, settings, known: dict | None = None) -> str:
    """``node_lists``: lists of node dicts (as the session log keeps them), in order.
    ``known``: summaries of node data already made (``Workspace.summaries``)."""
    h = hashlib.sha256()
    _update(h, node_lists, settings, known or {})
    return "sha256:" + h.hexdigest()


def _update(h, node_lists, settings, known: dict) -> None:
    for nodes in node_lists:
        for n in nodes:
            _line(h, _node(n, settings, known))


def _line(h, obj) -> None:
    h.update(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS))
    h.update(b"\n")


def session_hash(session, settings) -> str:
    """graph_hash of every node sent to the session so far, and of every value PUT into
    it (a line ``{"put": name, "value": ...}`` where it happened), so equal hashes mean the
    same graph with the same values. Kept incrementally: the log only grows (a Redis
    replica that forgets its objects gets a new log list, and starts over)."""
    log = session.log
    state = getattr(session, "hash_state", None)
    if state is None or state[2] is not log or state[0] > len(log):
        state = (0, hashlib.sha256(), log)
    n, h, _ = state
    known = getattr(session.ws, "summaries", {})
    for e in log[n:]:
        if e.get("kind") == "nodes":
            _update(h, [e["nodes"]], settings, known)
        elif e.get("kind") == "put":
            _line(h, {"put": e["name"], "value": _canonical(e["value"], settings)})
    session.hash_state = (len(log), h, log)
    return "sha256:" + h.copy().hexdigest()


def request_fingerprint(args: dict, nodes: list, settings) -> str:
    """What a retry must repeat: the call's arguments and nodes."""
    body = {"args": _canonical(args, settings), "graph": graph_hash([nodes], settings)}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS,
                                       default=str)).hexdigest()


def replayed(store, session, key: str | None, fingerprint: str) -> dict | None:
    """The stored answer for ``key`` in ``session`` (None when the key is new); 422 when
    the key was used for a different request, 409 when it was used but its answer is no
    longer kept (more than ``idempotency_keys`` keys since): the call ran, and runs only once."""
    if key is None:
        return None
    found = store.recall(session, key)
    if found is None:
        return None
    fp, answer = found
    if fp != fingerprint:
        raise Problem(422, f"Idempotency-Key {key!r} was already used for a different request "
                      "in this session", "idempotency-key-reused")
    if answer is None:
        raise Problem(409, f"Idempotency-Key {key!r} was already used in this session and "
                      "its answer is no longer kept (only the last AUTOGRAD_IDEMPOTENCY_KEYS are); the "
                      "call ran once and is not run again", "idempotency-key-expired")
    return answer
