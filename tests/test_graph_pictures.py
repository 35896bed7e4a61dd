"""Graph pictures (GET /sessions/{id}/graph, return_graph "dot"/"svg"/"json") against a live
server, checked against torch's own graph: the boxes are torch's grad_fn names, the edges
torch's next_functions, the norms torch's gradients."""

from __future__ import annotations

import os
import re
import shutil
import tempfile

import pytest
import torch
from support.service_server import api, check_problem, running_server, server_url  # noqa: F401

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT and not os.environ.get("CI"),
                               reason="Graphviz's dot is not installed (required when CI is set)")

SOURCE = ("x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)\n"
          "w = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)\n"
          "y = x * w\n"
          "u = y.exp()\n"
          "z = (u + y).sum()")


def torch_graph():
    """The same program in torch: grad_fn names and edges (name -> consumer name), grads."""
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = x * w
    y.retain_grad()
    u = y.exp()
    z = (u + y).sum()
    z.backward(retain_graph=True)
    names, edges, stack, seen = [], [], [z.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        names.append(type(fn).__name__)
        for nxt, _ in fn.next_functions:
            if nxt is None:
                continue
            src = ("leaf:" + ("x" if nxt.variable is x else "w")
                   if type(nxt).__name__ == "AccumulateGrad" else type(nxt).__name__)
            edges.append((src, type(fn).__name__))
            if type(nxt).__name__ != "AccumulateGrad":
                stack.append(nxt)
    return sorted(names), sorted(edges), {"x": x.grad, "w": w.grad, "y": y.grad}


def one_shot(api, fmt, **extra):  # noqa: F811
    r = api.post("/backward", json={"source": SOURCE, "tensors": "z", "retain_grad": ["y"],
                                    "retain_graph": True, "return_graph": fmt, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def test_json_picture_matches_torch(api):  # noqa: F811
    names, edges, grads = torch_graph()
    body = one_shot(api, "json")
    assert body["picture"]["format"] == "json"
    assert body["graph"]["nodes"]  # the metadata still comes, as with true
    pic = body["picture"]["content"]
    boxes = {b["id"]: b for b in pic["nodes"]}
    fns = [b for b in pic["nodes"] if b["kind"] == "grad_fn"]
    assert sorted(b["name"] for b in fns) == names
    label = {i: ("leaf:" + i if b["kind"] == "leaf" else b["name"]) for i, b in boxes.items()}
    assert sorted((label[e["from"]], label[e["to"]]) for e in pic["edges"]) == edges
    for leaf in ("x", "w"):
        assert boxes[leaf]["shape"] == [3]
        assert boxes[leaf]["grad_norm"] == pytest.approx(float(grads[leaf].norm()), rel=1e-5)
    (y,) = [t for b in fns for t in b["tensors"] if t["id"] == "y"]
    assert y["grad_norm"] == pytest.approx(float(grads["y"].norm()), rel=1e-5)
    # the same drawing from the session, and the norms grow after a second backward
    sid = body["session"]["id"]
    r = api.get(f"/sessions/{sid}/graph", params={"format": "json"})
    assert r.status_code == 200 and r.json() == pic
    assert api.post("/backward", json={"session": sid, "tensors": "z"}).status_code == 200
    again = {b["id"]: b for b in api.get(f"/sessions/{sid}/graph").json()["nodes"]}
    assert again["x"]["grad_norm"] == pytest.approx(2 * float(grads["x"].norm()), rel=1e-5)
    api.delete(f"/sessions/{sid}")


def test_dot_picture(api):  # noqa: F811
    names, _, grads = torch_graph()
    dot = one_shot(api, "dot")["picture"]["content"]
    assert dot.startswith("digraph autograd {") and dot.rstrip().endswith("}")
    for name in names:
        assert name in dot
    assert re.search(r'"x" \[label="x\\n\(3,\)\\n\|grad\| = ([0-9.]+)"', dot)
    norm = float(re.search(r'"x" \[label="x\\n\(3,\)\\n\|grad\| = ([0-9.]+)"', dot)[1])
    assert norm == pytest.approx(float(grads["x"].norm()), rel=1e-3)
    sid = api.post("/sessions", json={"source": SOURCE}).json()["session"]["id"]
    r = api.get(f"/sessions/{sid}/graph", params={"format": "dot"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vnd.graphviz")
    assert "|grad|" not in r.text  # no backward yet: no norms
    api.delete(f"/sessions/{sid}")


def test_grad_and_create_graph_pictures(api):  # noqa: F811
    r = api.post("/grad", json={"source": "x = torch.tensor([0.5, 1.5], requires_grad=True)\n"
                                "y = (x ** 3).sum()", "outputs": "y", "inputs": "x",
                                "create_graph": True, "as": ["dx"], "return_graph": "json"})
    assert r.status_code == 200, r.text
    pic = r.json()["picture"]["content"]
    x = torch.tensor([0.5, 1.5], requires_grad=True)
    (dx,) = torch.autograd.grad((x ** 3).sum(), x, create_graph=True)
    names = {b["name"] for b in pic["nodes"] if b["kind"] == "grad_fn"}
    assert type(dx.grad_fn).__name__ in names and "PowBackward0" in names
    (box,) = [b for b in pic["nodes"] if any(t["id"] == "dx" for t in b.get("tensors", []))]
    assert box["name"] == type(dx.grad_fn).__name__


def test_bad_format_and_unknown_session(api):  # noqa: F811
    sid = api.post("/sessions", json={"source": SOURCE}).json()["session"]["id"]
    check_problem(api.get(f"/sessions/{sid}/graph", params={"format": "png"}), 422)
    check_problem(api.get("/sessions/s_nope/graph"), 404)
    r = api.post("/backward", json={"source": SOURCE, "tensors": "z", "return_graph": "png"})
    check_problem(r, 422)
    api.delete(f"/sessions/{sid}")


@needs_dot
def test_svg(api):  # noqa: F811
    svg = one_shot(api, "svg")["picture"]["content"]
    assert "<svg" in svg and "MulBackward0" in svg and "ExpBackward0" in svg
    sid = api.post("/sessions", json={"source": SOURCE}).json()["session"]["id"]
    r = api.get(f"/sessions/{sid}/graph", params={"format": "svg"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in r.text and "SumBackward0" in r.text
    api.delete(f"/sessions/{sid}")


def test_svg_without_graphviz_is_406():
    """A server whose PATH has no dot answers 406 naming what is missing, and the one-shot
    request is refused before it computes anything."""
    with tempfile.TemporaryDirectory() as empty, \
            running_server({"PATH": empty}) as url:
        import httpx
        with httpx.Client(base_url=url, timeout=60) as c:
            sid = c.post("/sessions", json={"source": SOURCE}).json()["session"]["id"]
            body = check_problem(c.get(f"/sessions/{sid}/graph", params={"format": "svg"}), 406)
            assert "dot" in body["detail"] and "Graphviz" in body["detail"]
            assert c.get(f"/sessions/{sid}/graph", params={"format": "dot"}).status_code == 200
            r = c.post("/backward", json={"source": SOURCE, "tensors": "z",
                                          "return_graph": "svg"})
            check_problem(r, 406)
