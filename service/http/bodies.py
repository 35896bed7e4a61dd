"""HTTP plumbing shared by the routes: bodies in (JSON or binary, size-capped), answers
out (orjson or binary), API keys."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from ..problems import Problem, limit
from ..wire import buffers, codec
from .protocol import BODY_INTO


class FastJSONResponse(JSONResponse):
    """JSON written by orjson (NumPy arrays natively); FastAPI's ORJSONResponse is
    deprecated, this is the same idea in five lines."""

    def render(self, content) -> bytes:
        return orjson.dumps(content, option=codec.JSON_OPTIONS)


async def read_body(request: Request, max_bytes: int, align_at: int = 0):
    """The body, whole: bytes, or for one that declares at least ``buffers.HUGE_BYTES``
    a ``buffers.buffer`` of its Content-Length, filled as the chunks come (no list of
    chunks to join: one copy, into memory that is cheap to fill; under our uvicorn
    protocol the parser writes them there itself, NOTE [body sink]). There the byte at
    ``align_at`` (a binary body's first tensor byte) lands 64-byte aligned, as NumPy's own
    arrays are: its SIMD loops are ~20% slower on a float32 array at an odd address."""
    coding = request.headers.get("content-encoding", "identity").strip().lower()
    if coding not in ("identity", ""):  # never inflated here: no zip bomb can expand
        raise Problem(415, f"Content-Encoding {coding!r} is not supported; send the body "
                      "uncompressed")
    declared = request.headers.get("content-length")
    declared = int(declared) if declared is not None and declared.isdigit() else None
    if declared is not None and declared > max_bytes:
        raise limit("max_body_bytes", declared, max_bytes)
    pad = (-align_at) % 64 if 0 <= align_at <= (declared or 0) else 0
    whole = (buffers.buffer(pad + declared) if declared is not None and
             declared >= buffers.HUGE_BYTES else None)
    into = request.scope.get("extensions", {}).get(BODY_INTO) if whole is not None else None
    sink = into(memoryview(whole)[pad:]) if into is not None else None
    chunks, size = [], 0
    timeout = request.app.state.settings.body_timeout_seconds
    try:
        async with asyncio.timeout(timeout):  # the whole body: a byte a second is no escape
            async for chunk in request.stream():
                end = size + len(chunk)
                if whole is None:
                    if end > max_bytes:
                        raise limit("max_body_bytes", end, max_bytes)
                    chunks.append(chunk)
                elif sink is not None:  # the sink's pieces come first: it takes this after
                    sink.write(chunk)
                elif end > declared:  # the HTTP parser frames by Content-Length: not seen
                    raise Problem(400, f"the body is longer than its Content-Length "
                                  f"({declared} bytes)")
                else:
                    whole[pad + size:pad + end] = chunk
                size = end
    except ClientDisconnect:  # gone mid-body (a stalled client gave up): not our bug
        raise Problem(400, "the client disconnected before sending the whole body") from None
    except TimeoutError:
        came = sink.size if sink is not None else size
        raise Problem(408, f"the body did not arrive within body_timeout_seconds ({timeout:g} "
                      f"s; {came} bytes came) (setting AUTOGRAD_BODY_TIMEOUT_SECONDS)",
                      "body-timeout", limit="body_timeout_seconds") from None
    finally:
        if sink is not None:
            sink.closed = True
    if whole is None:
        return b"".join(chunks)
    if sink is not None:
        if sink.overflow:  # as above: the parser frames by Content-Length
            raise Problem(400, f"the body is longer than its Content-Length ({declared} "
                          "bytes)")
        size = sink.size
    if size != declared:
        raise Problem(400, f"the body ended after {size} of the {declared} bytes its "
                      "Content-Length declares")
    return memoryview(whole)[pad:] if pad else whole


# Bodies above this are parsed in a worker thread: parsing and base64-decoding 50 MB takes
# tens of milliseconds that would otherwise stall every other request on the event loop.
THREAD_PARSE_BYTES = 1 << 20


async def parse(request: Request, model: type[BaseModel] | None, lenient: bool = False):
    """The request body as ``model`` (None: the decoded JSON value): JSON, or the binary
    extension (JSON header, then raw tensors that become zero-copy views). Base64 tensors
    are decoded here, once. ``lenient``: any Content-Type but the binary one is JSON."""
    ctype = request.headers.get("content-type", "application/json").split(";")[0]
    ctype = ctype.strip().lower()
    if lenient and ctype != codec.OCTET:
        ctype = "application/json"
    header = request.headers.get(codec.BINARY_HEADER)
    tensors_at = (int(header) if ctype == codec.OCTET and header and len(header) < 19 and
                  header.isascii() and header.isdigit() else 0)  # split_binary checks it
    body = await read_body(request, request.app.state.settings.max_body_bytes, tensors_at)
    request.state.body_bytes = len(body)
    if len(body) > THREAD_PARSE_BYTES:
        return await run_in_threadpool(decode_body, body, ctype, header, model)
    return decode_body(body, ctype, header, model)


def decode_body(body: bytes, ctype: str, header: str | None, model: type[BaseModel] | None):
    try:
        if ctype == codec.OCTET:
            head, tail = codec.split_binary(body, header)
            obj = codec.attach_binary(orjson.loads(head), tail)
            b64 = b'"b64"' in head
        elif ctype == "application/json" or ctype.endswith("+json") or not ctype:
            b64 = body.find(b'"b64"') >= 0  # not ``in``: mmap's walks the sequence
            lifted = codec.loads_lifting_b64(body) if b64 and len(body) > 4 * codec.LIFT_BYTES \
                else None
            if lifted is not None:
                obj = lifted  # its long base64 tensors are decoded already
            else:
                obj = orjson.loads(buffers.json_input(body))
        else:
            raise Problem(415, f"Content-Type {ctype!r} is not supported; send "
                          f"application/json or {codec.OCTET}")
    except orjson.JSONDecodeError as e:
        if "depth limit" in str(e):  # orjson >= 3.9 refuses nesting deeper than 1024
            raise Problem(413, "JSON nested deeper than the parser's limit of 1024 "
                          "levels") from None
        raise Problem(400, f"malformed JSON: {e}", "malformed-json") from None
    if model is None:
        if b64 and isinstance(obj, dict | list):
            obj = codec.decode_b64_tensors([obj])[0]
        return obj
    if not isinstance(obj, dict):
        raise Problem(422, "the body must be a JSON object")
    if b64:
        codec.decode_b64_tensors(obj)
    return model.model_validate(obj)


class PartsResponse(Response):
    """A body sent as its parts, in slices of at most ``codec.SEND_BYTES``, one ASGI message
    each: a large tensor's bytes go to the socket as they are, never joined into one more
    copy of the answer, and never copied whole into the server's write buffer (each
    message waits for the socket to drain the previous one)."""

    def __init__(self, parts: list, status_code: int, media_type: str, headers=None):
        self.parts = parts
        super().__init__(None, status_code, headers, media_type)
        self.headers["content-length"] = str(sum(len(p) for p in parts))

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        for part in self.parts:
            for piece in codec.slices(part):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def respond(payload, encoder: codec.Encoder, status: int = 200) -> Response:
    if encoder.encoding == "binary":
        parts, n = codec.binary_parts(payload, encoder.buffers)
        if len(parts) == 1:
            return Response(parts[0], status, media_type=codec.OCTET,
                            headers={codec.BINARY_HEADER: str(n)})
        return PartsResponse(parts, status, codec.OCTET, {codec.BINARY_HEADER: str(n)})
    parts = encoder.json_parts(payload, codec.JSON_OPTIONS)
    if len(parts) == 1:
        return Response(parts[0], status, media_type="application/json")
    return PartsResponse(parts, status, "application/json")


def send(answer: dict, status: int = 200) -> Response:
    return Response(answer["body"], status, media_type=answer["media_type"],
                    headers=answer["headers"] or None)


async def owner(request: Request) -> str:
    """FastAPI dependency: the caller's key fingerprint ('' when no keys are configured);
    401 for a missing or wrong key. Keys are compared in constant time. Async because it
    never blocks: a sync dependency costs a thread-pool hop on every request."""
    keys = request.app.state.settings.api_keys
    if not keys:
        request.app.state.rate.take("")  # no keys: one bucket for everyone
        return ""
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if given is None and auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    if not given:
        raise Problem(401, "an API key is required (X-API-Key header or Authorization: "
                      "Bearer)")
    ok = False
    for k in keys:  # no early exit: timing says nothing about which key matched
        ok |= hmac.compare_digest(given.encode(), k.encode())
    if not ok:
        raise Problem(401, "wrong API key")
    fingerprint = hashlib.sha256(given.encode()).hexdigest()
    request.app.state.rate.take(fingerprint)
    return fingerprint


def tensor_body_doc() -> dict:
    """openapi_extra for a body that is one tensor value (JSON, or the binary extension:
    documented as for ``body_doc``, one content type)."""
    return {"requestBody": {"required": True, "description": (
        f"A tensor value. Also accepted as {codec.OCTET}: the first {codec.BINARY_HEADER} "
        "bytes are the JSON {\"dtype\", \"shape\", \"binary_data_size\"}, the raw bytes "
        "follow: #/components/requestBodies/BinaryRequest."),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TensorValue"}}}}}


def body_doc(model: type[BaseModel]) -> dict:
    """openapi_extra for a route that reads its body itself: JSON, or the binary extension
    (NOTE [binary bodies in the contract] in contract.py)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    binary = (f"Also accepted as {codec.OCTET} (Open Inference Protocol binary extension): "
              f"the first {codec.BINARY_HEADER} bytes are the JSON request, raw tensors follow "
              "in order: #/components/requestBodies/BinaryRequest.")
    return {"requestBody": {"required": True, "description": binary,
                            "content": {"application/json": {"schema": ref}}}}
