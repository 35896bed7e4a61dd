"""torch.eye, rand_like / randn_like (dtype, requires_grad), randint, bernoulli,
Tensor.bernoulli_ and Tensor.new_zeros/new_ones/new_empty/new_full/new_tensor: what does not depend on the draws is compared with torch (dtypes,
shapes, leaves, grad_fn names, zero gradients, error texts); the draws by their law."""

import warnings

import numpy as np
from support.pairs import assert_same

import engine


def test_eye_like_torch():
    def scenario(lib, log):
        log(lib.eye(3), lib.eye(2, 3, dtype=lib.float64), lib.eye(3, 1))
        e = lib.eye(2, requires_grad=True)
        log(e.is_leaf, e.requires_grad)
        (e * 3).sum().backward()
        log(e.grad)
        log.raises(lambda: lib.eye(-1))
        log.raises(lambda: lib.eye(2, -2))
    assert_same(scenario)


def test_random_like_and_randint_metadata():
    def scenario(lib, log):
        x = lib.ones(2, 3, requires_grad=True)
        for fn in (lib.rand_like, lib.randn_like):
            r = fn(x)
            log(r.dtype, r.shape, r.requires_grad, r.is_leaf)
            r = fn(x, dtype=lib.float64, requires_grad=True)
            log(r.dtype, r.shape, r.requires_grad, r.is_leaf)
            log(fn(lib.ones(2, dtype=lib.long), dtype=lib.float32).dtype)
        log.raises(lambda: lib.rand_like(lib.ones(2, dtype=lib.long)))
        log.raises(lambda: lib.randn_like(lib.ones(2, dtype=lib.long)))
        log(lib.randint(3, 10, (2, 2)).dtype, lib.randint(5, (3,)).shape,
            lib.randint(3, (2,), dtype=lib.float32).dtype)
        log.raises(lambda: lib.randint(3, 1, (2,)))
    assert_same(scenario)


def test_draws_follow_their_law_and_seeds_repeat():
    x = engine.zeros(20000)
    u = engine.rand_like(x, seed=1).numpy()
    n = engine.randn_like(x, seed=1).numpy()
    assert 0.0 <= u.min() and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.02
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1.0) < 0.03
    assert np.array_equal(engine.rand_like(x, seed=4).numpy(), engine.rand_like(x, seed=4).numpy())
    k = engine.randint(3, 7, (20000,)).numpy()
    assert set(np.unique(k)) == {3, 4, 5, 6}
    p = engine.full((20000,), 0.25)
    b = engine.bernoulli(p).numpy()
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.25) < 0.02


def test_bernoulli_graph_like_torch():
    def scenario(lib, log):
        x = lib.tensor([0.2, 0.7, 1.0], requires_grad=True)
        out = lib.bernoulli(x)
        log(type(out.grad_fn).__name__, out.dtype, set(out.tolist()) <= {0.0, 1.0})
        out.sum().backward()
        log(x.grad)  # the draw's derivative is zero
        y = x.clone()
        y.bernoulli_(0.5)
        log(type(y.grad_fn).__name__, set(y.tolist()) <= {0.0, 1.0})
        z = x.clone()
        z.bernoulli_(x.detach())
        log(type(z.grad_fn).__name__)
        (y + z).sum().backward()
        log(x.grad)
        log(lib.bernoulli(lib.tensor([0.0, 1.0])))
    assert_same(scenario)


def test_new_zeros_ones_empty_full_tensor_follow_self():
    def scenario(lib, log):
        x = lib.ones(2, 2, dtype=lib.float64, requires_grad=True)
        log(x.new_zeros(2, 3), x.new_zeros((1, 2)), x.new_zeros(lib.Size([2])), x.new_zeros(()))
        log(x.new_ones(3), x.new_ones([2], dtype=lib.int32), x.new_empty(0).shape,
            x.new_empty(2, 1).dtype)
        log(x.new_full((2,), 3), x.new_full((2,), True), lib.ones(2, dtype=lib.long).new_full(
            (2,), 2.7))
        log(x.new_tensor([1, 2]), lib.ones(1, dtype=lib.int32).new_tensor([1.5, 2.5]))
        r = x.new_zeros(2, requires_grad=True)
        log(r, r.is_leaf)
        (r * 2).sum().backward()
        log(r.grad, x.grad)
        log.raises(lambda: x.new_zeros(-1))
        log.raises(lambda: lib.ones(2, dtype=lib.long).new_ones(2, requires_grad=True))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            copy = x.new_tensor(x * 2)
        log(copy, copy.is_leaf, [str(w.message) for w in caught])
        log(caught[0].filename == __file__)
    assert_same(scenario)
