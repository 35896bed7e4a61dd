"""Version counters as torch shows them: ``_version`` is an int read at that moment, a view
and its base share one counter, ``.data = ...`` keeps the counter, and a saved output read
back through ``grad_fn._saved_result`` shares the output's counter (and memory). torch 2.13
is the oracle, run side by side with the engine."""

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
