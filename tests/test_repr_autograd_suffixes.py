"""The autograd parts of repr(tensor), as torch 2.13 prints them: ``grad_fn=<Invalid>`` for
a view whose history torch refuses to rebuild (instead of raising), and ``tangent=...`` for
a dual tensor inside a forward-AD level (after grad_fn/requires_grad)."""

import contextlib

import pytest
import torch
import torch.autograd.forward_ad as torch_fwad
from support.semantics_harness import stories

import engine
import engine.forward_ad as engine_fwad

FWAD = {torch: torch_fwad, engine: engine_fwad}


def _no_grad_view_changed_in_no_grad(lib):
    a = lib.ones(2, requires_grad=True).clone()
    with lib.no_grad():
        view = a[:1]
        view.mul_(2)
    return view


def _view_whose_base_changed(lib, made_in, changed_in=None):
    """A view made in mode ``made_in`` (a name in lib) whose base then changes in place, in
    mode ``changed_in`` (None: grad mode)."""
    a = lib.ones(3, requires_grad=True).clone()
    with getattr(lib, made_in)():
        view = a[1:]
    with getattr(lib, changed_in)() if changed_in else contextlib.nullcontext():
        a.mul_(2)
    return view


def _no_grad_view_whose_base_changed(lib):
    return _view_whose_base_changed(lib, "no_grad")


def _unbind_output_whose_base_changed(lib):
    a = lib.ones(2, 2, requires_grad=True).clone()
    first = a.unbind()[0]
    a.add_(1)
    return first


def _no_grad_view_of_a_leaf_changed_in_another_no_grad_block(lib):
    a = lib.ones(3, requires_grad=True)
    with lib.no_grad():
        view = a[1:]
    with lib.no_grad():
        view.mul_(2)
    return view


def _inference_mode_view_whose_base_changed(lib):
    return _view_whose_base_changed(lib, "inference_mode", changed_in="no_grad")


REFUSED = [_no_grad_view_changed_in_no_grad, _no_grad_view_whose_base_changed,
           _unbind_output_whose_base_changed,
           _no_grad_view_of_a_leaf_changed_in_another_no_grad_block,
           _inference_mode_view_whose_base_changed]


@stories(*REFUSED)
def test_refused_view_prints_invalid(story):
    expected = repr(story(torch))
    assert "grad_fn=<Invalid>" in expected
    assert repr(story(engine)) == expected


def _read(view, attribute):
    try:
        return "ok", getattr(view, attribute)
    except RuntimeError as e:
        return "RuntimeError", str(e)


@pytest.mark.parametrize("attribute", ["requires_grad", "is_leaf", "grad_fn"])
@stories(*REFUSED)
def test_refused_view_attributes(story, attribute):
    # torch reads requires_grad without rebuilding the view's history; is_leaf and grad_fn
    # rebuild it, and raise
    expected = _read(story(torch), attribute)
    got = _read(story(engine), attribute)
    if attribute == "grad_fn" and expected[0] == "ok":
        expected, got = (expected[0], None), (got[0], None)  # (nodes of two libraries)
    assert got == expected


def _duals(lib):
    fw = FWAD[lib]
    out = []
    with fw.dual_level():
        plain = fw.make_dual(lib.tensor([1.0, 2.0]), lib.tensor([0.5, -1.0]))
        out.append(str(plain))
        leaf = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        dual = fw.make_dual(leaf, lib.tensor([3.0, 4.0], dtype=lib.float64))
        out.append(repr(dual))
        out.append(repr(plain * 2))
        # (not repr(dual * 2): torch records the tangent's own computation for reverse
        # mode, a grad_fn on the tangent, which the engine's tangents do not carry)
        out.append(repr(fw.unpack_dual(plain).primal))  # the primal has none
    out.append(repr(plain))  # the level is closed: no tangent any more
    return out


def test_dual_tensor_prints_its_tangent():
    assert _duals(engine) == _duals(torch)
