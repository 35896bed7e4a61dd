"""Pictures of a workspace's graph, drawn like torchviz: one box per grad_fn and per leaf,
edges along next_functions (from an input's box to the box that consumes it, as torchviz
draws them), shapes, and the norm of a gradient where one is known (a leaf's .grad, a
retained non-leaf's .grad).

``picture`` gives the drawing as plain data (the "json" format); ``to_dot`` writes it as
Graphviz DOT; ``to_svg`` runs Graphviz's ``dot`` program on it when it is installed.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from typing import Any

import numpy as np

from engine import Tensor

from ..problems import Problem
from .workspace import Workspace

FORMATS = ("dot", "svg", "json")
DOT_MAX_BYTES = 4 * 2**20  # a larger drawing is refused before Graphviz runs
DOT_SECONDS = 20.0  # Graphviz is stopped after this long
MEDIA = {"dot": "text/vnd.graphviz", "svg": "image/svg+xml", "json": "application/json"}


def _norm(t: Tensor | None) -> float | None:
    if t is None:
        return None
    a = t.array
    value = float(np.sqrt(np.sum(np.square(a.astype(np.float64)))))
    return value if math.isfinite(value) else str(value)


def _shape(t: Tensor) -> list[int]:
    return [int(n) for n in t.array.shape]


def _named_tensors(ws: Workspace):
    """(id, tensor) for every tensor the workspace made, then .grad tensors that have a
    graph of their own (create_graph), named '<id>.grad'."""
    seen, out = set(), []
    for _name, _op, value in ws.entries:
        for t in value if isinstance(value, tuple) else (value,):
            if isinstance(t, Tensor) and id(t) not in seen:
                seen.add(id(t))
                out.append((ws.id_of(t), t))
    for tid, t in list(out):
        g = t._grad
        if g is not None and g._grad_fn is not None and id(g) not in seen:
            seen.add(id(g))
            out.append((f"{tid}.grad", g))
    return out


def picture(ws: Workspace) -> dict[str, Any]:
    """The drawing as data: {"nodes": [...], "edges": [...]}.

    A leaf box: {"id", "kind": "leaf", "shape", "dtype", "grad_norm"}. A grad_fn box:
    {"id": "fn<k>", "kind": "grad_fn", "name", "tensors": [{"id", "shape", "grad_norm"}]}
    listing the named tensors it made. An edge: {"from", "to", "output_nr"}: the input's
    box to the box that consumes it."""
    nodes: list[dict] = []
    edges: list[dict] = []
    leaf_box: dict[int, dict] = {}  # id(leaf tensor) -> box
    fn_box: dict[int, dict] = {}  # id(grad_fn) -> box
    keep = []  # hold the leaves whose id() keys leaf_box while drawing
    fn_nodes: dict[int, Any] = {}  # id(grad_fn) -> grad_fn, alive while drawing

    def leaf(t: Tensor, tid: str | None = None) -> dict:
        box = leaf_box.get(id(t))
        if box is None:
            keep.append(t)
            box = leaf_box[id(t)] = {"id": tid or ws.id_of(t), "kind": "leaf",
                                     "shape": _shape(t), "dtype": str(t.array.dtype),
                                     "grad_norm": _norm(t._grad)}
            nodes.append(box)
        return box

    def fn(node) -> tuple[dict, bool]:
        box = fn_box.get(id(node))
        if box is not None:
            return box, False
        fn_nodes[id(node)] = node
        box = fn_box[id(node)] = {"id": f"fn{len(fn_box)}", "kind": "grad_fn",
                                  "name": type(node).__name__, "tensors": []}
        nodes.append(box)
        return box, True

    stack = []
    for tid, t in _named_tensors(ws):
        if t._grad_fn is None:
            if t._requires_grad:
                leaf(t, tid)
            continue
        box, new = fn(t._grad_fn)
        box["tensors"].append({"id": tid, "output_nr": t._output_nr, "shape": _shape(t),
                               "grad_norm": _norm(t._grad) if t._retains_grad else None})
        if new:
            stack.append(t._grad_fn)
    while stack:  # iterative: graphs may be deep
        node = stack.pop()
        for nxt, nr in node.next_functions:
            if nxt is None:
                continue
            if type(nxt).__name__ == "AccumulateGrad":
                src = leaf(nxt.variable)
            else:
                src, new = fn(nxt)
                if new:
                    stack.append(nxt)
            edges.append({"from": src["id"], "to": fn_box[id(node)]["id"], "output_nr": nr})
    for key, box in fn_box.items():  # output shapes, for boxes no named tensor explains
        box["shapes"] = [[int(n) for n in shape] for shape, _ in
                         getattr(fn_nodes[key], "out_metas", ()) if shape is not None]
    return {"nodes": nodes, "edges": edges}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _fmt_norm(norm) -> str:
    return f"|grad| = {norm:.4g}" if isinstance(norm, float) else f"|grad| = {norm}"


def label(box: dict) -> str:
    """The text of a box, as torchviz writes it (name, then shapes), plus gradient norms."""
    if box["kind"] == "leaf":
        lines = [box["id"], _fmt_shape(box["shape"])]
        if box["grad_norm"] is not None:
            lines.append(_fmt_norm(box["grad_norm"]))
        return "\n".join(lines)
    lines = [box["name"]]
    for t in box["tensors"]:
        text = f"{t['id']} {_fmt_shape(t['shape'])}"
        if t["grad_norm"] is not None:
            text += "  " + _fmt_norm(t["grad_norm"])
        lines.append(text)
    if not box["tensors"] and box.get("shapes"):
        lines.append(" ".join(_fmt_shape(s) for s in box["shapes"]))
    return "\n".join(lines)


def to_dot(pic: dict) -> str:
    """Graphviz DOT in torchviz's style: leaves light blue, boxes grey, outputs green."""
    consumed = {e["from"] for e in pic["edges"]}
    out = ["digraph autograd {",
           '  graph [rankdir=TB, size="12,12"];',
           '  node [shape=box, style=filled, fillcolor=lightgrey, fontname="monospace", '
           'fontsize=10, height=0.2, align=left];']
    for box in pic["nodes"]:
        color = ("lightblue" if box["kind"] == "leaf"
                 else "darkolivegreen1" if box["id"] not in consumed else "lightgrey")
        out.append(f"  {_quote(box['id'])} [label={_quote(label(box))}, fillcolor={color}];")
    for e in pic["edges"]:
        out.append(f"  {_quote(e['from'])} -> {_quote(e['to'])};")
    out.append("}")
    return "\n".join(out) + "\n"


