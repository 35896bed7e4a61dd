"""Large bodies: read into one buffer of their Content-Length (in any number of chunks),
base64 decoded a slice at a time, answers sent in slices (base64 written as it is sent),
digests for graph_hash made beside the engine, and the Python SDK's parts and buffered
reads. Each gives the plain path's answer; malformed framing is a clear 4xx, never a 500.
No timings here (speed lives in benchmarks/)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import socket
import sys
import urllib.parse
import weakref
from concurrent.futures import Future
from pathlib import Path

import httpx
import numpy as np
import pybase64
import pytest
from fastapi.testclient import TestClient
from support.service_server import running_server
from uvicorn.config import Config
from uvicorn.server import ServerState

from service.http.app import create_app
from service.http.protocol import BODY_INTO, BodySink, HttpToolsOrH11Protocol
from service.problems import Problem
from service.run import content
from service.settings import Settings
from service.wire import buffers, codec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "clients" / "python"))
import autograd_client as sdk  # noqa: E402

N = 300_000  # 1.2 MB of float32: above buffers.HUGE_BYTES and the background digest
X = np.linspace(-3, 3, N, dtype=np.float32)
NODES = [{"id": "s", "op": "sin", "args": ["x"]}, {"id": "q", "op": "mul", "args": ["s", "x"]},
         {"id": "out", "op": "sum", "args": ["q"]}]
WANT = np.cos(X) * X + np.sin(X)  # d/dx sum(sin(x) * x)


@pytest.fixture(scope="module")
def api():
    with TestClient(create_app(Settings(_env_file=None))) as client:
        yield client


def graph(data) -> list:
    return [{"id": "x", "op": "tensor", "data": data, "requires_grad": True}, *NODES]


def binary_body(arr=X, encoding="binary") -> tuple[bytes, dict]:
    head = json.dumps({"graph": {"nodes": graph({"dtype": "float32", "shape": list(arr.shape),
                                                 "binary_data_size": arr.nbytes})},
                       "tensors": "out", "encoding": encoding}).encode()
    return head + arr.tobytes(), {"content-type": codec.OCTET,
                                  codec.BINARY_HEADER: str(len(head))}


def b64(arr) -> dict:
    return {"dtype": "float32", "shape": list(arr.shape),
            "b64": base64.b64encode(arr.tobytes()).decode()}


def grad_of(r) -> np.ndarray:
    """x's gradient from a binary or base64 answer."""
    assert r.status_code == 200, r.text[:500]
    if r.headers["content-type"] == codec.OCTET:
        n = int(r.headers[codec.BINARY_HEADER])
        return np.frombuffer(r.content[n:], "<f4")
    return np.frombuffer(base64.b64decode(r.json()["grads"]["x"]["b64"]), "<f4")


# --------------------------------------------------------------------------- ASGI by hand

