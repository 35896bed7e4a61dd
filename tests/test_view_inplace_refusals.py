"""In-place ops on views that torch 2.13 refuses before running them, and the ones it lets
through: a view made before its base became a leaf that requires grad, a view made in
no_grad mode (directly or as a view of one, the mode inherited along the chain), and
the same under no_grad or on tensors that do not require grad. torch is the oracle, run
side by side with the engine."""

import torch
from support.semantics_harness import outcome, stories

import engine


def _view_before_base_requires_grad(lib):
    a = lib.ones(2, 3)
    view = a[:]
    a.requires_grad = True
    view.add_(5)


def _view_before_base_requires_grad_under_no_grad(lib):
    a = lib.ones(2, 3)
    view = a[:]
    a.requires_grad = True
    with lib.no_grad():
        view.add_(5)
    return a.tolist(), a.requires_grad


def _view_of_no_grad_view_after_requires_grad(lib):
    a = lib.ones(3, 3)
    with lib.no_grad():
        row = a[0]
    row.requires_grad_()
    part = row[:2]
    part.mul_(2)


def _no_grad_view_after_requires_grad(lib):
    a = lib.ones(3, 3)
    with lib.no_grad():
        row = a[0]
    row.requires_grad_()
    row.mul_(2)


def _view_of_no_grad_view_of_a_graph(lib, columns=3, view=lambda row: row[:2]):
    a = lib.ones(3, columns, requires_grad=True).clone()
    with lib.no_grad():
        row = a[0]
    view(row).mul_(2)


def _view_of_no_grad_view_out_of_place_then_in_place(lib):
    a = lib.ones(3, 3)
    with lib.no_grad():
        row = a[0]
    row.requires_grad_()
    copy = row[:2] * 1
    copy.mul_(2)
    return copy.grad_fn.name(), copy.tolist()


def _view_of_no_grad_view_nothing_requires_grad(lib):
    a = lib.ones(3, 3)
    with lib.no_grad():
        row = a[0]
    row[:2].mul_(2)
    return a.tolist()


def _view_of_no_grad_view_both_in_no_grad(lib):
    a = lib.ones(3, 3, requires_grad=True).clone()
    with lib.no_grad():
        row = a[0]
        row[:2].mul_(2)
    return a.tolist()


def _view_of_no_grad_view_made_before_the_base_requires_grad(lib):
    # the view of the view got no node (nothing required grad then): torch's message
    # names none
    a = lib.ones(4)
    with lib.no_grad():
        whole = a[:]
    part = whole[1:]
    a.requires_grad_()
    part.mul_(2)


def _deeper_view_of_no_grad_view_of_a_graph(lib):
    _view_of_no_grad_view_of_a_graph(lib, columns=4, view=lambda row: row[1:][:2])


STORIES = [_view_before_base_requires_grad, _view_before_base_requires_grad_under_no_grad,
           _view_of_no_grad_view_after_requires_grad, _no_grad_view_after_requires_grad,
           _view_of_no_grad_view_of_a_graph, _view_of_no_grad_view_out_of_place_then_in_place,
           _view_of_no_grad_view_nothing_requires_grad, _view_of_no_grad_view_both_in_no_grad,
           _view_of_no_grad_view_made_before_the_base_requires_grad,
           _deeper_view_of_no_grad_view_of_a_graph]


@stories(*STORIES)
def test_in_place_on_views(story):
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))
