"""The errors every layer raises: a ``Problem`` is answered as RFC 9457 problem details
(the HTTP layer renders it, http/errors.py); engine errors keep PyTorch's texts and get
their status here, once, so no route chooses a status for an engine error itself."""

from __future__ import annotations

from engine import errors as E

# The ``type`` of a problem by status, where the call does not name one.
TYPES = {401: "unauthorized", 404: "not-found", 409: "graph-conflict", 413: "limit-exceeded",
         422: "invalid-request", 429: "capacity-exceeded", 500: "internal-error"}


class Problem(Exception):
    """An error the service answers as problem+json. ``kind`` becomes the ``type`` URI."""

    def __init__(self, status: int, detail: str, kind: str | None = None, **extra):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra
        self.kind = kind or TYPES.get(status, "error")


def limit(name: str, value, allowed) -> Problem:
    """413 naming the setting that was exceeded (AUTOGRAD_<NAME>)."""
    return Problem(413, f"{name} exceeded: {value} > {allowed} "
                   f"(setting AUTOGRAD_{name.upper()})", "limit-exceeded", limit=name)


def bad(detail: str) -> Problem:
    return Problem(422, detail, "invalid-request")


def engine_status(exc: Exception) -> int:
    if isinstance(exc, (E.GraphFreedError, E.InplaceError)):
        return 409
    return 422
