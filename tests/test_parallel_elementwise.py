"""Large elementwise ops on the intra-op threads (NOTE [parallel elementwise] in
engine/parallel.py): the same bits as one call on one thread, torch's values, and
set_num_threads / get_num_threads as torch's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import engine
from engine import parallel

N = 3 * (1 << 20) + 12345  # over the threshold, and not a multiple of a piece


@pytest.fixture
def threads():
    before = engine.get_num_threads()
    yield
    engine.set_num_threads(before)


def _inputs(lib, dtype):
    rng = np.random.default_rng(0)
    a = rng.uniform(0.1, 2.0, N).astype(dtype)
    b = rng.uniform(0.1, 2.0, N).astype(dtype)
    return (lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True))


CASES = {
    "sin-exp-pow": lambda m, x, y: (m.sin(x) * m.exp(-y ** 2) + x / 3).sum(),
    "add-alpha-sub": lambda m, x, y: (m.add(x, y, alpha=2.5) - y * 0.5).sum(),
    "tanh-sigmoid": lambda m, x, y: (m.tanh(x) * m.sigmoid(y)).sum(),
    "clamp-where": lambda m, x, y: m.where(x > y, m.clamp(x, 0.5, 1.5), y.sqrt()).sum(),
    "div-log-abs": lambda m, x, y: (x.log() / y + (x - y).abs()).sum(),
    "pow-tensor": lambda m, x, y: (x ** y).sum(),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_threads_give_the_same_bits_and_torchs_values(threads, case, dtype):
    fn = CASES[case]
    grads = {}
    for n in (1, 2):
        engine.set_num_threads(n)
        x, y = _inputs(engine, dtype)
        out = fn(engine, x, y)
        out.backward()
        grads[n] = (out.item(), x.grad.numpy(), y.grad.numpy())
    assert grads[1][0] == grads[2][0]
    np.testing.assert_array_equal(grads[1][1], grads[2][1])
    np.testing.assert_array_equal(grads[1][2], grads[2][2])
    tx, ty = _inputs(torch, dtype)
    tout = fn(torch, tx, ty)
    tout.backward()
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(grads[2][1], tx.grad.numpy(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(grads[2][2], ty.grad.numpy(), rtol=rtol, atol=rtol)


def test_the_threads_run_the_pieces(threads):
    engine.set_num_threads(2)
    seen = set()
    x = engine.tensor(np.linspace(0.0, 1.0, N, dtype=np.float32))

    def forward(a):
        import threading
        seen.add(threading.current_thread().name)
        return np.cos(a)

    out = parallel.run(forward, [x.numpy()], (N,))
    np.testing.assert_array_equal(out, np.cos(x.numpy()))
    assert len(seen) == 2  # the caller and one pool thread
    assert out.base is None  # owns its memory, as one call's result: not taken for a view


def test_a_forward_that_returns_a_view_runs_whole(threads):
    engine.set_num_threads(2)
    a = np.ones(N, dtype=np.float32)
    out = parallel.run(lambda v: v, [a], (N,))
    assert out is a  # not a copy in pieces: a view must stay a view


def test_errstate_holds_in_every_thread(threads):
    engine.set_num_threads(2)
    a = np.zeros(N, dtype=np.float32)
    with np.errstate(divide="raise"):
        with pytest.raises(FloatingPointError):
            parallel.run(lambda v: 1.0 / v, [a], (N,))
    a[:-1] = 1.0  # the only zero is in the last piece, on a pool thread
    with np.errstate(divide="raise"):
        with pytest.raises(FloatingPointError):
            parallel.run(lambda v: 1.0 / v, [a], (N,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="ignore"):
            assert np.isinf(parallel.run(lambda v: 1.0 / v, [a], (N,))[-1])


def test_small_broadcast_or_strided_inputs_run_whole(threads):
    engine.set_num_threads(2)
    big = np.ones(N, dtype=np.float32)
    assert parallel.splittable([big[:1000]]) is None  # small
    assert parallel.splittable([big, big[:1]]) is None  # broadcast
    assert parallel.splittable([np.ones((2, N), np.float32)[:, ::2]]) is None  # strided
    assert parallel.splittable([big, 2.0]) == (N,)
    engine.set_num_threads(1)
    assert parallel.splittable([big]) is None


def test_set_num_threads_as_torch(threads):
    engine.set_num_threads(3)
    assert engine.get_num_threads() == 3
    for bad in (0, -1, 1.5):
        with pytest.raises(RuntimeError):
            engine.set_num_threads(bad)
        with pytest.raises(RuntimeError):
            torch.set_num_threads(bad)
