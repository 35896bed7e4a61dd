"""Bodies in and out: JSON with raw tensors after the Open Inference Protocol's binary
extension (a JSON header of Inference-Header-Content-Length bytes, then the tensors'
little-endian bytes in document order), and problem+json errors as exceptions."""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from dataclasses import dataclass

import numpy as np

try:  # optional (pip install autograd-client[fast]): a SIMD base64 codec, ~8x the stdlib's
    import pybase64
except ImportError:  # pragma: no cover - exercised where pybase64 is not installed
    pybase64 = None

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
        # str(e) is torch's text: the server's "node 3 ('y', op 'mul'): " locator stays in
        # .detail and .problem
        super().__init__(NODE_LOCATOR.sub("", self.detail, count=1))


# torch's text (the SDK warns as torch does without importing it)
NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
    "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
    "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
    "instead. See github.com/pytorch/pytorch/pull/30531 for more information.")
NODE_LOCATOR = re.compile(r"^node \d+ \('([^']*)', op '[^']*'\): ")


@dataclass(frozen=True)
class Raw:
    """A tensor sent as raw bytes (the binary extension)."""

    array: np.ndarray


def dtype_name(arr: np.ndarray) -> str:
    return "bool" if arr.dtype == np.bool_ else str(arr.dtype)


SEND_BYTES = 1 << 20  # a raw tensor is sent in slices of this (see encode)
READ_BYTES = 1 << 20  # answers at least this long are read into one NumPy buffer


def encode(obj: dict) -> tuple[bytes | list, dict]:
    """A request body: JSON when no Raw tensor is in it, else the binary extension, as a
    list of parts sent one after the other (the JSON head, then each tensor's own bytes in
    slices of SEND_BYTES: httpx's HTTP/1.1 writer copies each part it is given, a slice is
    cheap to copy where a whole 40 MB tensor is not), with its Content-Length.
    json.dumps visits values in document order, so the buffers line up."""
    buffers: list[memoryview] = []

    def raw(o):
        if isinstance(o, Raw):
            # asarray, not ascontiguousarray (that one makes a 0-d array 1-d): no copy when
            # the array already is little-endian C-order
            arr = np.asarray(o.array, dtype=o.array.dtype.newbyteorder("<"), order="C")
            buffers.append(arr.reshape(-1).view(np.uint8).data)
            return {"dtype": dtype_name(arr), "shape": list(arr.shape),
                    "binary_data_size": arr.nbytes}
        if isinstance(o, np.generic):
            return o.item()
        raise TypeError(f"cannot send {type(o).__name__}")

    head = json.dumps(obj, default=raw, allow_nan=False).encode()
    if not buffers:
        return head, {"Content-Type": "application/json"}
    parts = [head]
    for buf in buffers:
        parts += [buf[i:i + SEND_BYTES] for i in range(0, len(buf), SEND_BYTES)]
    return parts, {"Content-Type": OCTET, BINARY_HEADER: str(len(head)),
                   "Content-Length": str(len(head) + sum(len(b) for b in buffers))}


def _buffer(response) -> memoryview | None:
    """A buffer for the answer's bytes when it is long and not compressed, else None: the chunks are copied in as they come, instead of being joined into one new
    bytes object at the end (a fresh 40 MB bytes costs several times the copy in page
    faults; a large NumPy array takes huge pages). The tensors decoded from it are views
    of it: no further copy."""
    size = response.headers.get("content-length", "")
    coding = response.headers.get("content-encoding", "identity").strip().lower()
    if not size.isdigit() or int(size) < READ_BYTES or coding not in ("identity", ""):
        return None
    # a binary answer's tensors start 64-byte aligned, as NumPy's own arrays do (its SIMD
    # loops are slower at odd addresses)
    head = response.headers.get(BINARY_HEADER, "")
    at = int(head) if head.isascii() and head.isdigit() and len(head) < 19 else 0
    buf = np.empty(64 + int(size), np.uint8)
    pad = (-(buf.ctypes.data + at)) % 64
    return memoryview(buf)[pad:pad + int(size)]


