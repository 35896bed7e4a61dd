"""autograd-client: torch.autograd over HTTP, with torch-like remote tensors.

    import autograd_client
    with autograd_client.connect("http://127.0.0.1:8000") as torch:
        x = torch.tensor([1., 2., 3.], requires_grad=True)
        y = (x ** 2).sum()
        y.backward()          # one request
        print(x.grad)         # tensor([2., 4., 6.])

Operators build the graph lazily; ``backward``/``autograd.grad`` send it with the
computation in one request. ``autograd_client.aio.connect`` is the asyncio twin.
"""

from __future__ import annotations

import httpx

from ._core import BaseSession, Call, GraphPicture, Node, Tensor, dtype
from ._wire import APIError, Raw, aread_answer, decode, encode, read_answer

__all__ = ["APIError", "GraphPicture", "Node", "Raw", "Session", "Tensor", "aread_answer", "connect", "decode", "dtype",
           "encode", "read_answer"]
__version__ = "0.1.0"


def _headers(api_key: str | None) -> dict:
    return {"X-API-Key": api_key} if api_key else {}


def _ops_table(answer: dict) -> dict:
    ops = {o["name"]: o["overloads"] for o in answer["ops"]}
    for name in answer.get("pseudo_ops", {}):
        for part in name.split(","):
            ops.setdefault(part.strip(), [])
    return ops


class _AsyncParts:
    """A body of parts for httpx.AsyncClient, which takes an async iterable, not a list
    (only ``__aiter__``: httpx would take an object that also iterates for a sync one)."""

    def __init__(self, parts: list):
        self.parts = parts

    async def __aiter__(self):
        for part in self.parts:
            yield part


def request_args(call: Call, asynchronous: bool = False) -> dict:
    """httpx keyword arguments for one Call (shared with the async client)."""
    kw: dict = {"params": call.params}
    if call.body is not None:
        kw["content"], kw["headers"] = encode(call.body)
        if asynchronous and isinstance(kw["content"], list):
            kw["content"] = _AsyncParts(kw["content"])
    return kw


class Session(BaseSession):
    """A synchronous session; also the ``torch`` of a program (``torch.tensor``,
    ``torch.autograd.grad``, ``torch.no_grad`` ...). Use it as a context manager to end
    the server's session on exit."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0,
                 client: httpx.Client | None = None, lazy: bool = False):
        self._client = client or httpx.Client(base_url=url, timeout=timeout,
                                              headers=_headers(api_key))
        try:
            ops = _ops_table(self._send(Call("GET", "/ops")))
        except BaseException:  # a wrong key or URL: nothing left open
            self._client.close()
            raise
        super().__init__(ops)
        self._eager = not lazy  # NOTE [eager ops] in _core.py

    def _send(self, call: Call):
        with self._client.stream(call.method, call.path, **request_args(call)) as r:
            return decode(r.status_code, r.headers, read_answer(r))

    def _run(self, plan):
        """Drive a plan: send each Call it yields, hand it the answer."""
        try:
            call = next(plan)
            while True:
                try:
                    answer = self._send(call)
                except Exception as e:
                    self._explain(e)
                    call = plan.throw(e)
                    continue
                call = plan.send(answer)
        except StopIteration as stop:
            return stop.value

    _need = _run

    def graph(self, format: str = "svg", path=None) -> GraphPicture:  # noqa: A002 - the API's name
        """The session's graph drawn like torchviz (GET /sessions/{id}/graph): ``"svg"``,
        ``"dot"`` or ``"json"``. Written to ``path`` when given; in a notebook the answer
        shows itself (an SVG, or Graphviz source as text)."""
        return self._run(self._graph_plan(format, path))

    def sync(self) -> None:
        """Send pending nodes now (errors in them raise here) and refresh metadata."""
        self._run(self._flush_plan(need_meta=True))

    def zero_grad(self) -> None:
        """optimizer.zero_grad(): every .grad of the session back to None."""
        self._run(self._zero_grad_plan())

    def put(self, t: Tensor, value) -> None:
        """Replace a leaf's data in place (an optimizer step done by the client)."""
        self._run(self._put_plan(t, value))

    def close(self) -> None:
        """End the server's session (DELETE) and close the connection."""
        try:
            if self.id is not None:
                self._send(Call("DELETE", f"/sessions/{self.id}"))
                self.id = None
        finally:
            self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def connect(url: str, api_key: str | None = None, timeout: float = 60.0,
            lazy: bool = False) -> Session:
    """A session on the service at ``url``. Each op is sent as it is made, so an invalid one
    raises at its own line; ``lazy=True`` sends ops with the next backward/grad/read instead
    (fewer requests; an error then raises there). See NOTE [eager ops] in _core.py."""
    return Session(url, api_key, timeout, lazy=lazy)
