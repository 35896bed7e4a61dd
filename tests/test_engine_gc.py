"""Graphs hidden from the cyclic GC (engine/graph.py): a recorded node and what it alone
holds are out of the GC's sight, as torch's C++ nodes are, and shown to it again wherever a
graph can become part of a reference cycle. Each cycle below is real (refcounting alone does
not free it: checked with the GC off) and a collection frees it."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref

import pytest

import engine
from engine import autograd, graph

if graph.hide is None:
    if os.environ.get("CI"):
        raise RuntimeError("engine._gctrack was not built (it needs a C compiler)")
    pytest.skip("engine._gctrack not built: nodes stay visible to the GC",
                allow_module_level=True)


def _leaf():
    return engine.tensor([0.5, -1.0, 2.0], requires_grad=True)


def _freed_only_by_a_collection(build):
    """``build()`` makes a cycle through a graph and returns weak references into it."""
    gc.collect()
    gc.disable()
    try:
        refs = build()
        assert all(r() is not None for r in refs), "refcounting freed it: no cycle was made"
    finally:
        gc.enable()
    gc.collect()
    return [r for r in refs if r() is not None]


def test_a_recorded_node_is_hidden():
    x = _leaf()
    y = x.tanh() * 2
    for node in (y.grad_fn, y.grad_fn.next_functions[0][0]):
        assert not gc.is_tracked(node)
        assert not gc.is_tracked(node.next_functions)
        assert not any(gc.is_tracked(e) for e in node.next_functions)
    tanh = y.grad_fn.next_functions[0][0]
    assert not gc.is_tracked(tanh.saved) and not gc.is_tracked(tanh.saved["result"])
    acc = tanh.next_functions[0][0]
    assert gc.is_tracked(acc)  # AccumulateGrad holds the leaf: never hidden


def test_a_forward_pass_leaves_nothing_for_the_gc():
    x = _leaf()
    h = x
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(200):
        h = (h * 1.0001 + 0.0001).tanh()
    gc.collect()
    assert len(gc.get_objects()) - before < 20  # 1,800 before nodes were hidden
    h.sum().backward()
    assert x.grad is not None


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_create_graph_backward_cycle_is_collected():
    def build():
        x = _leaf()
        t = x.tanh()
        (t ** 2).sum().backward(create_graph=True)  # x.grad's graph leads to t's node, to x
        return [weakref.ref(t.grad_fn), weakref.ref(x.grad.grad_fn), weakref.ref(x)]
    assert _freed_only_by_a_collection(build) == []


def test_assigned_grad_with_history_cycle_is_collected():
    def build():
        x = _leaf()
        (g,) = autograd.grad((x.exp() ** 2).sum(), x, create_graph=True)
        x.grad = g
        return [weakref.ref(g.grad_fn), weakref.ref(x)]
    assert _freed_only_by_a_collection(build) == []


def test_in_place_op_on_a_saved_tensor_cycle_is_collected():
    def build():
        x = _leaf()
        y = x * 2
        w = y * y  # saves y itself
        saver = w.grad_fn
        y.mul_(w)  # y now comes out of a node that leads to saver, which holds y
        return [weakref.ref(saver), weakref.ref(y)]
    assert _freed_only_by_a_collection(build) == []


def test_in_place_op_on_a_view_cycle_is_collected():
    def build():
        x = _leaf()
        y = x * 2
        v = y[:2]
        w = v * v  # saves the view itself
        saver = w.grad_fn
        v.mul_(w[:2])
        return [weakref.ref(saver), weakref.ref(v)]
    assert _freed_only_by_a_collection(build) == []


def test_node_hook_cycle_is_collected():
    def build():
        x = _leaf()
        y = x.exp()
        y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: y)
        return [weakref.ref(y.grad_fn), weakref.ref(y)]
    assert _freed_only_by_a_collection(build) == []


def test_node_prehook_cycle_is_collected():
    def build():
        x = _leaf()
        y = x.sin()
        y.grad_fn.register_prehook(lambda grad_outputs: (y,))
        return [weakref.ref(y.grad_fn)]
    assert _freed_only_by_a_collection(build) == []


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_retained_grad_with_history_cycle_is_collected():
    def build():
        x = _leaf()
        y = x.tanh()
        y.retain_grad()
        (y ** 3).sum().backward(create_graph=True)  # y.grad's graph saved y itself
        return [weakref.ref(y.grad.grad_fn), weakref.ref(y)]
    assert _freed_only_by_a_collection(build) == []


@pytest.mark.parametrize("hooked", ["leaf", "non-leaf"])
def test_hook_holding_a_later_tensor_is_freed_once_removed(hooked):
    """The cycle left to the user, as in torch: a hook whose closure holds a tensor computed
    from the hooked tensor (the engine cannot see into a closure; the newer nodes between
    stay hidden). It is not collected; removing the hook (or dropping what the closure
    holds) breaks it, and refcounting frees the graph."""
    def build():
        x = _leaf()
        t = x if hooked == "leaf" else x.sin()
        y = t.exp() * 3
        handle = t.register_hook(lambda g: g * y.detach())
        return t, handle, weakref.ref(y.grad_fn)

    t, handle, ref = build()
    gc.collect()
    assert ref() is not None  # hidden from the GC, as torch's nodes are
    handle.remove()
    del t, handle
    assert ref() is None


def test_backward_still_works_on_a_hidden_graph_after_collections():
    x = _leaf()
    y = (x.tanh() * x.exp()).sum()
    gc.collect()
    y.backward()
    import torch
    tx = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    (tx.tanh() * tx.exp()).sum().backward()
    assert x.grad.tolist() == pytest.approx(tx.grad.tolist(), rel=1e-6)


@pytest.mark.parametrize("value, tracked", [("0", True), ("false", True), ("1", False)])
def test_setting_keeps_nodes_visible(value, tracked):
    code = ("import gc, engine; x = engine.tensor([1.], requires_grad=True); "
            "print(gc.is_tracked(x.exp().grad_fn))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "AUTOGRAD_HIDE_GRAPH_FROM_GC": value}, check=True)
    assert out.stdout.strip() == str(tracked)


def test_setting_refuses_a_bad_value():
    out = subprocess.run([sys.executable, "-c", "import engine"], capture_output=True,
                         text=True, env={**os.environ, "AUTOGRAD_HIDE_GRAPH_FROM_GC": "maybe"})
    assert out.returncode != 0
    assert "AUTOGRAD_HIDE_GRAPH_FROM_GC must be 1/true or 0/false, not 'maybe'" in out.stderr
