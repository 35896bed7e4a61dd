"""In-place ops on views that torch 2.13 refuses before running them, and the ones it lets
through: a view made before its base became a leaf that requires grad, a view made in
no_grad mode or inference mode (directly or as a view of one, the mode inherited along the
chain, inference mode over any later one), a custom Function's view output without a
node, and the same under no_grad or on tensors that do not require grad. torch is the oracle, run
side by side with the engine."""

import torch
from support.functions import function
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


def _view_of_inference_mode_view_after_requires_grad(lib):
    a = lib.zeros(2)
    with lib.inference_mode():
        made_inside = a.view(2)
    made_inside.requires_grad_(True)
    made_inside.view(2).div_(2)  # the inference-mode creation is inherited


def _inference_mode_wins_over_a_later_no_grad_view(lib):
    a = lib.zeros(4, requires_grad=True).clone()
    with lib.inference_mode():
        made_inside = a.view(4)
    with lib.no_grad():
        second = made_inside.view(4)
    second.mul_(lib.ones(4, requires_grad=True))


def _views_of_inference_and_no_grad_views_after_the_base_changed(lib):
    seen = []
    for mode in (lib.inference_mode, lib.no_grad):
        a = lib.zeros(4)
        with mode():
            made_inside = a.view(4)
        second = made_inside.view(4)
        a.mul_(lib.ones(4, requires_grad=True))
        seen.append(outcome(lambda second=second: second.grad_fn))
    return seen


def _custom_function_view_without_a_node(lib):
    def forward(ctx, t):
        return t.view_as(t)

    Alias = function(lib, "Alias", forward=forward, backward=lambda ctx, g: g)
    seen = []
    for change in (lambda v, b: v.add_(b), lambda v, b: v.copy_(b)):
        view = Alias.apply(lib.rand(1, 2))  # no node: its input does not require grad
        seen.append(outcome(lambda view=view, change=change: change(
            view, lib.rand(1, requires_grad=True))))
    base = lib.rand(1, 2)
    view = Alias.apply(base)
    deeper = view.view(2)
    base.add_(lib.rand(1, requires_grad=True))
    seen += [outcome(lambda: view.grad_fn), outcome(lambda: deeper.grad_fn)]
    return seen


STORIES = [_view_of_inference_mode_view_after_requires_grad,
           _inference_mode_wins_over_a_later_no_grad_view,
           _views_of_inference_and_no_grad_views_after_the_base_changed,
           _custom_function_view_without_a_node,
           _view_before_base_requires_grad, _view_before_base_requires_grad_under_no_grad,
           _view_of_no_grad_view_after_requires_grad, _no_grad_view_after_requires_grad,
           _view_of_no_grad_view_of_a_graph, _view_of_no_grad_view_out_of_place_then_in_place,
           _view_of_no_grad_view_nothing_requires_grad, _view_of_no_grad_view_both_in_no_grad,
           _view_of_no_grad_view_made_before_the_base_requires_grad,
           _deeper_view_of_no_grad_view_of_a_graph]


@stories(*STORIES)
def test_in_place_on_views(story):
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))
