"""Tensors in and out of the wire: JSON numbers and nested lists, {"data", "dtype"},
base64 ({"dtype", "shape", "b64"}), and the Open Inference Protocol's binary extension.

Every walk over user-sized structures here is iterative (no recursion), and sizes are
checked against the request's budget before any array is made.
"""

from __future__ import annotations

import binascii
import math
import re
import uuid
from dataclasses import dataclass

import numpy as np
import orjson

from ..budget import Budget
from ..problems import Problem, bad
from . import buffers

try:
    import pybase64
except ImportError:  # pragma: no cover - a dependency; the stdlib codec is the fallback
    pybase64 = None

DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8"), "int64": np.dtype("<i8"),
          "bool": np.dtype("bool")}
_NAMES = {dt: name for name, dt in DTYPES.items()}


def dtype_name(dt: np.dtype) -> str:
    """The wire name of a NumPy dtype (a dict look-up: str(dtype) costs microseconds)."""
    name = _NAMES.get(dt)
    return name if name is not None else str(dt)
NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
BINARY_HEADER = "Inference-Header-Content-Length"
OCTET = "application/octet-stream"
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


@dataclass(frozen=True)
class RawTensor:
    """A tensor whose bytes came in the binary part of the body (zero-copy view)."""

    dtype: str
    shape: tuple
    buffer: memoryview


# --------------------------------------------------------------------------- binary bodies

def split_binary(body, header_length: str | None):
    """(JSON bytes, binary tail) of an application/octet-stream body (bytes or a
    ``buffers.buffer``); the tail is a read-only view, so the tensors over it are read-only
    NumPy arrays, as they would be over bytes."""
    if header_length is None:
        raise Problem(400, f"an {OCTET} body needs the {BINARY_HEADER} header")
    try:
        n = int(header_length)
    except ValueError:
        raise Problem(400, f"{BINARY_HEADER} must be an integer") from None
    if not 0 <= n <= len(body):
        raise Problem(400, f"{BINARY_HEADER} {n} is outside the body ({len(body)} bytes)")
    view = memoryview(body).toreadonly()
    return bytes(view[:n]), view[n:]


def attach_binary(obj, tail: memoryview):
    """Replace each {"dtype", "shape", "binary_data_size"} in ``obj`` by a RawTensor over
    the next bytes of ``tail``, in document order (orjson keeps key order)."""
    offset = 0
    stack = [(None, None, obj)]
    while stack:
        parent, key, node = stack.pop()
        if isinstance(node, dict):
            if "binary_data_size" in node:
                raw, offset = _take(node, tail, offset)
                if parent is None:
                    obj = raw
                else:
                    parent[key] = raw
                continue
            items = list(node.items())
        elif isinstance(node, list):
            items = list(enumerate(node))
        else:
            continue
        stack.extend((node, k, v) for k, v in reversed(items))
    if offset != len(tail):
        raise bad(f"the binary part has {len(tail)} bytes but the tensors declare {offset}")
    return obj


def _take(spec: dict, tail: memoryview, offset: int):
    size = spec.get("binary_data_size")
    if set(spec) - {"dtype", "shape", "binary_data_size"}:
        raise bad("a binary tensor is {\"dtype\", \"shape\", \"binary_data_size\"}")
    if type(size) is not int or size < 0 or offset + size > len(tail):
        raise bad(f"binary_data_size {size!r} does not fit the {len(tail) - offset} bytes left")
    dtype, shape = _dtype(spec.get("dtype")), _shape(spec.get("shape"))
    return RawTensor(dtype, shape, tail[offset:offset + size]), offset + size


def binary_parts(payload: dict, buffers: list) -> tuple[list, int]:
    """The binary answer as parts to send one after the other (no joined copy)."""
    head = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    return [head, *buffers], len(head)


# --------------------------------------------------------------------------- decoding

def _dtype(name) -> str:
    if name not in DTYPES:
        raise bad(f"unsupported dtype {name!r}; expected one of {', '.join(DTYPES)}")
    return name


def _shape(shape) -> tuple:
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise bad(f"shape must be a list of non-negative integers, got {shape!r}")
    return tuple(shape)


def is_tensor_value(value) -> bool:
    return (isinstance(value, (int, float, list, RawTensor)) or
            isinstance(value, dict) and ("data" in value or "b64" in value))


