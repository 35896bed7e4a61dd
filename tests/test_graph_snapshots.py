"""Graph snapshots (engine/graph_snapshot.py): a program is run three ways, in torch, in the
engine, and in the engine with everything it holds written to a snapshot and loaded back at
points along the way (``again``), then continued from the loaded objects; all three must
show the same: gradients, errors and their texts, grad_fn names and next_functions,
versions, views. Then hostile documents, and what a snapshot refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from support.random_programs import programs, start, structural_programs
from support.semantics_harness import assert_same, run, stories

import engine
from engine.graph_snapshot import MAGIC, SnapshotCorrupt, SnapshotRefused, dumps
from engine.graph_snapshot_load import loads
from engine.ops import ROWS
from engine.ops.samples import Const
from engine.views import root_of


def keep(lib, value):
    return value


def reload(lib, value):
    """``value`` written and loaded back (the engine's objects only: torch has none)."""
    return loads(dumps(value)) if lib is engine else value


def three_ways(story):
    """torch, the engine, the engine through snapshots: the same outcome (the last two
    exactly, values included)."""
    expected, expected_w = run(lambda lib: story(lib, keep), torch)
    plain, _ = run(lambda lib: story(lib, keep), engine)
    snapped, snapped_w = run(lambda lib: story(lib, reload), engine)
    assert_same(expected, snapped)
    assert snapped_w == expected_w
    _exactly(plain, snapped)


def _exactly(a, b):
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, np.ndarray):
            assert isinstance(y, np.ndarray) and x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)
        elif isinstance(x, (tuple, list)):
            assert type(x) is type(y) and len(x) == len(y), (x, y)
            stack.extend(zip(x, y))
        elif isinstance(x, dict):
            assert x.keys() == y.keys()
            stack.extend((x[k], y[k]) for k in x)
        else:
            assert x == y, (x, y)


def copy(t):
    return None if t is None else t.detach().clone()


def edges(t):
    """grad_fn's name and its next_functions, two levels down (names and output numbers)."""
    fn = t.grad_fn
    if fn is None:
        return None
    return (fn.name(), [(None if n is None else n.name(), nr,
                         [(None if m is None else m.name(), k) for m, k in
                          (n.next_functions if n is not None else ())])
                        for n, nr in fn.next_functions])


def program_story(program):
    _, _, roots, calls, retain, seed = program

    def story(lib, again):
        rng = np.random.default_rng(seed)
        leaves, nodes = start(lib, program, rng)
        seeds = [rng.normal(size=nodes[r].shape) for r in roots]
        leaves, nodes = again(lib, (leaves, nodes))
        record = [[edges(n) for n in nodes]]
        for keep_graph in calls:
            outs = [nodes[r] for r in roots]
            try:
                lib.autograd.backward(outs, [lib.tensor(s) for s in seeds],
                                      retain_graph=keep_graph)
            except RuntimeError as exc:
                record.append(("error", str(exc)))
                break
            # copies: an object held across ``again`` is the old one (accumulation writes
            # into the live .grad in place)
            record.append([copy(leaf.grad) for leaf in leaves])
            if retain is not None and nodes[retain].requires_grad:
                record.append(copy(nodes[retain].grad))
            leaves, nodes = again(lib, (leaves, nodes))
        outs = [nodes[r] for r in roots]
        try:  # a backward through what the calls left: freed (torch's text) or retained
            total = sum((o * lib.tensor(s)).sum() for o, s in zip(outs, seeds))
            record.append(lib.autograd.grad(total, leaves, allow_unused=True))
        except RuntimeError as exc:
            record.append(("error", str(exc)))
        return record
    return story


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_graphs_continue_from_a_snapshot(program):
    three_ways(program_story(program))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structural_programs())
def test_views_and_in_place_graphs_continue_from_a_snapshot(program):
    three_ways(program_story(program))


def _view_edits_after_loading(lib, again):
    """A view and its base share memory and a version counter after loading: an edit of
    one shows in the other, and a saved value edited since is torch's version error."""
    x = lib.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x * 2
    v = y[1:3]
    z = (v * v).sum()
    x, y, v, z = again(lib, (x, y, v, z))
    with lib.no_grad():
        y[1] = 10.0
    out = [y, v, v._version, y._version, edges(v)]
    try:
        z.backward()
    except RuntimeError as exc:
        out.append(str(exc))
    return out


def _in_place_before_loading(lib, again):
    x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = x.exp()
    s = y.sum()
    y.mul_(2)
    x, y, s = again(lib, (x, y, s))
    out = [edges(y), y._version]
    try:
        s.backward()
    except RuntimeError as exc:
        out.append(str(exc))
    (y * 1).sum().backward()
    return [*out, x.grad]


