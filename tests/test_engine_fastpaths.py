"""The engine's fast paths keep torch's results: in-place sums only into arrays nobody else
can see, the GC state restored after a walk, compact node records."""

import gc

import numpy as np
import pytest
import torch

import engine
from engine.errors import GradientError
from engine.ops import table


def _pair(values, requires_grad=True):
    return (engine.tensor(values, requires_grad=requires_grad),
            torch.tensor(values, requires_grad=requires_grad))


def test_fan_in_sums_leave_seeds_hook_values_and_retained_grads_alone():
    values = np.linspace(-1.0, 1.0, 6, dtype=np.float32).tolist()
    results = []
    for mod, x in zip((engine, torch), _pair(values)):
        a = x * 2.0
        a.retain_grad()
        seen = []
        a.register_hook(seen.append)
        b = a + a  # the same gradient goes to both edges of a
        y = mod.sin(b) * b + a * x + x / 3
        seed = mod.tensor(np.arange(6, dtype=np.float32).tolist())
        y.backward(seed)
        results.append((x.grad, a.grad, seen[0], seed))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(results[0][3].numpy(), np.arange(6, dtype=np.float32))


def test_fan_in_into_a_leaf_that_already_has_grad():
    for mod, x in zip((engine, torch), _pair([0.5, -1.5, 2.0])):
        for _ in range(2):
            (mod.exp(x) * x + x * x + x).sum().backward()
        if mod is engine:
            ours = x.grad.numpy().copy()
        else:
            theirs = x.grad.numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_grad_of_fan_in_returns_fresh_values_each_time():
    x = engine.tensor([0.25, 0.5, 0.75], requires_grad=True)
    y = (x * x + engine.sin(x) + x).sum()
    (g1,) = engine.autograd.grad(y, x, retain_graph=True)
    kept = g1.numpy().copy()
    (g2,) = engine.autograd.grad(y, x)
    np.testing.assert_array_equal(g1.numpy(), kept)  # the second walk did not write into it
    np.testing.assert_array_equal(g2.numpy(), kept)


@pytest.mark.parametrize("enabled", [True, False])
def test_backward_restores_the_gc_state(enabled):
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        x = engine.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        assert gc.isenabled() is enabled
        y = (x * x).sum()
        y.backward()
        with pytest.raises(GradientError):  # the walk raises: the state is restored anyway
            y.backward()
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_shared_metadata_still_unbroadcasts_and_casts():
    pairs = [_pair([[1.0, 2.0, 3.0]]), _pair([[0.5], [1.5]])]
    outs = []
    for k, mod in enumerate((engine, torch)):
        a, b = pairs[0][k], pairs[1][k]
        y = mod.tanh(a * b + b).double().sum()  # (1, 3) * (2, 1): broadcast both ways
        y.backward()
        outs.append((a.grad.numpy(), b.grad.numpy()))
    for ours, theirs in zip(*outs):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("small", [(3, 1), (1, 3, 1), (4,), (2, 1, 4), ()])
def test_unbroadcast_sums_leading_and_size_one_dims_together(small, create_graph):
    """A gradient summed back over leading dims and size-1 dims at once: first-order walks
    sum the array in one NumPy call, create_graph walks through sum and view rows."""
    rng = np.random.default_rng(3)
    big_values = rng.standard_normal((2, 3, 4)).tolist()
    small_values = rng.standard_normal(small).tolist()
    grads = []
    for k, mod in enumerate((engine, torch)):
        big, tiny = _pair(big_values)[k], _pair(small_values)[k]
        y = (mod.sin(big * tiny) + tiny).sum()
        (g,) = (engine.autograd if mod is engine else torch.autograd).grad(
            y, tiny, create_graph=create_graph)
        grads.append(g)
    ours, theirs = grads
    assert tuple(ours.shape) == tuple(theirs.shape) == small
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    if create_graph:
        assert ours.grad_fn.name() == theirs.grad_fn.name()


@pytest.mark.parametrize("name", ["tanh_backward", "sigmoid_backward"])
@pytest.mark.parametrize("shapes", [((64, 64), (64, 64)), ((64, 64), (64,)), ((64,), (64, 64))])
def test_derivative_kernels_write_only_their_own_temporary(name, shapes):
    """From _IN_PLACE_MIN elements the kernels fuse their passes into one fresh array: the
    same values as torch's kernel, and neither input changed."""
    from engine.ops.elementwise import _IN_PLACE_MIN
    assert max(np.prod(s) for s in shapes) >= _IN_PLACE_MIN
    rng = np.random.default_rng(5)
    grad_output, output = (rng.uniform(0.1, 0.9, s).astype(np.float32) for s in shapes)
    before = (grad_output.copy(), output.copy())
    ours = getattr(engine.F, name)(engine.tensor(grad_output), engine.tensor(output))
    theirs = getattr(torch.ops.aten, name)(torch.tensor(grad_output), torch.tensor(output))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(grad_output, before[0])
    np.testing.assert_array_equal(output, before[1])


def test_saved_attributes_are_properties_of_each_node_class_not_a_getattr():
    # a __getattr__ on Node would put every attribute read of every node (several per node
    # in the walk) on CPython's slow path; torch's _saved_<name> values still come through
    classes = [engine.graph.Node] + [r.node_class for r in table.ROWS.values()
                                     if hasattr(r, "node_class")]
    assert not [c for c in classes if any("__getattr__" in vars(k) for k in c.__mro__)]
    results = []
    for x in _pair([0.5, -1.5, 2.0]):
        y = x * 3
        z = y.tanh()
        w = x * y
        fns = (z.grad_fn, w.grad_fn, y.grad_fn)
        values = (z.grad_fn._saved_result, w.grad_fn._saved_self, w.grad_fn._saved_other,
                  y.grad_fn._saved_other)
        missing = []
        for fn, name in ((y.grad_fn, "_saved_foo"), (z.grad_fn, "_raw_saved_foo")):
            with pytest.raises(AttributeError):
                getattr(fn, name)
            missing.append(hasattr(fn, name))
        raw = hasattr(z.grad_fn, "_raw_saved_result")
        z.sum().backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            fns[0]._saved_result  # noqa: B018
        results.append((values, missing, raw))
    (ours, ours_missing, ours_raw), (theirs, theirs_missing, theirs_raw) = results
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a.detach().numpy() if hasattr(a, "detach") else a),
                                   np.asarray(b.detach().numpy() if hasattr(b, "detach") else b))
    assert ours_missing == theirs_missing and ours_raw == theirs_raw