def decode(value, budget: Budget, default_dtype: str | None = None) -> np.ndarray:
    """A tensor value of the request -> a NumPy array (float32 unless a dtype says)."""
    if isinstance(value, RawTensor):
        return _from_bytes(value.buffer, value.dtype, value.shape, budget)
    if isinstance(value, dict):
        if "b64" in value:
            if set(value) - {"dtype", "shape", "b64"}:
                raise bad("a base64 tensor is {\"dtype\", \"shape\", \"b64\"}")
            dtype, shape = _dtype(value.get("dtype")), _shape(value.get("shape"))
            budget.elements(shape)
            if not isinstance(value["b64"], str):
                raise bad("b64 must be a string")
            return _from_bytes(_b64decode(value["b64"]), dtype, shape, budget, counted=True)
        if set(value) - {"data", "dtype"} or "data" not in value:
            raise bad("a tensor object is {\"data\", \"dtype\"} or {\"dtype\", \"shape\", "
                      "\"b64\"} or {\"dtype\", \"shape\", \"binary_data_size\"}")
        dtype = _dtype(value["dtype"]) if "dtype" in value else default_dtype
        return from_nested(value["data"], budget, dtype)
    return from_nested(value, budget, default_dtype)


B64_SLICE = 1 << 20  # characters decoded at a time (a multiple of 4)


