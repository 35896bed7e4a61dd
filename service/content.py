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

MAX_KEYS = 256  # answers kept per session (oldest dropped first); setting idempotency_keys


def _digest(arr: np.ndarray) -> str:
    """sha256 of a C-contiguous array's bytes, read in place (tobytes() would copy 40 MB
    for a 1e7-element tensor): the same digest as hashing ``arr.tobytes()``."""
    return hashlib.sha256(arr.reshape(-1).view(np.uint8)).hexdigest()


def _canonical(value, settings, dtype=None):
    if isinstance(value, (wire.RawTensor, dict)) and (
            isinstance(value, wire.RawTensor) or "b64" in value or "data" in value):
        arr = np.ascontiguousarray(wire.decode(value, Budget(settings), dtype))
        return {"dtype": str(arr.dtype), "shape": list(arr.shape),
                "sha256": _digest(arr)}
    if isinstance(value, dict):
        return {k: _canonical(v, settings) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, settings) for v in value]
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        return {"dtype": str(arr.dtype), "shape": list(arr.shape),
                "sha256": _digest(arr)}
    return value


def _node(n: dict, settings) -> dict:
    out = {k: _canonical(v, settings) for k, v in n.items() if k != "data"}
    if n.get("data") is not None:  # a tensor node's value: always by dtype, shape, bytes
        arr = np.ascontiguousarray(wire.decode(n["data"], Budget(settings), n.get("dtype")))
        out["data"] = {"dtype": str(arr.dtype), "shape": list(arr.shape),
                       "sha256": _digest(arr)}
    return out


def graph_hash(node_lists, settings) -> str:
    """``node_lists``: lists of node dicts (as the session log keeps them), in order."""
    h = hashlib.sha256()
    for nodes in node_lists:
        for n in nodes:
            h.update(orjson.dumps(_node(n, settings), option=orjson.OPT_SORT_KEYS))
            h.update(b"\n")
    return "sha256:" + h.hexdigest()


def session_hash(session, settings) -> str:
    return graph_hash([e["nodes"] for e in session.log if e.get("kind") == "nodes"], settings)


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


def remember(session, key: str | None, fingerprint: str, answer, keep: int = MAX_KEYS) -> None:
    if key is None:
        return
    answers = getattr(session, "idempotent", None)
    if answers is None:
        answers = session.idempotent = {}
    answers[key] = (fingerprint, answer)
    while len(answers) > max(keep, 1):
        answers.pop(next(iter(answers)))