def asgi_post(app, body_chunks: list[bytes], headers: dict, path="/backward",
              sink_pieces: tuple | None = None):
    """POST straight to the ASGI app, the body in exactly these messages: (status, headers,
    body) of the answer. ``sink_pieces`` (came before the app asked, came after): offer the
    BODY_INTO extension as our uvicorn protocol does, the body written by it in those."""
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in body_chunks]
    messages.append({"type": "http.request", "body": b"", "more_body": False})
    extensions = {}
    if sink_pieces is not None:
        early, late = sink_pieces

        def into(view):
            sink = BodySink(view)
            for piece in early:
                sink.write(piece)
            messages.insert(0, {"type": "http.request", "body": b"", "more_body": True})
            messages[1:1] = [{"type": "write", "pieces": late, "sink": sink}]
            return sink

        extensions[BODY_INTO] = into
    scope = {"extensions": extensions, "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    sent = []

    async def receive():
        while messages and messages[0]["type"] == "write":  # the protocol at work
            done = messages.pop(0)
            for piece in done["pieces"]:
                done["sink"].write(piece)
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # the client stays connected

    async def send(message):
        sent.append(message)

    async def main():
        await app(scope, receive, send)

    asyncio.run(main())
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(bytes(m.get("body", b"")) for m in sent if m["type"] == "http.response.body")
    return start["status"], dict((k.decode(), v.decode()) for k, v in start["headers"]), body


@pytest.fixture(scope="module")
def app():
    return create_app(Settings(_env_file=None))


@pytest.mark.parametrize("piece", [1000, 65536, 1 << 20])
def test_binary_body_in_many_chunks(app, piece):
    body, headers = binary_body()
    chunks = [body[i:i + piece] for i in range(0, len(body), piece)]
    status, got_headers, answer = asgi_post(app, chunks, {**headers,
                                                          "content-length": str(len(body))})
    assert status == 200, answer[:300]
    n = int(got_headers[codec.BINARY_HEADER.lower()])
    np.testing.assert_allclose(np.frombuffer(answer[n:], "<f4"), WANT, rtol=1e-5, atol=1e-5)


def test_small_huge_threshold_reads_into_a_buffer(app, monkeypatch):
    """The buffered read with a tiny threshold, so small JSON bodies take it too."""
    monkeypatch.setattr(buffers, "HUGE_BYTES", 64)
    body = json.dumps({"graph": {"nodes": graph([1.0, 2.0])}, "tensors": "out"}).encode()
    chunks = [body[i:i + 7] for i in range(0, len(body), 7)]
    status, _, answer = asgi_post(app, chunks, {"content-type": "application/json",
                                                "content-length": str(len(body))})
    assert status == 200, answer
    x = np.array([1.0, 2.0], np.float32)
    np.testing.assert_allclose(json.loads(answer)["grads"]["x"]["data"],
                               np.cos(x) * x + np.sin(x), rtol=1e-5)


@pytest.mark.parametrize("sent, words", [((2 << 20) + 10, "longer than its Content-Length"),
                                         ((2 << 20) - 10, "ended after")])
def test_content_length_mismatch_is_400(app, sent, words):
    """An ASGI server frames by Content-Length, so this is never seen through uvicorn; an
    app that is handed more or less than declared still answers 400, not 500."""
    declared = 2 << 20
    body, headers = binary_body()
    body = body.ljust(sent, b"\0")[:sent]
    status, _, answer = asgi_post(app, [body[i:i + 65536] for i in range(0, len(body), 65536)],
                                  {**headers, "content-length": str(declared)})
    assert status == 400, answer[:300]
    assert words in json.loads(answer)["detail"]


def pieces(body: bytes, size: int) -> list[bytes]:
    return [body[i:i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("early", [0, 1000, 300_000])
def test_body_written_by_the_protocol_into_the_buffer(app, early):
    """Through the BODY_INTO extension (NOTE [body sink]): what came before the app asked,
    then the rest written by the protocol, and no receive() message holds body bytes."""
    body, headers = binary_body()
    status, got_headers, answer = asgi_post(
        app, [], {**headers, "content-length": str(len(body))},
        sink_pieces=(pieces(body[:early], 4096), pieces(body[early:], 65536)))
    assert status == 200, answer[:300]
    n = int(got_headers[codec.BINARY_HEADER.lower()])
    np.testing.assert_allclose(np.frombuffer(answer[n:], "<f4"), WANT, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sent, words", [((2 << 20) + 10, "longer than its Content-Length"),
                                         ((2 << 20) - 10, "ended after")])
def test_content_length_mismatch_in_the_sink_is_400(app, sent, words):
    declared = 2 << 20
    body, headers = binary_body()
    body = body.ljust(sent, b"\0")[:sent]
    status, _, answer = asgi_post(app, [], {**headers, "content-length": str(declared)},
                                  sink_pieces=(pieces(body[:5000], 5000),
                                               pieces(body[5000:], 65536)))
    assert status == 400, answer[:300]
    assert words in json.loads(answer)["detail"]


class _Transport(asyncio.Transport):
    """What uvicorn's protocol writes to, kept; reading is never really paused here."""

    def __init__(self):
        super().__init__()
        self.out, self.closed = bytearray(), False

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name,
                                                                                     default)

    def write(self, data):
        self.out += data

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


def test_protocol_writes_the_body_into_the_app_buffer():
    """Our uvicorn protocol driven by hand (NOTE [body sink]): the bytes that came with the
    head, before the app asked, and the pieces after land in the app's buffer; no receive()
    message carries body bytes; and the request leaves no reference cycle behind (its cycle
    is freed with the cyclic GC off)."""
    body = bytes(range(256)) * 4096 + b"end"
    seen = {}

    async def app(scope, receive, send):
        buf = bytearray(len(body))
        sink = scope["extensions"][BODY_INTO](memoryview(buf))
        carried = []
        while True:
            message = await receive()
            carried.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        seen.update(buf=bytes(buf), size=sink.size, carried=carried)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main():
        protocol = HttpToolsOrH11Protocol(config=Config(app=app, lifespan="off"),
                                          server_state=ServerState(), app_state={})
        transport = _Transport()
        protocol.connection_made(transport)
        protocol.data_received(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}"
                               "\r\n\r\n".encode() + body[:100_000])
        await asyncio.sleep(0)
        for i in range(100_000, len(body), 65536):
            protocol.data_received(body[i:i + 65536])
            await asyncio.sleep(0)
        for _ in range(5):
            await asyncio.sleep(0)
        assert transport.out.startswith(b"HTTP/1.1 200") and transport.out.endswith(b"ok")
        cycle = weakref.ref(protocol.cycle)
        protocol.connection_lost(None)
        del protocol, transport
        gc.disable()
        try:
            assert cycle() is None
        finally:
            gc.enable()

    asyncio.run(main())
    assert seen["buf"] == body and seen["size"] == len(body)
    assert seen["carried"] == [0] * len(seen["carried"])


