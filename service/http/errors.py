"""Errors as RFC 9457 problem details (application/problem+json): the app's exception
handlers and the routes' documented error statuses.

A ``Problem`` (problems.py) is answered as it says; the engine's own exceptions, with
PyTorch's texts, get the status ``engine_status`` gives them.
"""

from __future__ import annotations

import contextvars
import logging

import orjson
import redis.exceptions as R
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from engine import errors as E

from ..problems import TYPES, Problem, engine_status

log = logging.getLogger("service")
# The id of the request being answered: set by the request-id middleware (quotas.py), read
# by every answer and log line, and here by the 500 handler, which runs outside it.
REQUEST_ID = contextvars.ContextVar("request_id", default=None)

PROBLEM = "application/problem+json"
_TITLES = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout",
           409: "Conflict", 413: "Content Too Large",
           415: "Unsupported Media Type", 422: "Unprocessable Content",
           429: "Too Many Requests", 500: "Internal Server Error",
           503: "Service Unavailable"}


def problem_response(status: int, detail: str, kind: str | None = None, headers=None,
                     **extra) -> Response:
    body = {"type": f"/problems/{kind or TYPES.get(status, 'error')}",
            "title": _TITLES.get(status, "Error"), "status": status, "detail": detail, **extra}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM,
                    headers=headers)


def _validation_detail(errors) -> str:
    parts = []
    for e in errors[:10]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {e.get('msg')}")
    return "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 408:  # the rest of the body is unread: the connection must end
            headers = {"Connection": "close"}
        if exc.status in (429, 503):  # a client may retry: say when
            headers = {"Retry-After": str(exc.extra.get("retry_after", 1))}
        return problem_response(exc.status, exc.detail, exc.kind, headers, **exc.extra)

    @app.exception_handler(E.AutogradError)
    async def _engine(request: Request, exc: E.AutogradError):
        return problem_response(engine_status(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError):
        return problem_response(422, _validation_detail(exc.errors()))

    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: ValidationError):
        return problem_response(422, _validation_detail(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return problem_response(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(R.RedisError)
    async def _store_down(request: Request, exc: Exception):
        """The shared store is unreachable, restarting or full: a 503 the client may
        retry (nothing was committed to the session), not a 500."""
        full = isinstance(exc, getattr(R, "OutOfMemoryError", ())) or (
            isinstance(exc, R.ResponseError) and "maxmemory" in str(exc))
        down = (R.ConnectionError, R.TimeoutError, R.ClusterDownError, R.TryAgainError)
        if not (full or isinstance(exc, down)):
            return await _crash(request, exc)
        log.warning("session store unavailable on %s %s: %s", request.method,
                    request.url.path, type(exc).__name__)
        what = "full (maxmemory)" if full else "unreachable"
        return problem_response(503, f"the session store is {what}; retry later",
                                "store-unavailable", headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        rid = REQUEST_ID.get()  # outside the middlewares: add the id here
        return problem_response(500, "internal error; the server logged it",
                                headers={"X-Request-ID": rid} if rid else None)


def responses(*statuses: int) -> dict:
    """OpenAPI ``responses`` entries for a route's error statuses."""
    out = {}
    for s in statuses:
        out[s] = {"description": DOCS[s],
                  "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        if s in (429, 503):
            out[s]["headers"] = RETRY_AFTER
    return out


DOCS = {400: "Malformed body", 401: "Missing or wrong API key (when keys are configured)",
        404: "Unknown, expired or another key's session",
        406: "SVG asked for, but Graphviz's dot is not installed on the server",
        409: "Backward through a freed graph, or a saved tensor modified in place",
        413: "Over a size limit (the detail names it)",
        415: "Unsupported Content-Type or Content-Encoding",
        422: "Invalid request or PyTorch refused it (detail is PyTorch's message)",
        429: "Session capacity or a per-key quota exhausted (Retry-After says when to retry)",
        503: "The session store is unreachable, restarting or full: nothing was committed; "
             "retry after Retry-After seconds"}
STORE = 503  # every route that reads or writes the session store may answer it
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                               "schema": {"type": "integer", "minimum": 1}}}
