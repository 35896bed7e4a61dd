"""Content addresses and idempotent retries.

``graph_hash``: SHA-256 over the canonical node list: each node's fields as sorted-key
JSON, with every tensor value replaced by (dtype, shape, SHA-256 of its bytes), so the
same graph sent as nested lists, base64 or binary hashes the same. In a session it covers
every node sent so far, in order.

``Idempotency-Key`` on /backward in a session: the first answer is stored per key in the
session and a retry gets it again without running (a retried request never accumulates
twice into ``.grad``); the same key with a different body is a 422.
"""

from __future__ import annotations

import hashlib

import numpy as np
import orjson

from . import wire
from .errors import Problem
from .limits import Budget

MAX_KEYS = 256  # answers kept per session (oldest dropped first)


_SCALARS = (str, int, float, bool, type(None))


def _digest(arr: np.ndarray) -> str:
    """sha256 of a C-contiguous array's bytes, read in place (tobytes() would copy 40 MB
    for a 1e7-element tensor): the same digest as hashing ``arr.tobytes()``."""
    return hashlib.sha256(arr.reshape(-1).view(np.uint8)).hexdigest()


def summary(arr: np.ndarray) -> dict:
    arr = np.ascontiguousarray(arr)
    return {"dtype": wire.dtype_name(arr.dtype), "shape": list(arr.shape), "sha256": _digest(arr)}


def _canonical(value, settings, dtype=None):
    if type(value) in _SCALARS:
        return value
    if isinstance(value, (wire.RawTensor, dict)) and (
            isinstance(value, wire.RawTensor) or "b64" in value or "data" in value):
        return summary(wire.decode(value, Budget(settings), dtype))
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
        out["data"] = hit[1] if hit is not None and hit[0] is data else summary(
            wire.decode(data, Budget(settings), n.get("dtype")))
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
            h.update(orjson.dumps(_node(n, settings, known), option=orjson.OPT_SORT_KEYS))
            h.update(b"\n")


def session_hash(session, settings) -> str:
    """graph_hash over the session's log, continued from where the last call left it (the
    log is append-only; a replica that forgot the session starts a new list: from 0)."""
    log = session.log
    state = getattr(session, "hash_state", None)
    if state is None or state[0] is not log or state[1] > len(log):
        state = (log, 0, hashlib.sha256())
    _, done, h = state
    _update(h, [e["nodes"] for e in log[done:] if e.get("kind") == "nodes"], settings,
            getattr(session.ws, "summaries", {}))
    session.hash_state = (log, len(log), h)
    return "sha256:" + h.hexdigest()


def request_fingerprint(args: dict, nodes: list, settings) -> str:
    """What a retry must repeat: the call's arguments and nodes."""
    body = {"args": _canonical(args, settings), "graph": graph_hash([nodes], settings)}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS,
                                       default=str)).hexdigest()


def replayed(session, key: str | None, fingerprint: str):
    """The stored answer for ``key`` in ``session`` (None when new); 422 when the key was
    used for a different request."""
    if key is None:
        return None
    answers = getattr(session, "idempotent", None)
    if not answers or key not in answers:
        return None
    fp, answer = answers[key]
    if fp != fingerprint:
        raise Problem(422, f"Idempotency-Key {key!r} was already used for a different request "
                      "in this session", "idempotency-key-reused")
    return answer


def remember(session, key: str | None, fingerprint: str, answer) -> None:
    if key is None:
        return
    answers = getattr(session, "idempotent", None)
    if answers is None:
        answers = session.idempotent = {}
    answers[key] = (fingerprint, answer)
    while len(answers) > MAX_KEYS:
        answers.pop(next(iter(answers)))