def test_live_server_stalled_large_body_is_408_counting_what_came():
    """A body above buffers.HUGE_BYTES, written by the protocol straight into the buffer,
    that stops coming: a 408 once the body timeout has passed, counting the bytes that
    came (the sink's count), and the server answers the next request."""
    body, headers = binary_body()
    sent = 700_001
    with running_server({"AUTOGRAD_BODY_TIMEOUT_SECONDS": "1"}) as url:
        u = urllib.parse.urlsplit(url)
        with socket.create_connection((u.hostname, u.port)) as s:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            s.sendall(f"POST /backward HTTP/1.1\r\nHost: x\r\n{head}Content-Length: "
                      f"{len(body)}\r\n\r\n".encode() + body[:sent])
            s.settimeout(10)
            answer = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := s.recv(1 << 16):
                    answer += chunk
        top, _, problem = answer.partition(b"\r\n\r\n")
        assert top.startswith(b"HTTP/1.1 408"), answer[:300]
        assert f"{sent} bytes came" in json.loads(problem)["detail"]
        r = httpx.post(url + "/backward", content=body, headers=headers, timeout=30)
        n = int(r.headers[codec.BINARY_HEADER])
        np.testing.assert_allclose(np.frombuffer(r.content[n:], "<f4"), WANT, rtol=1e-5,
                                   atol=1e-5)


def test_truncated_binary_part_is_422(api):
    body, headers = binary_body()
    r = api.post("/backward", content=body[:-1000], headers=headers)
    assert r.status_code == 422
    assert "binary_data_size" in r.json()["detail"]
    r = api.post("/backward", content=body + b"\0" * 8, headers=headers)
    assert r.status_code == 422
    assert "the binary part has" in r.json()["detail"]


def test_body_over_the_limit_is_413_before_reading():
    app = create_app(Settings(_env_file=None, max_body_bytes=2 << 20))
    body, headers = binary_body(np.zeros(600_000, np.float32))
    status, _, answer = asgi_post(app, [body], {**headers, "content-length": str(len(body))})
    assert status == 413 and b"max_body_bytes" in answer