def _copy_in(view: memoryview, size: int, chunk: bytes) -> int:
    end = size + len(chunk)
    if end > len(view):  # httpx frames by Content-Length: only a broken server gets here
        raise ValueError(f"the answer is longer than its Content-Length ({len(view)} bytes)")
    view[size:end] = chunk
    return end


def _filled(view: memoryview, size: int) -> memoryview:
    if size != len(view):
        raise ValueError(f"the answer ended after {size} of the {len(view)} bytes its "
                         "Content-Length declares")
    return view


def read_answer(response) -> bytes | memoryview:
    """The body of a streamed httpx answer (``client.stream(...)``), for ``decode``."""
    target = _buffer(response)
    if target is None:
        return response.read()
    size = 0
    for chunk in response.iter_bytes():
        size = _copy_in(target, size, chunk)
    return _filled(target, size)


async def aread_answer(response) -> bytes | memoryview:
    """``read_answer`` for an httpx.AsyncClient's streamed answer."""
    target = _buffer(response)
    if target is None:
        return await response.aread()
    size = 0
    async for chunk in response.aiter_bytes():
        size = _copy_in(target, size, chunk)
    return _filled(target, size)


def decode(status: int, headers, content: bytes):
    """An answer -> Python objects with response tensors as NumPy arrays; errors raise."""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if status >= 400:
        try:
            problem = json.loads(bytes(content))
        except ValueError:
            problem = {"status": status, "detail": bytes(content).decode(errors="replace")[:500]}
        if not isinstance(problem, dict):
            problem = {"status": status, "detail": str(problem)}
        raise APIError(status, problem)
    if not content:
        return None
    if ctype and ctype != OCTET and ctype != "application/json" and not ctype.endswith("+json"):
        return bytes(content).decode("utf-8")  # text: a drawing (svg, dot), metrics
    lifted = None
    if ctype == OCTET:
        n = int(headers[BINARY_HEADER])
        obj, tail, offset = json.loads(bytes(content[:n])), memoryview(content)[n:], 0
    else:
        tail, offset = None, 0
        lifted = _lift_b64(content) if len(content) >= READ_BYTES else None
        if lifted is not None:
            obj, lifted = lifted
        else:
            obj = json.loads(bytes(content))
    # tensors ({"shape", "dtype", ...}) -> arrays, in document order (no recursion)
    root = [obj]
    stack = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        node = parent[key]
        if isinstance(node, dict):
            if "shape" in node and "dtype" in node and node.get("dtype") in DTYPES and (
                    "data" in node or "b64" in node or "binary_data_size" in node):
                parent[key], offset = _tensor(node, tail, offset, lifted)
                continue
            keys = list(node)
        elif isinstance(node, list):
            keys = list(range(len(node)))
        else:
            continue
        stack.extend((node, k) for k in reversed(keys))
    return root[0]


def _tensor(spec: dict, tail, offset: int, lifted: dict | None = None):
    dt, shape = DTYPES[spec["dtype"]], tuple(spec["shape"])
    if spec.get("binary_data_size") is not None:
        size = spec["binary_data_size"]
        arr = np.frombuffer(tail[offset:offset + size], dtype=dt).reshape(shape)
        # over bytes the array is read-only: a copy, as torch's tensors are writable; over
        # read_answer's buffer it is already the answer's own
        return (arr if arr.flags.writeable else arr.copy()), offset + size
    if spec.get("b64") is not None:
        text = spec["b64"]
        raw = lifted.get(text) if lifted and isinstance(text, str) else None
        if raw is None:
            raw = np.frombuffer(_b64decode(text), np.uint8).copy()  # writable, as torch's
        if raw.nbytes != dt.itemsize * math.prod(shape):
            raise ValueError(f"a base64 tensor of {raw.nbytes} bytes is not a {spec['dtype']} "
                             f"tensor of shape {list(shape)}")
        return raw.view(dt).reshape(shape), offset
    data = spec["data"]
    if isinstance(data, str):
        data = NONFINITE[data]
    elif isinstance(data, list) and dt.kind == "f":
        flat = np.array(data, dtype=object).reshape(-1)
        data = np.array([NONFINITE.get(x, x) if isinstance(x, str) else x for x in flat],
                        dtype=float)
    return np.asarray(data, dtype=dt).reshape(shape), offset


