"""uvicorn's HTTP/1.1 protocol for the service: httptools (C, fast) for ordinary requests,
h11 for a request that carries an ``Upgrade`` header.

# NOTE [Upgrade: h2c]
The JDK's stock HttpClient (HTTP/2 by default) and ``curl --http2`` over plain http send
``Connection: Upgrade, HTTP2-Settings`` and ``Upgrade: h2c`` with every request they open
a connection with. llhttp (httptools) then ends the message at the headers and treats the
body as bytes of the new protocol: uvicorn answers the request with an empty body (a 400,
"zero-length document") and logs "Unsupported upgrade request" (uvicorn issue #2722). The
upgrade is optional (RFC 9110 section 7.8: a server may ignore it), and h11 does ignore it:
it reads the body by its Content-Length and uvicorn answers in HTTP/1.1, which both clients
accept. So the connection is handed to uvicorn's h11 protocol when a request's head has an
Upgrade header, before httptools sees it; every other request stays on httptools.
"""

from __future__ import annotations

import re

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_UPGRADE = re.compile(rb"\r\nupgrade[ \t]*:", re.IGNORECASE)
# A head longer than this is fed to httptools as it comes (h11's own limit is 16 KiB).
MAX_SNIFFED_HEAD = 64 * 1024


class _H11Protocol(H11Protocol):
    """h11, declining an Upgrade it does not serve without a warning per request: a Java
    client asks on every connection it opens (NOTE [Upgrade: h2c])."""

    def _unsupported_upgrade_warning(self) -> None:
        self.logger.debug("Upgrade declined: answered in HTTP/1.1")


class HttpToolsOrH11Protocol(HttpToolsProtocol):
    """httptools, except that a request whose head holds an Upgrade header moves the
    connection to h11 (NOTE [Upgrade: h2c]). Only a message's head is looked at, and only
    while no request of the connection is in flight, so pipelining is unchanged."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._in_message = False
        self._head = b""  # the start of a message whose head has not fully come yet

    def on_message_begin(self) -> None:
        self._in_message = True
        super().on_message_begin()

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._in_message or not self._idle():
            return super().data_received(data)
        if self._head:
            data, self._head = self._head + data, b""
        end = data.find(b"\r\n\r\n")
        if end < 0 and len(data) < MAX_SNIFFED_HEAD:
            self._unset_keepalive_if_required()
            self._head = data  # wait for the rest of the head
            return None
        if _UPGRADE.search(data, 0, end if end >= 0 else len(data)):
            return self._hand_to_h11(data)
        return super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._head = b""
        super().connection_lost(exc)

    def _idle(self) -> bool:
        return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    def _hand_to_h11(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        self.connections.discard(self)
        h11 = _H11Protocol(config=self.config, server_state=self.server_state,
                          app_state=self.app_state)
        h11.connection_made(self.transport)
        self.transport.set_protocol(h11)
        h11.data_received(data)
