"""The Python SDK (clients/python) against a live server: every seed snippet runs through
it with only the import changed and prints what torch prints; the async client too."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys

import httpx
import numpy as np
import pytest
import torch
from support.seed_examples import SEEDS
from support.service_server import running_server, server_url  # noqa: F401 - live server
from test_seeds import mask, run_snippet

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "clients", "python"))
import autograd_client  # noqa: E402
import autograd_client.aio  # noqa: E402

# Snippets the SDK cannot run, and why (counted by test_skips_are_few).
SKIPS: dict[str, str] = {}


@pytest.mark.parametrize("name,code,note", SEEDS, ids=[s[0] for s in SEEDS])
def test_seed_through_sdk(server_url, name, code, note):  # noqa: F811
    if note.startswith("fragment"):
        pytest.skip(note)
    if name in SKIPS:
        pytest.skip(SKIPS[name])
    torch.manual_seed(0)
    expected = run_snippet(code, torch)
    with autograd_client.connect(server_url) as remote:
        got = run_snippet(code, remote)
    random = note == "random"
    assert mask(got, random) == mask(expected, random)


def test_skips_are_few():
    runnable = [s for s in SEEDS if not s[2].startswith("fragment")]
    assert not SKIPS and len(runnable) >= 38, len(runnable)


# --------------------------------------------------------------------------- the SDK itself

@pytest.fixture
def counted(server_url):  # noqa: F811
    """A lazy session (ops travel with the next request) whose requests are recorded."""
    log = []  # (method, path, the answer's content type)
    client = httpx.Client(base_url=server_url, timeout=60, event_hooks={"response": [
        lambda r: log.append((r.request.method, r.url.path, r.headers.get("content-type")))]})
    with autograd_client.Session(server_url, client=client, lazy=True) as s:
        log.clear()
        yield s, log


def test_one_request_per_backward_binary_by_default(counted):
    s, log = counted
    x = s.tensor([1., 2., 3.], requires_grad=True)
    y = (x.exp() * 2).sum()
    assert log == []  # building the graph is free
    y.backward(retain_graph=True)
    assert [m for m, *_ in log] == ["POST", "POST"]  # the session, once; then the backward
    log.clear()
    z = (s.tanh(x) ** 2).mean()
    z.backward()
    assert log == [("POST", "/backward", "application/octet-stream")]
    tx = torch.tensor([1., 2., 3.], requires_grad=True)
    (tx.exp() * 2).sum().backward(retain_graph=True)
    (torch.tanh(tx) ** 2).mean().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    assert [m for m, *_ in log] == ["POST"]  # x.grad came with the answer
    log.clear()
    g, = s.autograd.grad((x * x).sum(), x)
    assert len(log) == 1
    np.testing.assert_allclose(g.numpy(), 2 * x.numpy())


def test_graph_metadata_like_torch(counted):
    s, _ = counted
    x = s.tensor([1., 2., 3.], requires_grad=True)
    y = s.tensor([3., 4., 5.], requires_grad=True)
    xy = x + y
    out = (xy ** 2 * x ** 3).sum()
    tx = torch.tensor([1., 2., 3.], requires_grad=True)
    ty = torch.tensor([3., 4., 5.], requires_grad=True)
    tout = ((tx + ty) ** 2 * tx ** 3).sum()
    assert out.grad_fn.name() == tout.grad_fn.name()
    mul = out.grad_fn.next_functions[0][0]
    tmul = tout.grad_fn.next_functions[0][0]
    assert type(mul).__name__ == type(tmul).__name__ == "MulBackward0"
    assert [type(f).__name__ for f, _ in mul.next_functions] == [
        type(f).__name__ for f, _ in tmul.next_functions]
    acc = xy.grad_fn.next_functions[0][0]
    assert type(acc).__name__ == "AccumulateGrad" and acc.variable is x
    assert (out.is_leaf, x.is_leaf, out.requires_grad, out.shape, out.dtype.name) == (
        False, True, True, (), "float32")
    assert repr(out).startswith("tensor(") and "grad_fn=<SumBackward0>" in repr(out)


def test_errors_are_runtime_errors_with_the_problem_detail(counted):
    s, _ = counted
    x = s.tensor([1., 2., 3.], requires_grad=True)
    y = (x ** 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second "
                       "time") as info:
        y.backward()
    assert isinstance(info.value, autograd_client.APIError)
    assert info.value.status == 409 and info.value.problem["status"] == 409
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        (x * 2).backward()


def test_hooks_retain_grad_double_backward_no_grad_zero_grad(counted):
    s, _ = counted
    x = s.tensor([1., 2.], requires_grad=True)
    h = x * 3
    h.retain_grad()
    handle = h.register_hook("grad * 2")
    (h ** 2).sum().backward(create_graph=True)
    tx = torch.tensor([1., 2.], requires_grad=True)
    th = tx * 3
    th.retain_grad()
    thandle = th.register_hook(lambda g: g * 2)
    (th ** 2).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.detach().numpy())
    np.testing.assert_allclose(h.grad.numpy(), th.grad.detach().numpy())
    assert type(x.grad.grad_fn).__name__ == type(tx.grad.grad_fn).__name__
    # double backward through x.grad ("x.grad" enters the graph); /grad takes no hooks,
    # so the hook goes first on both sides
    handle.remove()
    thandle.remove()
    g2, = s.autograd.grad(x.grad.sum(), x)
    tg2, = torch.autograd.grad(tx.grad.sum(), tx)
    np.testing.assert_allclose(g2.numpy(), tg2.numpy())
    with s.no_grad():
        n = x * 2
    assert n.requires_grad is False
    s.zero_grad()
    assert x.grad is None


def test_context_manager_ends_the_session(server_url):  # noqa: F811
    with autograd_client.connect(server_url) as s:
        x = s.tensor([1.], requires_grad=True)
        (x * 2).sum().backward()
        sid = s.id
        assert httpx.get(f"{server_url}/sessions/{sid}").status_code == 200
    assert httpx.get(f"{server_url}/sessions/{sid}").status_code == 404


def test_async_client(server_url):  # noqa: F811
    async def main():
        async with await autograd_client.aio.connect(server_url) as s:
            x = s.tensor([1., 2., 3.], requires_grad=True)
            y = (x ** 3).sum()
            await y.backward(create_graph=True)
            first = await x.grad.anumpy()
            g, = await s.autograd.grad(x.grad.sum(), x)
            await s.sync()
            with pytest.raises(RuntimeError, match="needs the server"):
                (x * 5).grad_fn  # noqa: B018 - a read that needs a request
            assert "PowBackward0" in await s.graph("dot")
            return first, await g.anumpy(), y.grad_fn.name()

    first, second, name = asyncio.run(main())
    tx = torch.tensor([1., 2., 3.], requires_grad=True)
    ty = (tx ** 3).sum()
    tg, = torch.autograd.grad(ty, tx, create_graph=True)
    tg2, = torch.autograd.grad(tg.sum(), tx)
    np.testing.assert_allclose(first, tg.detach().numpy())
    np.testing.assert_allclose(second, tg2.numpy())
    assert name == ty.grad_fn.name()


def test_python_hooks_observe_and_may_not_replace(counted):
    s, log = counted
    seen = []
    x = s.tensor([1., 2.], requires_grad=True)
    h = x * x
    h.register_hook(lambda g: seen.append(g.tolist()))
    h.sum().backward(retain_graph=True)
    assert seen == [[1.0, 1.0]] and x.grad.tolist() == [2.0, 4.0]
    h.register_hook(lambda g: g * 2)
    with pytest.raises(NotImplementedError, match="expression string"):
        h.sum().backward()


def test_list_results_and_tuple_results(counted):
    s, _ = counted
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    x = s.tensor(data, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    parts = [x.unbind(1), x.split(2, dim=1), s.chunk(x, 2), x.split([1, 2], 0)]
    tparts = [tx.unbind(1), tx.split(2, dim=1), torch.chunk(tx, 2), tx.split([1, 2], 0)]
    values, indices = x.max(dim=1)
    tvalues, tindices = tx.max(dim=1)
    total = sum((p * (k + 1)).sum() for k, ps in enumerate(parts) for p in ps) + values.sum()
    ttotal = sum((p * (k + 1)).sum() for k, ps in enumerate(tparts) for p in ps) + tvalues.sum()
    total.backward()
    ttotal.backward()
    assert [len(p) for p in parts] == [len(p) for p in tparts]
    assert indices.tolist() == tindices.tolist()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    assert repr(parts[0][0]) == repr(tparts[0][0])


def test_api_key():
    with running_server({"AUTOGRAD_API_KEYS": "k1"}) as url:
        with pytest.raises(RuntimeError, match="API key") as info:
            autograd_client.connect(url)  # GET /ops, at connect, needs the key too
        with autograd_client.connect(url, api_key="k1") as s:
            x = s.tensor([1., 2.], requires_grad=True)
            (x * 3).sum().backward()
            assert x.grad.tolist() == [3.0, 3.0]
    assert info.value.status == 401


def test_grads_batched_jacobian_in_one_request(counted):
    s, log = counted
    x = s.tensor([1., 2., 3.], requires_grad=True)
    y = x ** 2
    s.sync()
    log.clear()
    jac, = s.autograd.grad(y, x, s.tensor(np.eye(3, dtype=np.float32)), is_grads_batched=True)
    assert len(log) == 1
    tx = torch.tensor([1., 2., 3.], requires_grad=True)
    tjac, = torch.autograd.grad(tx ** 2, tx, torch.eye(3), is_grads_batched=True)
    np.testing.assert_allclose(jac.numpy(), tjac.numpy())


def test_invalid_op_raises_at_its_call_with_torchs_text(server_url):  # noqa: F811
    """Eager (the default): the error raises at the op that caused it, with torch's text;
    the session goes on. Lazy: the same error at the next request, the node named."""
    tx = torch.tensor([1., 2., 3.], requires_grad=True)
    with pytest.raises(RuntimeError) as want:
        tx + torch.tensor([1., 2.])
    with autograd_client.connect(server_url) as s:
        x = s.tensor([1., 2., 3.], requires_grad=True)
        with pytest.raises(RuntimeError) as got:
            x + s.tensor([1., 2.])
        assert str(got.value) == str(want.value)
        (x * 2).sum().backward()  # later calls are unaffected
        assert x.grad.tolist() == [2.0, 2.0, 2.0]
    with autograd_client.connect(server_url, lazy=True) as s:
        x = s.tensor([1., 2., 3.], requires_grad=True)
        line = sys._getframe().f_lineno + 1
        bad = x + s.tensor([1., 2.])  # noqa: F841 - not checked until sent
        with pytest.raises(RuntimeError) as late:
            s.sync()
        assert str(late.value) == str(want.value) and late.value.detail.startswith("node ")
        assert late.value.__notes__ == [f"raised by the op made at {__file__}:{line}"]


def test_graph_picture_to_a_file_and_a_notebook(server_url, tmp_path):  # noqa: F811
    with autograd_client.connect(server_url) as s:
        x = s.tensor([1., 2.], requires_grad=True)
        y = (x * x).sum()
        dot = s.graph("dot", path=tmp_path / "g.dot")
        assert (tmp_path / "g.dot").read_text() == dot and dot.startswith("digraph")
        assert "MulBackward0" in dot and "SumBackward0" in dot
        assert dot._repr_svg_() is None
        drawn = s.graph("json")
        assert "SumBackward0" in drawn
        if shutil.which("dot") is not None or os.environ.get("CI"):
            svg = s.graph()  # Graphviz draws it on the server
            assert svg.lstrip().startswith(("<?xml", "<svg")) and svg._repr_svg_() == svg
        with pytest.raises(ValueError):
            s.graph("png")
        del y
