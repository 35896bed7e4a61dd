"""Bodies in and out: JSON with raw tensors after the Open Inference Protocol's binary
extension (a JSON header of Inference-Header-Content-Length bytes, then the tensors'
little-endian bytes in document order), and problem+json errors as exceptions."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

BINARY_HEADER = "Inference-Header-Content-Length"
OCTET = "application/octet-stream"
DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8"), "int64": np.dtype("<i8"),
          "bool": np.dtype("bool")}
NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class APIError(RuntimeError):
    """An error answer: carries the server's RFC 9457 problem detail. A RuntimeError, so
    torch-style ``except RuntimeError`` catches it; ``str(e)`` is the detail (PyTorch's own
    message where it has one)."""

    def __init__(self, status: int, problem: dict):
        self.status = status
        self.problem = problem
        self.type = problem.get("type")
        self.title = problem.get("title")
        self.detail = problem.get("detail", "")
        super().__init__(self.detail)


@dataclass(frozen=True)
class Raw:
    """A tensor sent as raw bytes (the binary extension)."""

    array: np.ndarray


def dtype_name(arr: np.ndarray) -> str:
    return "bool" if arr.dtype == np.bool_ else str(arr.dtype)


def encode(obj: dict) -> tuple[bytes, dict]:
    """A request body: JSON when no Raw tensor is in it, else the binary extension.
    json.dumps visits values in document order, so the buffers line up."""
    buffers: list[bytes] = []

    def raw(o):
        if isinstance(o, Raw):
            # np.array, not ascontiguousarray: that one makes a 0-d array 1-d
            arr = np.array(o.array, dtype=o.array.dtype.newbyteorder("<"), order="C")
            buffers.append(arr.tobytes())
            return {"dtype": dtype_name(arr), "shape": list(arr.shape),
                    "binary_data_size": arr.nbytes}
        if isinstance(o, np.generic):
            return o.item()
        raise TypeError(f"cannot send {type(o).__name__}")

    head = json.dumps(obj, default=raw, allow_nan=False).encode()
    if not buffers:
        return head, {"Content-Type": "application/json"}
    return head + b"".join(buffers), {"Content-Type": OCTET, BINARY_HEADER: str(len(head))}


def decode(status: int, headers, content: bytes):
    """An answer -> Python objects with response tensors as NumPy arrays; errors raise."""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if status >= 400:
        try:
            problem = json.loads(content)
        except ValueError:
            problem = {"status": status, "detail": content.decode(errors="replace")[:500]}
        if not isinstance(problem, dict):
            problem = {"status": status, "detail": str(problem)}
        raise APIError(status, problem)
    if not content:
        return None
    if ctype == OCTET:
        n = int(headers[BINARY_HEADER])
        obj, tail, offset = json.loads(content[:n]), memoryview(content)[n:], 0
    else:
        obj, tail, offset = json.loads(content), None, 0
    # tensors ({"shape", "dtype", ...}) -> arrays, in document order (no recursion)
    root = [obj]
    stack = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        node = parent[key]
        if isinstance(node, dict):
            if "shape" in node and "dtype" in node and node.get("dtype") in DTYPES and (
                    "data" in node or "b64" in node or "binary_data_size" in node):
                parent[key], offset = _tensor(node, tail, offset)
                continue
            keys = list(node)
        elif isinstance(node, list):
            keys = list(range(len(node)))
        else:
            continue
        stack.extend((node, k) for k in reversed(keys))
    return root[0]


def _tensor(spec: dict, tail, offset: int):
    dt, shape = DTYPES[spec["dtype"]], tuple(spec["shape"])
    if spec.get("binary_data_size") is not None:
        size = spec["binary_data_size"]
        arr = np.frombuffer(tail[offset:offset + size], dtype=dt).reshape(shape).copy()
        return arr, offset + size
    if spec.get("b64") is not None:
        import base64
        return np.frombuffer(base64.b64decode(spec["b64"]), dtype=dt).reshape(shape).copy(), offset
    data = spec["data"]
    if isinstance(data, str):
        data = NONFINITE[data]
    elif isinstance(data, list) and dt.kind == "f":
        flat = np.array(data, dtype=object).reshape(-1)
        data = np.array([NONFINITE.get(x, x) if isinstance(x, str) else x for x in flat],
                        dtype=float)
    return np.asarray(data, dtype=dt).reshape(shape), offset


def constant(value):
    """A Python constant for JSON: non-finite floats as the proto3 strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value
