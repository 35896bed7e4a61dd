"""Version counters as torch shows them: ``_version`` is an int read at that moment, a view
and its base share one counter, ``.data = ...`` keeps the counter, and a saved output read
back through ``grad_fn._saved_result`` shares the output's counter (and memory). torch 2.13
is the oracle, run side by side with the engine."""

import pytest
import torch

import engine


def _counter_story(lib):
    x = lib.randn(1, 2)
    seen = []
    before = x._version
    x.add_(1).add_(1)
    seen.append((type(before).__name__, before, x._version))  # a snapshot, not a live counter
    xz = x[:]
    seen.append(xz._version == x._version)
    xz.add_(1)
    seen.append((x._version, xz._version))
    kept = x._version
    x.data = lib.randn(2, 3)  # new data, the same counter
    seen.append(x._version == kept)
    x.add_(1)
    seen.append((x._version, xz._version))
    xz.add_(1)
    seen.append((x._version, xz._version))
    return seen


def test_version_is_an_int_snapshot_shared_by_views_and_kept_by_data():
    assert _counter_story(engine) == _counter_story(torch)


def _saved_result_story(lib):
    a = lib.rand(2, requires_grad=True)
    b = lib.exp(a)
    unpacked = b.grad_fn._saved_result
    seen = [unpacked.tolist() == b.tolist(), (b._version, unpacked._version)]
    with lib.no_grad():
        b += 1
    seen += [unpacked.tolist() == b.tolist(), (b._version, unpacked._version)]
    return seen


def test_saved_result_follows_the_outputs_version_and_memory():
    assert _saved_result_story(engine) == _saved_result_story(torch)


def test_saved_result_read_after_the_change_names_the_change():
    def story(lib):
        y = lib.ones(2, requires_grad=True).exp()
        node = y.grad_fn
        with lib.no_grad():
            y.mul_(2)
        try:
            _ = node._saved_result
        except RuntimeError as e:
            return str(e)
        return None

    expected = story(torch)
    assert expected is not None
    assert story(engine) == expected


def _resize_story(lib):
    x = lib.rand(1)
    template = lib.rand(3)
    seen = []
    for size in [(1, 2), (3,), (3,), (1, 3), (0,), (4,)]:  # a new shape is a new version
        x.resize_(size)
        seen.append((tuple(x.shape), x._version))
    x.resize_as_(template)
    seen.append((tuple(x.shape), x._version))
    x.resize_as_(template)  # already that shape: no new version
    seen.append(x._version)
    base = lib.zeros(6)
    part = base[:3]
    part.resize_(2)
    seen.append((part._version, base._version))
    out = lib.zeros(1)
    with lib.no_grad():
        lib.exp(lib.ones(0), out=lib.zeros(0))
        lib.exp(lib.ones(2), out=out)  # an out= tensor resized to fit keeps its version
    seen.append((tuple(out.shape), out._version))
    try:
        x.resize_as_(3)
    except TypeError as e:
        seen.append(str(e))
    return seen


def test_resize_moves_the_version_when_the_shape_changes():
    with pytest.warns(UserWarning):
        theirs = _resize_story(torch)
    with pytest.warns(UserWarning):
        ours = _resize_story(engine)
    assert ours == theirs
