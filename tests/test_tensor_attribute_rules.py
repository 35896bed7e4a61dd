"""What torch 2.13 allows and refuses on a tensor's own attributes: ``detach_()`` of a view,
``detach_()`` of a tensor a graph saved (and of a leaf whose AccumulateGrad is already in a
graph), ``.data = ...`` with a non-tensor or an integer tensor, ``x.grad = x``, and
``numpy()`` of a tensor that requires grad with grad mode on or off. Each story runs under
torch and the engine; results and exact error texts must agree."""

import pytest
import torch
from support.semantics_harness import outcome as raised_or_returned
from support.semantics_harness import stories

import engine


def outcome(fn):
    """semantics_harness.outcome, a tensor returned as a list."""
    kind, value = raised_or_returned(fn)
    return kind, value.tolist() if kind == "ok" and hasattr(value, "tolist") else value


def _view_of_leaf(lib):
    return lib.ones(4, 4, requires_grad=True).narrow(0, 1, 2).detach_()


def _view_of_plain(lib):
    return lib.ones(4).narrow(0, 1, 2).detach_()


def _view_in_no_grad(lib):
    x = lib.ones(4, requires_grad=True)
    view = x[1:]
    with lib.no_grad():
        return view.detach_()


def _detached_copy(lib):
    return lib.ones(4, requires_grad=True).detach().detach_()


def _non_leaf(lib):
    y = lib.ones(3, requires_grad=True).clone().detach_()
    return y.requires_grad, y.is_leaf, y.grad_fn is None


def _saved_non_leaf_detached(lib):
    x = lib.ones(2, requires_grad=True)
    y = x.clone()
    z = y * y  # MulBackward0 saved y
    y.detach_()
    z.sum().backward()
    return x.grad


def _saved_non_leaf_detached_then_changed(lib):
    x = lib.ones(2, requires_grad=True)
    y = x.clone()
    z = y * y
    y.detach_()
    y.mul_(2)  # the detach is reported, not the version
    z.sum().backward()
    return x.grad


def _leaf_detached_after_use(lib):
    x = lib.ones(2, requires_grad=True)
    z = x * x
    x.detach_()  # no error, and AccumulateGrad writes nothing any more
    z.sum().backward()
    return x.grad, x.requires_grad


def _saved_output_detached(lib):
    x = lib.ones(2, requires_grad=True)
    y = x.exp()
    z = y.exp()  # saves its own result only
    y.detach_()
    z.sum().backward()
    return [round(g, 3) for g in x.grad.tolist()]  # float32 exp(exp(1)): last bits differ


DETACH_STORIES = [_view_of_leaf, _view_of_plain, _view_in_no_grad, _detached_copy, _non_leaf,
                  _saved_non_leaf_detached, _saved_non_leaf_detached_then_changed,
                  _leaf_detached_after_use, _saved_output_detached]


@stories(*DETACH_STORIES)
def test_detach_in_place(story):
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


def test_detach_in_place_of_a_view_is_refused():
    kind, message = outcome(lambda: _view_of_leaf(torch))
    assert kind == "RuntimeError" and message.startswith("Can't detach views in-place")


DATA_STORIES = {
    "list": lambda lib: setattr(lib.ones(2, requires_grad=True), "data", [1.0, 2.0]),
    "int into float leaf": lambda lib: setattr(lib.ones(2, requires_grad=True), "data",
                                                lib.tensor([1, 2])),
    "int into non-leaf": lambda lib: setattr(lib.ones(2, requires_grad=True).clone(), "data",
                                             lib.tensor([1, 2])),
    "int into plain": lambda lib: _set_data(lib.ones(2), lib.tensor([1, 2])),
    "other shape and dtype": lambda lib: _set_data(lib.ones(2, requires_grad=True),
                                                   lib.ones(3, dtype=lib.float64)),
}


def _set_data(t, value):
    t.data = value
    return t.tolist(), str(t.dtype), t.requires_grad, t._version


@pytest.mark.parametrize("name", list(DATA_STORIES))
def test_data_assignment(name):
    story = DATA_STORIES[name]
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


def _grad_is_self(lib):
    x = lib.ones(2, requires_grad=True)
    x.grad = x


def _grad_is_self_non_leaf(lib):
    y = lib.ones(2, requires_grad=True) * 2
    y.grad = y


def _grad_is_a_detached_copy(lib):
    x = lib.ones(2, requires_grad=True)
    x.grad = x.detach()
    return x.grad


@pytest.mark.parametrize("story", [_grad_is_self, _grad_is_self_non_leaf,
                                   _grad_is_a_detached_copy], ids=lambda f: f.__name__)
def test_grad_assignment(story):
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


@pytest.mark.parametrize("mode", [True, False])
@pytest.mark.parametrize("force", [True, False])
def test_numpy_of_a_tensor_that_requires_grad(mode, force):
    def story(lib):
        x = lib.ones(2, requires_grad=True)
        with lib.set_grad_enabled(mode):
            return x.numpy(force=force)

    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


def _deletions_and_sets(lib):
    seen = []
    x = lib.ones(2, 2, requires_grad=True)
    y = x * 2
    for t in (x, y):
        for name in ("grad", "data", "requires_grad", "_backward_hooks", "grad_fn", "is_leaf",
                     "output_nr", "_version", "retains_grad", "_base", "shape", "dtype",
                     "device", "ndim", "T", "mT"):
            seen.append((name, "del", raised_or_returned(lambda t=t, name=name: delattr(t, name))))
        for name in ("grad_fn", "is_leaf", "output_nr", "_version", "retains_grad", "_base",
                     "shape", "dtype", "device", "ndim"):
            seen.append((name, "set", raised_or_returned(lambda t=t, name=name: setattr(t, name, None))))
        seen.append(("data", "set", raised_or_returned(lambda t=t: setattr(t, "data", None))))
    seen.append(("after", x.grad, x.requires_grad, x.is_leaf, y.grad_fn is not None))
    return seen


def test_attribute_deletion_and_read_only_attributes():
    assert _deletions_and_sets(engine) == _deletions_and_sets(torch)