def _b64decode(text) -> memoryview:
    """Strict base64 (a str, or bytes-like from the body) -> a read-only view of the bytes,
    as a tensor's buffer. pybase64's SIMD codec (~8x CPython's for 40 MB; binascii's strict
    mode where it is missing). A long text is decoded a slice at a time into a
    ``buffers.buffer``: one fresh 40 MB bytes costs more in page faults than decoding it."""
    if len(text) < 2 * B64_SLICE:
        return memoryview(_b64decode_strict(text))
    out = buffers.buffer(len(text) // 4 * 3)
    size = 0
    for i in range(0, len(text), B64_SLICE):
        piece = _b64decode_strict(text[i:i + B64_SLICE])
        # a slice that is not the last one decodes to all its 3-byte groups; padding in it
        # (decoding to fewer) is padding in the middle of the text, which is invalid
        if i + B64_SLICE < len(text) and len(piece) != B64_SLICE // 4 * 3:
            raise bad("b64 is not valid base64")
        out[size:size + len(piece)] = piece
        size += len(piece)
    return memoryview(out).toreadonly()[:size]


def _b64decode_strict(text) -> bytes:
    try:
        if pybase64 is not None:
            return pybase64.b64decode(text, validate=True)
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        raise bad("b64 is not valid base64") from None


def _b64encode(raw: memoryview) -> bytes:
    return pybase64.b64encode(raw) if pybase64 is not None else binascii.b2a_base64(
        raw, newline=False)


def decode_b64_tensors(obj):
    """Decode every well-formed {"dtype", "shape", "b64"} of a parsed body once, into a
    RawTensor over the decoded bytes, as a binary body's tensors are: the graph, the
    content hash and a session's log then share those bytes, and nothing decodes the text
    again. Objects that are not exactly that are left for ``decode`` to refuse in context."""
    stack = [obj]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(value, dict):
                dtype = value.get("dtype")
                if len(value) == 3 and isinstance(value.get("b64"), str) and \
                        isinstance(dtype, str) and dtype in DTYPES and "shape" in value:
                    shape = _shape(value["shape"])
                    node[key] = RawTensor(value["dtype"], shape, _b64decode(value["b64"]))
                else:
                    stack.append(value)
            elif isinstance(value, list):
                stack.append(value)
    return obj


_B64_VALUE = re.compile(rb'"b64"\s*:\s*"')
LIFT_BYTES = 4096  # base64 strings at least this long are decoded straight from the body


def loads_lifting_b64(body: bytes):
    """``orjson.loads(body)`` with ``decode_b64_tensors`` applied, without making a str of
    each long base64 text first (that costs more than decoding it): the texts are cut out
    of the body, the rest is parsed, and each tensor's bytes are decoded from the body in
    place. None when that does not apply cleanly (a lifted text that is not exactly a
    tensor's b64, invalid base64 or JSON): the caller then parses the plain way, which
    gives the plain answers and errors."""
    spans, pos = [], 0
    while (m := _B64_VALUE.search(body, pos)) is not None:
        start = m.end()
        end = body.find(b'"', start)  # base64 has no quote and no backslash
        if end < 0:
            return None
        if end - start >= LIFT_BYTES and body.find(b"\\", start, end) < 0:
            spans.append((start, end))
        pos = end + 1
    if not spans:
        return None
    token = f"\x00lift-{uuid.uuid4().hex}-"
    pieces, prev = [], 0
    for k, (start, end) in enumerate(spans):
        pieces += [body[prev:start], orjson.dumps(f"{token}{k}")[1:-1]]
        prev = end
    pieces.append(body[prev:])
    try:
        obj = orjson.loads(b"".join(pieces))
    except orjson.JSONDecodeError:
        return None
    root = [obj]  # the body itself may be one tensor (PUT)
    view, found, stack = memoryview(body), 0, [root]
    while stack:
        node = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        for key, value in (node.items() if isinstance(node, dict) else enumerate(node)):
            text = value.get("b64") if isinstance(value, dict) else None
            if isinstance(text, str) and text.startswith(token):
                if len(value) != 3 or value.get("dtype") not in DTYPES or not (
                        isinstance(value.get("shape"), list) and all(
                        type(d) is int and d >= 0 for d in value["shape"])):
                    return None
                start, end = spans[int(text[len(token):])]
                try:
                    raw = _b64decode(view[start:end])
                except Problem:
                    return None
                node[key] = RawTensor(value["dtype"], tuple(value["shape"]), raw)
                found += 1
            elif isinstance(value, (dict, list)):
                stack.append(value)
    return root[0] if found == len(spans) else None


def _from_bytes(buf, dtype: str, shape: tuple, budget: Budget, counted=False) -> np.ndarray:
    if not counted:
        budget.elements(shape)
    dt = DTYPES[dtype]
    n = math.prod(shape)
    if len(buf) != n * dt.itemsize:
        raise bad(f"{len(buf)} bytes do not hold a {dtype} tensor of shape {list(shape)} "
                  f"({n * dt.itemsize} bytes)")
    return np.frombuffer(buf, dtype=dt).reshape(shape)


def nested_shape(data, max_ndim: int) -> tuple[tuple, list]:
    """Shape and flat leaves of nested lists, level by level (no recursion); ragged or
    over-deep lists are refused with torch's text."""
    shape, level = [], [data]
    while level and isinstance(level[0], list):
        n = len(level[0])
        for item in level:
            if not isinstance(item, list) or len(item) != n:
                got = len(item) if isinstance(item, list) else type(item).__name__
                raise bad(f"expected sequence of length {n} at dim {len(shape)} (got {got})")
        shape.append(n)
        if len(shape) > max_ndim:
            raise Problem(413, f"max_ndim exceeded: nesting deeper than {max_ndim}",
                          limit="max_ndim")
        level = [x for item in level for x in item]
        if n == 0:
            break
    for x in level:
        if isinstance(x, list):
            raise bad(f"expected sequence of length 0 at dim {len(shape)} (got {len(x)})")
    return tuple(shape), level


def from_nested(data, budget: Budget, dtype: str | None) -> np.ndarray:
    if not isinstance(data, (list, int, float, str)) or isinstance(data, str) and (
            data not in NONFINITE):
        raise bad(f"a tensor value must be a number or a nested list of numbers, got "
                  f"{type(data).__name__}")
    dtype = dtype or "float32"
    if type(data) is list and all(type(x) is float or type(x) is int for x in data):
        budget.elements((len(data),))  # the common case, a flat list of numbers: checked
        return _array(data, dtype, (len(data),))
    shape, flat = nested_shape(data, budget.settings.max_ndim)
    budget.elements(shape)
    for i, x in enumerate(flat):
        t = type(x)
        if t is float or t is int or t is bool:
            continue
        if t is str and x in NONFINITE:
            flat[i] = NONFINITE[x]
            continue
        raise bad(f"a tensor value must hold numbers (or \"NaN\", \"Infinity\", "
                  f"\"-Infinity\"), got {x!r:.40}")
    return _array(flat, dtype, shape)


def _array(flat: list, dtype: str, shape: tuple) -> np.ndarray:
    try:
        arr = np.array(flat, dtype=DTYPES[dtype])
        return arr if len(shape) == 1 else arr.reshape(shape)  # a flat list is made 1-d
    except (OverflowError, ValueError) as e:
        raise bad(f"cannot make a {dtype} tensor: {e}") from None


# --------------------------------------------------------------------------- encoding

class Encoder:
    """Response tensors in the request's encoding; binary ones queue their bytes in the
    order they are encoded, which must be the order they appear in the answer."""

    def __init__(self, encoding: str = "list", lazy: bool = False):
        self.encoding = encoding
        self.buffers: list = []  # binary: raw bytes; base64: base64 bytes or Base64Part
        # lazy: the answer reads the tensors as it is sent (views; base64 written by
        # Base64Part), which is right only when nothing can change them before then (a
        # workspace no session keeps). Otherwise each tensor is copied as it is encoded:
        # a session's next call may accumulate into the same .grad in place while this
        # answer is still being written, after the session's lock is released.
        self.lazy = lazy
        self._token = None

    def tensor(self, t) -> dict | None:
        if t is None:
            return None
        arr = np.asarray(getattr(t, "array", t))
        dtype = dtype_name(arr.dtype)
        head = {"shape": list(arr.shape), "dtype": dtype}
        if self.encoding == "list":
            data = to_list(arr)
            head["data"] = data if self.lazy or not isinstance(data, np.ndarray) else data.copy()
            return head
        raw = _bytes_view(arr)
        if self.encoding == "base64":
            # The base64 bytes are spliced into the JSON when the answer is written
            # (``json_parts``): never turned into a str, never copied by the JSON writer.
            if self._token is None:
                self._token = f"\x00b64-{uuid.uuid4().hex}-"
            head["b64"] = f"{self._token}{len(self.buffers)}"
            self.buffers.append(Base64Part(raw) if self.lazy else _b64encode(raw))
        else:
            head["binary_data_size"] = len(raw)
            self.buffers.append(raw if self.lazy else bytes(raw))
        return head

    def json_parts(self, payload, option: int) -> list:
        """The JSON answer as parts to send in order: base64 tensors are their own parts."""
        text = orjson.dumps(payload, option=option)
        if not self.buffers or self.encoding != "base64":
            return [text]
        # orjson writes the NUL of a placeholder as \u0000: find each quoted placeholder.
        mark = b'"' + orjson.dumps(self._token)[1:-1]
        found = []
        for k, b64 in enumerate(self.buffers):
            at = text.find(mark + str(k).encode() + b'"')
            if at < 0:
                raise RuntimeError("a base64 tensor is missing from the answer")
            found.append((at, len(mark) + len(str(k)) + 1, b64))
        parts, pos = [], 0
        for at, size, b64 in sorted(found, key=lambda f: f[0]):
            parts += [text[pos:at + 1], b64]  # keep the opening quote, drop the token
            pos = at + size - 1  # ... and keep the closing one
        parts.append(text[pos:])
        return parts


class Base64Part:
    """An answer part: the base64 text of ``raw``, written a slice at a time as it is sent
    (``slices``), so the 53 MB text of a 40 MB tensor is never made whole, and the
    encoding runs while the socket drains. ``bytes(part)`` makes it whole."""

    def __init__(self, raw: memoryview):
        self.raw = raw

    def __len__(self) -> int:
        return 4 * ((len(self.raw) + 2) // 3)

    def __bytes__(self) -> bytes:
        return _b64encode(self.raw)

    def slices(self, size: int):
        step = max(size // 4 * 3, 3)  # whole 3-byte groups: no padding but at the end
        for i in range(0, len(self.raw), step):
            yield _b64encode(self.raw[i:i + step])


SEND_BYTES = 1 << 20


def slices(part, size: int | None = None):
    """One answer part as pieces of at most ``size`` bytes, to send one after the other:
    a server's transport copies whatever the socket does not take at once, so one 40 MB
    write would be copied whole into its buffer; slices wait for the socket instead."""
    size = size or SEND_BYTES
    if isinstance(part, Base64Part):
        yield from part.slices(size)
        return
    if len(part) <= size:
        yield part
        return
    view = memoryview(part).cast("B")
    for i in range(0, len(view), size):
        yield view[i:i + size]


def join(parts: list) -> bytes:
    """The parts of an answer as one bytes object (an answer that is stored)."""
    return b"".join(bytes(p) if isinstance(p, Base64Part) else p for p in parts)


def render(payload, encoder: Encoder) -> dict:
    """The answer as it goes on the wire, joined: body bytes, media type, headers (what an
    Idempotency-Key keeps, so that a retry gets the same bytes)."""
    if encoder.encoding == "binary":
        parts, n = binary_parts(payload, encoder.buffers)
        return {"body": join(parts), "media_type": OCTET,
                "headers": {BINARY_HEADER: str(n)}}
    return {"body": join(encoder.json_parts(payload, JSON_OPTIONS)),
            "media_type": "application/json", "headers": {}}


def _bytes_view(arr: np.ndarray) -> memoryview:
    """Little-endian C-order bytes of ``arr`` as a flat byte memoryview (no copy when it
    already is)."""
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    return arr.reshape(-1).view(np.uint8).data


def to_list(arr: np.ndarray):
    """Nested lists, with non-finite floats as "NaN"/"Infinity"/"-Infinity"."""
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        out = arr.astype(object)
        out[np.isnan(arr)] = "NaN"
        out[arr == np.inf] = "Infinity"
        out[arr == -np.inf] = "-Infinity"
        return out.tolist()
    if arr.ndim == 0:
        return arr.item()
    return np.ascontiguousarray(arr)  # orjson writes arrays natively (OPT_SERIALIZE_NUMPY)