def test_live_server_body_in_small_sends():
    """Through uvicorn (its HTTP parser, its flow control), sent 1000 bytes at a time."""
    body, headers = binary_body()
    with running_server() as url:
        u = urllib.parse.urlsplit(url)
        with socket.create_connection((u.hostname, u.port)) as s:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            s.sendall(f"POST /backward HTTP/1.1\r\nHost: x\r\n{head}Content-Length: "
                      f"{len(body)}\r\nConnection: close\r\n\r\n".encode())
            for i in range(0, len(body), 1000):
                s.sendall(body[i:i + 1000])
            answer = b""
            while chunk := s.recv(1 << 16):
                answer += chunk
    top, _, payload = answer.partition(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 200"), top
    fields = dict(line.split(": ", 1) for line in top.decode().split("\r\n")[1:])
    fields = {k.lower(): v for k, v in fields.items()}
    n = int(fields[codec.BINARY_HEADER.lower()])
    np.testing.assert_allclose(np.frombuffer(payload[n:], "<f4"), WANT, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- base64

def test_long_base64_decoded_in_slices_is_exact(monkeypatch):
    monkeypatch.setattr(codec, "B64_SLICE", 8)
    for raw in (b"", b"a", b"ab", b"abc", bytes(range(256)) * 3, bytes(range(200))[:199]):
        text = pybase64.b64encode(raw)
        for given in (text, text.decode(), memoryview(text)):
            got = codec._b64decode(given)
            assert bytes(got) == raw and got.readonly
    for text in ("QUJDQUJDQQ==QUJDQUJD",  # padding inside, at a slice's end
                 "QUJDQUJDQUJDQUJDQUJ",  # not a multiple of 4
                 "QUJDQUJDQUJDQU*DQUJD",  # not the alphabet
                 "QUJDQUJDQUJDQUJDQUJ\n"):
        with pytest.raises(Problem) as e:
            codec._b64decode(text)
        assert e.value.status == 422 and "not valid base64" in e.value.detail


def test_base64_answer_written_as_sent_equals_the_whole(monkeypatch):
    monkeypatch.setattr(codec, "SEND_BYTES", 8)
    raw = memoryview(bytes(range(256)) * 5)
    for n in (0, 1, 2, 3, 4, 5, 6, 100, len(raw)):
        part = codec.Base64Part(raw[:n])
        pieces = list(codec.slices(part))
        assert b"".join(pieces) == bytes(part) == pybase64.b64encode(raw[:n])
        assert len(part) == len(bytes(part))
        assert all(len(p) <= 8 for p in pieces)
    assert b"".join(codec.slices(raw, 7)) == bytes(raw)


def test_large_answers_in_slices_equal_plain(api, monkeypatch):
    """Binary and base64 answers in many slices; base64 written as sent (no session) and
    written whole (in a session) give the same bytes; graph_hash is the same for the tensor
    sent as binary, base64 and a list."""
    monkeypatch.setattr(codec, "SEND_BYTES", 4096)
    body, headers = binary_body()
    rb = api.post("/backward", content=body, headers=headers)
    np.testing.assert_allclose(grad_of(rb), WANT, rtol=1e-5, atol=1e-5)
    call = {"graph": {"nodes": graph(b64(X))}, "tensors": "out", "encoding": "base64"}
    r64 = api.post("/backward", json=call)
    kept = api.post("/backward", json={**call, "retain_graph": True})
    assert kept.json()["session"]["id"]
    assert kept.json()["grads"]["x"]["b64"] == r64.json()["grads"]["x"]["b64"]
    np.testing.assert_array_equal(grad_of(r64), grad_of(rb))
    listed = api.post("/backward", json={**call, "graph": {"nodes": graph(X.tolist())}})
    n = int(rb.headers[codec.BINARY_HEADER])
    hashes = {json.loads(rb.content[:n])["graph_hash"], r64.json()["graph_hash"],
              kept.json()["graph_hash"], listed.json()["graph_hash"]}
    assert len(hashes) == 1


def test_background_digest_only_for_large_read_only_arrays():
    big = np.frombuffer(X.tobytes(), np.float32)  # read-only, as a request's tensor is
    soon = content.summary_soon(big)
    assert isinstance(soon, Future)
    assert content.resolved(soon) == content.summary(big)
    assert isinstance(content.summary_soon(X), dict)  # writable: hashed at once
    assert isinstance(content.summary_soon(big[:10]), dict)  # small: not worth a thread


# --------------------------------------------------------------------------- the SDK

def test_sdk_sends_parts_and_reads_into_one_buffer(api):
    body, headers = sdk.encode({"graph": {"nodes": graph(sdk.Raw(X))}, "tensors": "out",
                                "encoding": "binary"})
    assert isinstance(body, list) and all(len(p) <= sdk._wire.SEND_BYTES for p in body)
    assert int(headers["Content-Length"]) == sum(len(p) for p in body)
    with api.stream("POST", "/backward", content=body, headers=headers) as r:
        raw = sdk.read_answer(r)
        assert isinstance(raw, memoryview)
        answer = sdk.decode(r.status_code, r.headers, raw)
    g = answer["grads"]["x"]
    assert g.flags.writeable  # a view of the buffer, the answer's own
    np.testing.assert_allclose(g, WANT, rtol=1e-5, atol=1e-5)
    with api.stream("POST", "/backward", json={"graph": {"nodes": graph([1.0])},
                                               "tensors": "nope"}) as r:
        with pytest.raises(sdk.APIError):
            sdk.decode(r.status_code, r.headers, sdk.read_answer(r))


def test_sdk_decodes_long_base64_from_the_answer_bytes(api, monkeypatch):
    """A long base64 answer is decoded from the answer's bytes (no str of it), into a
    writable array equal to what the plain JSON path gives; with or without pybase64."""
    with api.stream("POST", "/backward", json={"graph": {"nodes": graph(b64(X))},
                                               "tensors": "out", "encoding": "base64"}) as r:
        raw = sdk.read_answer(r)
        headers = r.headers
    assert sdk._wire._lift_b64(raw) is not None  # the fast path is the one taken
    plain = json.loads(bytes(raw))["grads"]["x"]
    want = np.frombuffer(base64.b64decode(plain["b64"]), np.float32).reshape(plain["shape"])
    for b64lib in (sdk._wire.pybase64, None):
        monkeypatch.setattr(sdk._wire, "pybase64", b64lib)
        g = sdk.decode(200, headers, raw)["grads"]["x"]
        assert g.flags.writeable and g.dtype == np.float32
        np.testing.assert_array_equal(g, want)
    np.testing.assert_allclose(g, WANT, rtol=1e-5, atol=1e-5)


def test_sdk_lifts_only_tensor_base64():
    """A long "b64" that is not a tensor's comes back as the text it is; a corrupt one is
    an error, never other bytes."""
    long = base64.b64encode(X.tobytes()).decode()
    headers = {"content-type": "application/json"}
    other = json.dumps({"note": {"b64": long}, "t": b64(X[:3])}).encode() + b" " * (1 << 20)
    got = sdk.decode(200, headers, other)
    assert got["note"]["b64"] == long
    np.testing.assert_array_equal(got["t"], X[:3])
    bad = json.dumps({"t": {"dtype": "float32", "shape": [N], "b64": long[:-8] + "!!!!!!!!"}})
    with pytest.raises(ValueError):
        sdk.decode(200, headers, bad.encode())


@pytest.mark.parametrize("head_pad", [0, 1, 3, 37])
def test_binary_tensors_land_aligned(api, head_pad):
    """A binary body's tensors become arrays at 64-byte aligned addresses whatever the
    JSON head's length (NumPy's SIMD loops are slower on unaligned float32), and the
    SDK's buffered binary answers likewise; the gradient is the plain path's."""
    head = json.dumps({"graph": {"nodes": graph({"dtype": "float32", "shape": [N],
                                                 "binary_data_size": X.nbytes})},
                       "tensors": "out", "encoding": "binary", "retain_graph": True}).encode()
    head += b" " * head_pad  # JSON may end in spaces: any length of head
    body = head + X.tobytes()
    headers = {"content-type": codec.OCTET, codec.BINARY_HEADER: str(len(head))}
    with api.stream("POST", "/backward", content=body, headers=headers) as r:
        assert r.status_code == 200
        answer = sdk.decode(r.status_code, r.headers, sdk.read_answer(r))
    g = answer["grads"]["x"]
    assert g.ctypes.data % 64 == 0
    np.testing.assert_allclose(g, WANT, rtol=1e-5, atol=1e-5)
    store = api.app.state.store
    session = (store._sessions if hasattr(store, "_sessions") else store._live)[
        answer["session"]["id"]]
    x = session.ws.names["x"].array
    assert not x.flags.writeable and x.ctypes.data % 64 == 0
    np.testing.assert_array_equal(x, X)