def _b64decode(text) -> bytes:
    if pybase64 is not None:
        return pybase64.b64decode(text, validate=True)
    return base64.b64decode(text, validate=True)


_B64_KEY = re.compile(rb'"b64"\s*:\s*"')
LIFT_BYTES = 1 << 16  # base64 texts at least this long are decoded from the answer's bytes
B64_SLICE = 1 << 20  # characters decoded at a time (a multiple of 4)


def _find_quote(view: memoryview, start: int) -> int:
    """bytes.find of '"' from ``start``, a slice at a time (a memoryview has no find, and
    a regular expression scans ~5x slower)."""
    for pos in range(start, len(view), B64_SLICE):
        k = bytes(view[pos:pos + B64_SLICE]).find(b'"')
        if k >= 0:
            return pos + k
    return -1


def _lift_b64(content) -> tuple[object, dict] | None:
    """``json.loads`` of a JSON answer whose long base64 texts are first cut out and then
    decoded from the answer's bytes into NumPy buffers: a 40 MB tensor is 53 MB of base64,
    and the JSON parser's str of it costs several times the decoding. Returns the object,
    whose lifted ``b64`` values are tokens, and {token: the decoded bytes as a uint8 array};
    None where nothing is lifted or anything is off (a text that is not plain base64):
    the caller then parses the plain way."""
    view = memoryview(content).cast("B")
    spans, pos = [], 0
    while (m := _B64_KEY.search(view, pos)) is not None:
        start = m.end()
        end = _find_quote(view, start)  # base64 holds no quote and no backslash
        if end < 0:
            return None
        if end - start >= LIFT_BYTES:
            spans.append((start, end))
        pos = end + 1
    if not spans:
        return None
    token = f"\x00lift-{uuid.uuid4().hex}-"  # no answer holds this by chance
    pieces, prev = [], 0
    for k, (start, end) in enumerate(spans):
        pieces += [view[prev:start], json.dumps(f"{token}{k}")[1:-1].encode()]
        prev = end
    pieces.append(view[prev:])
    try:
        obj = json.loads(b"".join(pieces))
    except ValueError:
        return None
    if _lifted_tensors(obj, token) != len(spans):  # a "b64" that is no tensor's: as it was
        return None
    try:
        lifted = {f"{token}{k}": _b64_buffer(view[start:end])
                  for k, (start, end) in enumerate(spans)}
    except ValueError:  # binascii.Error is one
        return None
    return obj, lifted


def _lifted_tensors(obj, token: str) -> int:
    """How many tensor objects ({"shape", "dtype", "b64"}) hold a lifted text (no
    recursion)."""
    found, stack = 0, [obj]
    while stack:
        node = stack.pop()
        values = node.values() if isinstance(node, dict) else node
        if isinstance(node, dict) and isinstance(node.get("b64"), str) and \
                node["b64"].startswith(token):
            found += set(node) == {"shape", "dtype", "b64"} and node["dtype"] in DTYPES
            continue
        stack.extend(v for v in values if isinstance(v, (dict, list)))
    return found


def _b64_buffer(text: memoryview) -> np.ndarray:
    """Strict base64 -> its bytes in one NumPy buffer, decoded a slice at a time (one fresh
    40 MB bytes object costs more in page faults than decoding into a buffer)."""
    out = np.empty(len(text) // 4 * 3, np.uint8)
    size = 0
    for i in range(0, len(text), B64_SLICE):
        piece = _b64decode(text[i:i + B64_SLICE])
        if i + B64_SLICE < len(text) and len(piece) != B64_SLICE // 4 * 3:
            raise ValueError("padding inside a base64 text")
        out[size:size + len(piece)] = np.frombuffer(piece, np.uint8)
        size += len(piece)
    return out[:size]


def constant(value):
    """A Python constant for JSON: non-finite floats as the proto3 strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value
