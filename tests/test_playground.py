"""The playground page (/playground) driven in headless Chromium against a live server:
after one and two presses of backward, the .grad column shows torch's gradients (the
second one accumulated), and the graph is drawn."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest
import torch
from support.service_server import ROOT, running_server, server_url  # noqa: F401

JS = os.path.join(ROOT, "tests", "js")
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium")
NODE = shutil.which("node")
HAVE = (CHROMIUM and NODE and os.path.isdir(os.path.join(JS, "node_modules", "playwright-core")))
pytestmark = pytest.mark.skipif(
    not HAVE and not os.environ.get("CI"),
    reason="needs chromium, node and playwright-core in tests/js (required when CI is set)")
SEEDS = json.load(open(os.path.join(ROOT, "service", "static", "playground", "seeds.json")))


def drive(url: str, seed: int, shot: str | None = None) -> dict:
    assert HAVE, "chromium, node and `npm install` in tests/js are required when CI is set"
    env = {**os.environ, "CHROMIUM": CHROMIUM}
    run = subprocess.run([NODE, "drive_playground.mjs", url, str(seed), shot or ""], cwd=JS,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert "pageerror" not in out, out["pageerror"]
    # nothing but this server was asked for anything (no CDN)
    assert all(u.startswith(url) for u in out["requests"]), out["requests"]
    return out


def shown(value: str) -> list:
    return torch.tensor(json.loads(value)).flatten().tolist()


def test_playground_backward_twice_accumulates(server_url):  # noqa: F811
    """Seed 2: out = (x + y) ** 2 * z ** 3 with a vector and a retained xy.grad."""
    # docs/playground.png is rewritten only when asked: a test run leaves the tree clean
    shot = (os.path.join(ROOT, "docs", "playground.png")
            if os.environ.get("AUTOGRAD_UPDATE_SCREENSHOT")
            else os.path.join(tempfile.mkdtemp(), "playground.png"))
    out = drive(server_url, 2, shot)
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"  # the screenshot was taken
    x, y, z = (torch.tensor(v, requires_grad=True) for v in
               ([1., 2., 3.], [3., 4., 5.], [1., 2., 3.]))
    xy = x + y
    xy.retain_grad()
    res = (xy ** 2) * (z ** 3)
    for press in ("first", "second"):
        res.backward(torch.ones(3), retain_graph=True)
        for name, t in (("x", x), ("y", y), ("z", z)):
            assert shown(out[press][name]["grad"]) == pytest.approx(t.grad.tolist(), rel=1e-4)
        # a retained non-leaf grad accumulates too, as in torch
        assert shown(out[press]["xy"]["grad"]) == pytest.approx(xy.grad.tolist(), rel=1e-4)
    assert out["first"]["out"]["grad_fn"] == type(res.grad_fn).__name__
    assert shown(out["first"]["out"]["value"]) == pytest.approx(res.tolist(), rel=1e-4)
    assert len(out["history"]) == 2 and out["history"][1].startswith("backward #2")
    if shutil.which("dot"):  # the page draws Graphviz's SVG, else lists the drawing
        assert out["svg"] == 1
    assert "MulBackward0" in out["graph_text"] and "AddBackward0" in out["graph_text"]


def test_playground_second_backward_through_freed_graph(server_url):  # noqa: F811
    """The last seed runs without retain_graph: the second press shows PyTorch's error."""
    k = len(SEEDS) - 1
    assert SEEDS[k]["retain_graph"] is False
    out = drive(server_url, k)
    x = torch.tensor([1., 2.], requires_grad=True)
    y = (x ** 2).sum()
    y.backward()
    assert shown(out["first"]["x"]["grad"]) == pytest.approx(x.grad.tolist())
    with pytest.raises(RuntimeError) as e:
        y.backward()
    assert str(e.value) in out["status"] and out["status"].startswith("409")
    assert shown(out["second"]["x"]["grad"]) == pytest.approx(x.grad.tolist())


def test_playground_without_graphviz_lists_the_graph():
    """On a server without Graphviz (no dot on its PATH) the page lists the drawing."""
    with tempfile.TemporaryDirectory() as empty, running_server({"PATH": empty}) as url:
        out = drive(url, 0)
    assert out["svg"] == 0 and "Graphviz is not installed" in out["graph_text"]
    x = torch.tensor([1., 2., 3.], requires_grad=True)
    z = (x * 2).mean()
    z.backward(retain_graph=True)
    assert shown(out["first"]["x"]["grad"]) == pytest.approx(x.grad.tolist(), rel=1e-4)
    z.backward()  # the driver pressed twice; the list is drawn after the second
    assert type(z.grad_fn).__name__ in out["graph_text"]
    assert f"|grad| = {x.grad.norm().item():.4f}" in out["graph_text"]
