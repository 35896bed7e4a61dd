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
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from . import wire
from .errors import Problem, limit

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class FastJSONResponse(JSONResponse):
    """JSON written by orjson (NumPy arrays natively); FastAPI's ORJSONResponse is
    deprecated, this is the same idea in five lines."""

    def render(self, content) -> bytes:
        return orjson.dumps(content, option=JSON_OPTIONS)


async def read_body(request: Request, max_bytes: int) -> bytes:
    coding = request.headers.get("content-encoding", "identity").strip().lower()
    if coding not in ("identity", ""):  # never inflated here: no zip bomb can expand
        raise Problem(415, f"Content-Encoding {coding!r} is not supported; send the body "
                      "uncompressed")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise limit("max_body_bytes", int(declared), max_bytes)
    chunks, size = [], 0
    timeout = request.app.state.settings.body_timeout_seconds
    try:
        async with asyncio.timeout(timeout):  # the whole body: a byte a second is no escape
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise limit("max_body_bytes", size, max_bytes)
                chunks.append(chunk)
    except ClientDisconnect:  # gone mid-body (a stalled client gave up): not our bug
        raise Problem(400, "the client disconnected before sending the whole body") from None
    except TimeoutError:
        raise Problem(408, f"the body did not arrive within body_timeout_seconds ({timeout:g} "
                      f"s; {size} bytes came) (setting AUTOGRAD_BODY_TIMEOUT_SECONDS)",
                      "body-timeout", limit="body_timeout_seconds") from None
    return b"".join(chunks)


async def parse(request: Request, model: type[BaseModel]):
    """The request body as ``model``: JSON, or the binary extension (JSON header, then raw
    tensors that become zero-copy views)."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    ctype = request.headers.get("content-type", "application/json").split(";")[0]
    ctype = ctype.strip().lower()
    try:
        if ctype == wire.OCTET:
            head, tail = wire.split_binary(body, request.headers.get(wire.BINARY_HEADER))
            obj = wire.attach_binary(orjson.loads(head), tail)
        elif ctype == "application/json" or ctype.endswith("+json") or not ctype:
            obj = orjson.loads(body)
        else:
            raise Problem(415, f"Content-Type {ctype!r} is not supported; send "
                          f"application/json or {wire.OCTET}")
    except orjson.JSONDecodeError as e:
        if "depth limit" in str(e):  # orjson >= 3.9 refuses nesting deeper than 1024
            raise Problem(413, "JSON nested deeper than the parser's limit of 1024 "
                          "levels") from None
        raise Problem(400, f"malformed JSON: {e}", "malformed-json") from None
    if not isinstance(obj, dict):
        raise Problem(422, "the body must be a JSON object")
    return model.model_validate(obj)


def respond(payload, encoder: wire.Encoder, status: int = 200) -> Response:
    if encoder.encoding == "binary":
        body, n = wire.pack_binary(payload, encoder.buffers)
        return Response(body, status, media_type=wire.OCTET,
                        headers={wire.BINARY_HEADER: str(n)})
    return Response(orjson.dumps(payload, option=JSON_OPTIONS), status,
                    media_type="application/json")


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


def body_doc(model: type[BaseModel]) -> dict:
    """openapi_extra for a route that reads its body itself (JSON or binary). The binary
    form is documented in the description and the x-binary-body extension, not as a second
    content type: client generators (openapi-python-client 0.29) emit code that fails to
    import for a request body with two content types."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    binary = (f"Also accepted as {wire.OCTET} (Open Inference Protocol binary extension): "
              f"the first {wire.BINARY_HEADER} bytes are the JSON request, raw tensors follow "
              "in order.")
    return {"requestBody": {"required": True, "description": binary,
                            "content": {"application/json": {"schema": ref}},
                            "x-binary-body": {"contentType": wire.OCTET,
                                              "header": wire.BINARY_HEADER}}}
