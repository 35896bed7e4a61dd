"""The asyncio client: the same lazy graph building; requests are awaited.

    s = await autograd_client.aio.connect(url)
    x = s.tensor([1., 2.], requires_grad=True)
    await (x * x).sum().backward()
    print(x.grad)                     # cached from the answer, no request
    await s.sync()                    # before reading grad_fn/requires_grad of new nodes
    print(await x.grad.anumpy())

Reads that would need a request (metadata of nodes not sent yet, values not fetched) raise
a RuntimeError naming the awaitable to call first.
"""

from __future__ import annotations

import httpx

from . import _headers, _ops_table, request_args
from ._core import BaseSession, Call, Tensor
from ._wire import aread_answer, decode

__all__ = ["AsyncSession", "connect"]


class AsyncSession(BaseSession):
    def __init__(self, client: httpx.AsyncClient, ops: dict):
        self._client = client
        super().__init__(ops)

    async def _send(self, call: Call):
        async with self._client.stream(call.method, call.path,
                                       **request_args(call, asynchronous=True)) as r:
            return decode(r.status_code, r.headers, await aread_answer(r))

    async def _run(self, plan):
        try:
            call = next(plan)
            while True:
                try:
                    answer = await self._send(call)
                except Exception as e:
                    self._explain(e)
                    call = plan.throw(e)
                    continue
                call = plan.send(answer)
        except StopIteration as stop:
            return stop.value

    def _need(self, plan):
        """A read from the cache; a read that needs the server says what to await."""
        try:
            next(plan)
        except StopIteration as stop:
            return stop.value
        plan.close()
        raise RuntimeError("this read needs the server: `await session.sync()` (metadata) or "
                           "`await tensor.anumpy()` (values) first")

    async def sync(self) -> None:
        await self._run(self._flush_plan(need_meta=True))

    async def graph(self, format: str = "svg", path=None):  # noqa: A002 - the API's name
        """The session's graph drawn like torchviz (see Session.graph)."""
        return await self._run(self._graph_plan(format, path))

    async def zero_grad(self) -> None:
        await self._run(self._zero_grad_plan())

    async def put(self, t: Tensor, value) -> None:
        await self._run(self._put_plan(t, value))

    async def aclose(self) -> None:
        try:
            if self.id is not None:
                await self._send(Call("DELETE", f"/sessions/{self.id}"))
                self.id = None
        finally:
            await self._client.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()
        return False


async def _anumpy(self):
    """The value, fetched if needed (async clients)."""
    await self._s.sync()
    return await self._s._run(self._s._value_plan(self._id))

Tensor.anumpy = _anumpy


async def connect(url: str, api_key: str | None = None,
                  timeout: float = 60.0) -> AsyncSession:
    client = httpx.AsyncClient(base_url=url, timeout=timeout, headers=_headers(api_key))
    try:
        r = await client.get("/ops")
        ops = _ops_table(decode(r.status_code, r.headers, r.content))
    except BaseException:  # a wrong key or URL: nothing left open
        await client.aclose()
        raise
    return AsyncSession(client, ops)