def svg_missing() -> Problem | None:
    """The 406 to answer when Graphviz is not installed (None when it is)."""
    if shutil.which("dot") is None:
        return Problem(406, "format=svg needs Graphviz's `dot` program, which is not "
                       "installed on this server (apt-get install graphviz); ask for "
                       "format=dot or format=json instead", "not-acceptable", missing="dot")
    return None


def to_svg(dot: str) -> str:
    """Run Graphviz's dot on ``dot`` (size-capped, time-limited)."""
    problem = svg_missing()
    if problem is not None:
        raise problem
    data = dot.encode()
    if len(data) > DOT_MAX_BYTES:
        raise Problem(413, f"graph drawing too large for SVG: {len(data)} bytes of DOT > "
                      f"{DOT_MAX_BYTES}; ask for format=dot or format=json", "limit-exceeded",
                      limit="dot_bytes")
    try:
        run = subprocess.run([shutil.which("dot"), "-Tsvg"], input=data, capture_output=True,
                             timeout=DOT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise Problem(413, f"Graphviz took longer than {DOT_SECONDS:g} s to draw this graph; "
                      "ask for format=dot or format=json", "limit-exceeded",
                      limit="dot_seconds") from None
    if run.returncode != 0:
        raise Problem(422, "Graphviz could not draw this graph: "
                      + run.stderr.decode(errors="replace")[:500])
    return run.stdout.decode()


def render(ws: Workspace, fmt: str):
    """The picture in ``fmt``: a dict (json) or a string (dot, svg)."""
    pic = picture(ws)
    if fmt == "json":
        return pic
    dot = to_dot(pic)
    return dot if fmt == "dot" else to_svg(dot)