def _edit_through_a_view(lib, again):
    x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x.clone()
    y[0].mul_(3)
    w = y.t()
    x, y, w = again(lib, (x, y, w))
    (w * w).sum().backward(retain_graph=True)
    x, y, w = again(lib, (x, y, w))
    w.sum().backward()
    return [x.grad, edges(y), edges(w), w.is_contiguous(), w.storage_offset()]


def _retain_grad_and_accumulation(lib, again):
    a = lib.tensor([1.0, -2.0], requires_grad=True)
    h = a.tanh()
    h.retain_grad()
    out = (h * a).sum()
    out.backward(retain_graph=True)
    a, h, out = again(lib, (a, h, out))
    out.backward(retain_graph=True)
    a, h, out = again(lib, (a, h, out))
    grads = [a.grad, h.grad, h.retains_grad]
    out.backward()
    a, h, out = again(lib, (a, h, out))
    try:
        out.backward()
    except RuntimeError as exc:
        grads.append(str(exc))
    return [*grads, a.grad]


def _higher_order(lib, again):
    x = lib.tensor([0.3, 0.7], requires_grad=True)
    y = (x ** 3).sum()
    (g,) = lib.autograd.grad(y, x, create_graph=True)
    x, g = again(lib, (x, g))
    (h,) = lib.autograd.grad(g.sum(), x, create_graph=True)
    x, h = again(lib, (x, h))
    h.sum().backward()
    return [g, h, x.grad, edges(g), edges(h)]


def _multi_output_and_unused(lib, again):
    x = lib.tensor([[1.0, 5.0, 2.0], [4.0, 0.5, 3.0]], requires_grad=True)
    vals, idx = x.max(dim=1)
    parts = x.split(1, dim=1)
    x, vals, idx, parts = again(lib, (x, vals, idx, parts))
    (vals.sum() + parts[2].sum()).backward()
    return [x.grad, idx, edges(vals), edges(parts[0]), type(parts).__name__]


def _leaf_view_of_a_grad_requiring_base(lib, again):
    a = lib.tensor([1.0, 2.0, 3.0])
    b = a[:2]
    a.requires_grad_()
    a, b = again(lib, (a, b))
    c = (b * 2).sum() + (a * a).sum()
    c.backward()
    return [a.grad, b.requires_grad, b.is_leaf, b.grad_fn]


def _dtypes_and_scalars(lib, again):
    x = lib.tensor([1.5, -2.5], dtype=lib.float32, requires_grad=True)
    i = lib.tensor([1, 0])
    y = (x[i] * 2.5).pow(2).sum() + x.double().sum()
    x, i, y = again(lib, (x, i, y))
    y.backward()
    return [x.grad, i, edges(y)]


@stories(_view_edits_after_loading, _in_place_before_loading, _edit_through_a_view,
         _retain_grad_and_accumulation, _higher_order, _multi_output_and_unused,
         _leaf_view_of_a_grad_requiring_base, _dtypes_and_scalars)
def test_story_continues_from_a_snapshot(story):
    three_ways(story)


def test_a_loaded_graph_is_newer_than_nothing_and_older_than_what_follows():
    """Seq numbers keep their order and come before any node made after loading."""
    x = engine.tensor([1.0], requires_grad=True)
    a, b = x * 2, x * 3
    a2, b2 = loads(dumps((a, b)))
    c = x * 4
    assert a2.grad_fn._sequence_nr() < b2.grad_fn._sequence_nr() < c.grad_fn._sequence_nr()


def test_views_share_the_loaded_memory():
    base = engine.tensor(np.arange(12.0).reshape(3, 4))
    v, w = base[1:, ::2], base.t()
    base2, v2, w2 = loads(dumps((base, v, w)))
    base2.array[2, 2] = -1.0
    assert v2.array[1, 1] == -1.0 and w2.array[2, 2] == -1.0
    assert v2._version_counter is base2._version_counter
    assert root_of(v2) is base2 and v2.storage_offset() == v.storage_offset()


# -- every row of the op table: its node, saved values and attributes survive a snapshot

ROWS_WITH_SAMPLES = [r for r in ROWS.values() if r.samples is not None]


def _engine_value(a):
    if isinstance(a, (list, tuple)):
        return type(a)(_engine_value(x) for x in a)
    if isinstance(a, Const):
        return engine.tensor(a.array)
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return engine.tensor(a, requires_grad=True)
    return a


def _grads(args, outs):
    """Gradients of the outputs (each weighted by 0.5) w.r.t. the inputs, or the error."""
    leaves = [a for a in args if isinstance(a, engine.Tensor) and a.requires_grad]
    total = sum((o.double() * 0.5).sum() for o in outs)
    try:
        got = engine.autograd.grad(total, leaves, allow_unused=True)
    except Exception as exc:  # noqa: BLE001 - the same failure is the same outcome
        return ("error", type(exc).__name__, str(exc))
    return [None if g is None else g.numpy() for g in got]


