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

# NOTE [body sink]
Through plain ASGI a large body is copied three times on its way to the app's buffer (into
the cycle's bytearray as the parser hands it over, into a bytes per ``receive()`` message,
then by the app), and uvicorn pauses reading at every 64 KiB until the app's task has run to
take it: for 40 MB, ~160 pauses, task switches and receive messages. So the httptools
protocol offers each request the scope extension ``BODY_INTO``: the app calls it with a
writable buffer, what has come of the body so far is copied there, and every later piece
is written straight there as the parser hands it over, with no pause; ``receive()`` then
only reports the end of the body (or a disconnect), and the app reads the count off the
``BodySink``. Where the extension is missing (h11 after an Upgrade, an ASGI test client)
the app reads ``receive()`` messages as usual. Limits, the body timeout and the framing
checks stay the app's (bodies.read_body).
"""

from __future__ import annotations

import re
import weakref

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_UPGRADE = re.compile(rb"\r\nupgrade[ \t]*:", re.IGNORECASE)
# A head longer than this is fed to httptools as it comes (h11's own limit is 16 KiB).
MAX_SNIFFED_HEAD = 64 * 1024
BODY_INTO = "autograd.body_into"  # NOTE [body sink]


class BodySink:
    """The rest of one request's body, written into ``view`` as it comes (NOTE [body
    sink]): ``size`` bytes so far; ``overflow`` when more came than ``view`` holds (then
    the extra bytes are dropped); nothing more is written once ``closed``."""

    __slots__ = ("view", "size", "overflow", "closed")

    def __init__(self, view: memoryview):
        self.view, self.size, self.overflow, self.closed = view, 0, False, False

    def write(self, data) -> None:
        end = self.size + len(data)
        if end > len(self.view):
            self.overflow = True
            return
        self.view[self.size:end] = data
        self.size = end


class _BodyInto:
    """The ``BODY_INTO`` extension of one request's scope. It holds the protocol and the
    request's cycle weakly: the cycle holds the scope, and a strong reference back would
    make every request a reference cycle, left for the cyclic GC."""

    __slots__ = ("protocol", "cycle")

    def __init__(self, protocol: HttpToolsOrH11Protocol, cycle):
        self.protocol, self.cycle = weakref.ref(protocol), weakref.ref(cycle)

    def __call__(self, view: memoryview) -> BodySink:
        sink = BodySink(view)
        protocol, cycle = self.protocol(), self.cycle()
        if protocol is not None and cycle is not None:  # else gone: receive() says so
            protocol.body_into(cycle, sink)
        return sink


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
        self._sink = None  # (cycle, BodySink) while a request's body goes to a sink

    def on_message_begin(self) -> None:
        self._in_message = True
        self._sink = None
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # a request, not an upgrade
            self.scope.setdefault("extensions", {})[BODY_INTO] = _BodyInto(self, cycle)

    def body_into(self, cycle, sink: BodySink) -> None:
        """What has come of ``cycle``'s body into ``sink``, and the rest as it comes
        (NOTE [body sink])."""
        sink.write(cycle.body)  # what came before the app asked
        cycle.body = bytearray()  # receive() resumes reading if that had paused it
        if cycle.more_body and cycle is self.cycle:
            self._sink = (cycle, sink)

    def on_body(self, body: bytes) -> None:
        if self._sink is not None:
            cycle, sink = self._sink
            if cycle is self.cycle and not sink.closed and not cycle.response_complete:
                sink.write(body)  # no message, no pause: receive() waits for the end
                return
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        self._sink = None
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
        self._sink = None
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
