"""engine/_arraycache.c, NumPy's allocator around the engine's large work: reused blocks
never alias live arrays, zeroed allocations are zero, limits hold, user arrays stay NumPy's,
and large gradients are still torch's."""

import os
import threading

import numpy as np
import pytest
import torch

import engine
from engine import array_cache

handler_name = np._core.multiarray.get_handler_name

if not array_cache.available():
    if os.environ.get("CI"):
        raise RuntimeError("engine._arraycache was not built (pip install -e . needs a C "
                           "compiler)")
    pytest.skip("engine._arraycache not built", allow_module_level=True)

N = 2_000_000  # 8 MB of float32: above the 4 MiB floor


@pytest.fixture(autouse=True)
def fresh_cache():
    old = array_cache.stats()["limit_bytes"]
    array_cache.set_limit(1 << 30)
    array_cache.empty_cache()
    yield
    array_cache.set_limit(old)
    array_cache.empty_cache()


def elementwise(mod, x_np):
    x = mod.tensor(x_np, requires_grad=True)
    y = mod.sin(x) * mod.exp(-x ** 2) + x / 3
    y.sum().backward()
    return x, y


def test_large_gradients_match_torch_and_reuse_blocks():
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(N).astype(np.float32)
    tx, ty = elementwise(torch, x_np)
    first = elementwise(engine, x_np)
    hits = array_cache.stats()["hits"]
    x, y = elementwise(engine, x_np)
    assert array_cache.stats()["hits"] > hits  # the second call reused freed blocks
    for ours in (first, (x, y)):
        np.testing.assert_allclose(ours[1].detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours[0].grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert handler_name(x.grad.numpy()) == "engine_array_cache"


def test_reused_blocks_never_alias_live_arrays():
    rng = np.random.default_rng(1)
    kept = []
    for _ in range(4):
        x, y = elementwise(engine, rng.standard_normal(N).astype(np.float32))
        kept.append((x.grad, y.detach(), x.grad.numpy().copy(), y.detach().numpy().copy()))
        del x, y
    for grad, out, grad_copy, out_copy in kept:
        np.testing.assert_array_equal(grad.numpy(), grad_copy)
        np.testing.assert_array_equal(out.numpy(), out_copy)
    ptrs = [t.numpy().ctypes.data for g, o, _, _ in kept for t in (g, o)]
    assert len(set(ptrs)) == len(ptrs)


def test_small_work_and_user_arrays_keep_numpys_allocator():
    x = engine.tensor(np.ones(10, np.float32), requires_grad=True)
    assert handler_name((x * 2).detach().numpy()) == "default_allocator"
    big = engine.tensor(np.ones(N, np.float32))
    assert handler_name((big * 2).numpy()) == "engine_array_cache"
    assert handler_name(np.ones(N, np.float32) * 2) == "default_allocator"


def test_zeroed_allocations_are_zero_after_reuse():
    token = array_cache.use()
    try:
        a = np.full(N, 7.0, np.float32)
        del a  # its block goes to the cache, full of 7s
        z = np.zeros(N, np.float32)
    finally:
        array_cache.restore(token)
    assert array_cache.stats()["hits"] >= 1
    assert not z.any()


def test_resize_keeps_data():
    token = array_cache.use()
    try:
        a = np.arange(N, dtype=np.float32)
        a.resize(N // 2, refcheck=False)  # shrinks within its block
        np.testing.assert_array_equal(a, np.arange(N // 2, dtype=np.float32))
        a.resize(N * 2, refcheck=False)  # grows: a new block, data copied
        np.testing.assert_array_equal(a[:N // 2], np.arange(N // 2, dtype=np.float32))
        assert not a[N // 2:].any()  # numpy zero-fills the grown part
    finally:
        array_cache.restore(token)


def test_limit_bounds_what_is_kept():
    array_cache.set_limit(20 << 20)
    token = array_cache.use()
    try:
        arrays = [np.ones(N, np.float32) for _ in range(8)]  # ~8 MB each
        del arrays
    finally:
        array_cache.restore(token)
    assert 0 < array_cache.stats()["cached_bytes"] <= 20 << 20
    array_cache.set_limit(0)
    assert array_cache.stats()["cached_bytes"] == 0
    assert not array_cache.enabled
    big = engine.tensor(np.ones(N, np.float32))
    assert handler_name((big * 2).numpy()) == "default_allocator"


def test_bad_limit_is_refused():
    with pytest.raises(ValueError):
        array_cache.set_limit(-1)


def test_threads_allocate_and_free_concurrently():
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        token = array_cache.use()
        try:
            for _ in range(20):
                v = rng.standard_normal()
                a = np.full(N // 2 + seed * 4096, v, np.float32)
                if not (a == np.float32(v)).all():
                    errors.append(seed)
        finally:
            array_cache.restore(token)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert array_cache.stats()["hits"] > 0


def test_arrays_freed_outside_the_scope_return_to_the_cache():
    token = array_cache.use()
    try:
        a = np.ones(N, np.float32)
    finally:
        array_cache.restore(token)
    before = array_cache.stats()["cached_bytes"]
    del a  # freed with NumPy's default allocator current: still ours to keep
    assert array_cache.stats()["cached_bytes"] > before