@pytest.mark.parametrize("row", ROWS_WITH_SAMPLES, ids=lambda r: r.qualname)
def test_every_table_row_continues_from_a_snapshot(row):
    """(The engine against torch per row is tests/test_ops.py: here, against itself.)"""
    for sample in row.samples(np.random.default_rng(0)):
        args = [_engine_value(a) for a in sample.args]
        kwargs = {k: _engine_value(v) for k, v in sample.kwargs.items()}
        try:
            out = row(*args, **kwargs)
        except (RuntimeError, ValueError, TypeError):
            continue  # a sample the row refuses (checked against torch by test_ops.py)
        outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,))
                if isinstance(o, engine.Tensor) and o.requires_grad]
        if not outs:
            continue
        args2, outs2 = loads(dumps((args, outs)))
        _exactly(_grads(args, outs), _grads(args2, outs2))


# -- refusals

def test_refuses_what_it_cannot_keep():
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    handle = y.register_hook(lambda g: g * 2)  # a Python function
    with pytest.raises(SnapshotRefused, match="function"):
        dumps(y)
    handle.remove()
    dumps(y)  # an emptied hook dict is kept as it is
    with engine.inference_mode():
        t = engine.tensor([1.0]) * 2
    with pytest.raises(SnapshotRefused, match="inference"):
        dumps(t)
    with pytest.raises(SnapshotRefused, match="object"):
        dumps(object())


def test_refuses_a_custom_function_node():
    class Double(engine.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    y = Double.apply(engine.tensor([1.0], requires_grad=True))
    with pytest.raises(SnapshotRefused):
        dumps(y)


# -- hostile documents: refused as data, nothing they name is run

def _doc(header: dict, blob: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return MAGIC + len(raw).to_bytes(8, "little") + raw + blob


def _valid():
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    return dumps((x, x * 2))


def _header(data: bytes) -> dict:
    n = int.from_bytes(data[len(MAGIC):len(MAGIC) + 8], "little")
    return json.loads(data[len(MAGIC) + 8:len(MAGIC) + 8 + n]), data[len(MAGIC) + 8 + n:]


def _edit(path_fn):
    head, blob = _header(_valid())
    path_fn(head)
    return _doc(head, blob)


def _first(head, kind):
    return next(o for o in head["objects"] if o[0] == kind)


HOSTILE = {
    "empty": b"",
    "pickle": b"\x80\x04\x95" + b"cos\nsystem\n(S'echo hi'\ntR." * 2,
    "magic only": MAGIC,
    "header past the end": MAGIC + (10**9).to_bytes(8, "little") + b"{}",
    "not json": MAGIC + (4).to_bytes(8, "little") + b"{{{{",
    "missing fields": _doc({"root": None}),
    "unknown kind": _doc({"root": ["r", 0], "objects": [["os.system", "echo hi"]],
                          "memory": []}),
    "reference out of range": _doc({"root": ["r", 7], "objects": [], "memory": []}),
    "negative reference": _doc({"root": ["r", -1], "objects": [["list", []]], "memory": []}),
    "unknown tag": _doc({"root": ["eval", "1+1"], "objects": [], "memory": []}),
    "deep nesting": _doc({"root": json.loads("[\"t\", [" * 200 + "1" + "]]" * 200),
                          "objects": [], "memory": []}),
    "op not in the table": _doc({"root": ["op", "os.system"], "objects": [], "memory": []}),
    "object dtype": _doc({"root": ["d", "object"], "objects": [], "memory": []}),
    "long integer": _doc({"root": ["I", "9" * 5000], "objects": [], "memory": []}),
    "unknown node class": _edit(lambda h: _first(h, "node").__setitem__(1, "builtins.eval")),
    "dunder attribute": _edit(lambda h: _first(h, "node")[2].__setitem__(
        "__class__", ["s", "x"])),
    "tensor slot missing": _edit(lambda h: _first(h, "tensor")[1].pop()),
    "tensor array of the wrong type": _edit(lambda h: _first(h, "tensor")[1].__setitem__(
        0, 5)),  # (Tensor's first slot: its array)
    "edge of the wrong type": _edit(lambda h: _first(h, "node")[2].__setitem__(
        "next_functions", ["t", [["t", [["s", "x"], 0]]]])),
    "array past its memory": _edit(lambda h: _first(h, "arr").__setitem__(2, 10**6)),
    "huge shape": _edit(lambda h: _first(h, "arr").__setitem__(3, [10**12])),
    "memory block past the blob": _edit(lambda h: h["memory"][0].__setitem__(1, 10**9)),
    "block size lies": _edit(lambda h: h["memory"][0].__setitem__(3, [1000])),
    "writeable over read-only": _edit(lambda h: (h["memory"][0].__setitem__(6, False))),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_document_is_refused(name):
    with pytest.raises(SnapshotCorrupt):
        loads(HOSTILE[name])


def test_an_unchanged_document_loads():
    x, y = loads(_valid())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
