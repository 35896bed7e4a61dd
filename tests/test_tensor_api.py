"""Tensor API around memory, identity and dtypes, and the small ops torch's autograd tests
lean on: stride, storage, _base, resize_, del .grad, pickling, calling a grad_fn,
set_multithreading_enabled, legacy constructors, int8/int16, allclose, out=, masked_fill,
all/any, isin, signbit, as_strided, unsafe_split, the module constants inf/nan/e/pi;
against torch."""

import pickle
import warnings

import pytest
from support.pairs import assert_same


def test_strides_offsets_bases_and_storage():
    def scenario(lib, log):
        x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        log(x.stride(), x.t().stride(), x.t().stride(0), x.stride(-1))
        d = x.detach()
        row = d[1]
        log(row.storage_offset(), d[:, 1:].storage_offset(), row.data_ptr() - d.data_ptr())
        log(x._base is None, x[0]._base is x, x[0][1:]._base is x, d.t()._base is d)
        log(x._is_view(), x[0]._is_view())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            storage = row.storage()
        log(storage.size(), row.untyped_storage().nbytes(),
            row.untyped_storage().data_ptr() == x.untyped_storage().data_ptr())
    assert_same(scenario)


def test_resize_and_deleting_grad():
    def scenario(lib, log):
        w = lib.ones(3)
        w.resize_(2, 2)
        log(w.shape)
        w.resize_(2)
        log(w, w.shape)
        x = lib.ones(3, requires_grad=True)
        log.raises(lambda: x.resize_(2))
        (x * 2).sum().backward()
        log(x.grad)
        del x.grad
        log(x.grad)
        (x * 3).sum().backward()
        log(x.grad)
    assert_same(scenario)


@pytest.mark.parametrize("protocol", [0, 1, 2, pickle.HIGHEST_PROTOCOL])
def test_pickling(protocol):
    def scenario(lib, log):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        x.grad = lib.ones(2, 2)
        for t in (x, x * 2, lib.tensor([1, 2]), x[0]):
            back = pickle.loads(pickle.dumps(t, protocol=protocol))
            log(back, back.requires_grad, back.is_leaf, back.grad)
    assert_same(scenario)


def test_calling_a_grad_fn():
    def scenario(lib, log):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        log(y.grad_fn(lib.ones(2)))
        log((x * 2).grad_fn(lib.ones(2)))
        log((x * x).grad_fn(lib.ones(2)))
        with lib.no_grad():
            log(y.grad_fn(lib.ones(2)).requires_grad)
        log.raises(lambda: y.grad_fn(lib.ones(2), lib.ones(2)))
    assert_same(scenario)


def test_multithreading_switch_and_legacy_constructors():
    def scenario(lib, log):
        x = lib.ones(2, requires_grad=True)
        with lib.autograd.set_multithreading_enabled(False) as entered:
            (x * 2).sum().backward()
        log(entered, x.grad)
        for make in (lib.LongTensor, lib.BoolTensor, lib.DoubleTensor, lib.FloatTensor):
            log(make([1, 0, 2]), make(2, 3).shape, make(2).dtype)
    assert_same(scenario)


def test_int8_and_int16():
    def scenario(lib, log):
        a = lib.tensor([1, -2, 3], dtype=lib.int8)
        b = lib.tensor([100, 2, 3], dtype=lib.uint8)
        c = lib.tensor([1, 2, 3], dtype=lib.int16)
        for r in (a + 1, a + b, a + c, c * 2.5, a.float().to(lib.int16), a + 100, c // 2):
            log(r)
        log(a.type(), c.type(), lib.ones(2, dtype=lib.short).dtype, a.element_size())
        x = lib.ones(3, requires_grad=True)
        (x * a).sum().backward()
        log(x.grad)
        log.raises(lambda: a.requires_grad_())
        log(x.to(lib.int8))
    assert_same(scenario)


def test_allclose_and_out():
    def scenario(lib, log):
        a = lib.tensor([1.0, float("nan"), 3.0])
        log(lib.allclose(a, a), lib.allclose(a, a, equal_nan=True))
        log(lib.allclose(lib.ones(2), lib.ones(2) + 1e-6), lib.ones(2).allclose(lib.ones(1)))
        log(lib.allclose(lib.ones(2), lib.ones(2) + 0.1, atol=0.2))
        log(lib.equal(a, a), lib.ones(2).equal(lib.ones(2)), lib.equal(lib.ones(2), lib.ones(1)))
        log.raises(lambda: lib.allclose(lib.ones(2), lib.ones(2, dtype=lib.float64)))
        log.raises(lambda: lib.allclose(lib.ones(2), lib.ones(3)))
        s = lib.ones(2, requires_grad=True)
        out = lib.zeros(2)
        log.raises(lambda: lib.mul(s, s, out=out))
        log.raises(lambda: lib.exp(s, out=out))
        r = lib.mul(s.detach(), 3, out=out)
        log(r is out, out)
        with lib.no_grad():
            log(lib.mul(s, s, out=lib.zeros(2)))
        log.raises(lambda: lib.mul(lib.ones(2), 1.5, out=lib.zeros(2, dtype=lib.long)))
        log.raises(lambda: lib.mul(lib.ones(2), 2, out=lib.zeros(2, requires_grad=True)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grown = lib.zeros(3)
            lib.add(lib.ones(2), 1, out=grown)
        log(grown)
    assert_same(scenario)


def test_masked_fill_all_any_isin():
    def scenario(lib, log):
        x = lib.tensor([[1.0, -2.0, 3.0], [-4.0, 5.0, 6.0]], requires_grad=True)
        mask = x.detach() < 0
        y = x.masked_fill(mask, 0.5)
        log(y)
        y.sum().backward()
        log(x.grad)
        v = lib.tensor(2.0, requires_grad=True)
        z = x.masked_fill(mask, v)
        log(z)
        (z * z).sum().backward()
        log(v.grad)
        w = x.clone()
        w.masked_fill_(mask, 7.0)
        log(w)
        log.raises(lambda: x.masked_fill(x.detach(), 1.0))
        log(x.all(), (x > 0).all(1), lib.any(x > 5, 0), (x > 0).any(dim=1, keepdim=True))
        log(lib.all(lib.tensor([], dtype=lib.bool)), lib.all(lib.tensor([1, 0], dtype=lib.uint8)))
        log(lib.isin(lib.tensor([[1, 2], [3, 4]]), lib.tensor([2, 3])))
        log(lib.isin(lib.tensor([1.0, 2.0, 5.0]), lib.tensor([5.0]), invert=True))
    assert_same(scenario)


def test_as_strided_and_unsafe_split():
    def scenario(lib, log):
        x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        y = x.as_strided((2, 2), (1, 2))
        log(y)
        (y * lib.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
        log(x.grad)
        x.grad = None
        z = x.as_strided((3, 2), (1, 1), 1)  # overlapping windows: gradients add up
        z.sum().backward()
        log(x.grad)
        log.raises(lambda: x.as_strided((4, 4), (4, 1)))
        x.grad = None
        pieces = x.unsafe_split(2, 1)
        log([type(p.grad_fn).__name__ for p in pieces], pieces)
        (pieces[0] * 2).sum().backward()
        log(x.grad)
    assert_same(scenario)


def test_inplace_comparisons():
    def scenario(lib, log):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        other = lib.tensor([1.0, 0.0, 3.0], requires_grad=True)
        y = x.clone()
        log(y.eq_(2) is y, y)
        z = x.clone()
        z.lt_(other)
        log(z)
        (y + z).sum().backward()
        log(x.grad, other.grad)
        log.raises(lambda: x.eq_(1))
        w = lib.ones(2)
        w.ge_(1)
        log(w)
        for name in ("ne_", "le_", "gt_"):
            v = x.clone()
            getattr(v, name)(2.0)
            log(v)
    assert_same(scenario)


def test_module_constants_inf_nan_e_pi():
    def scenario(lib, log):
        log(type(lib.inf).__name__, repr(lib.inf), repr(lib.nan), repr(lib.e), repr(lib.pi))
        f = lib.zeros(1, 1, dtype=lib.double)
        for value in (lib.inf, -lib.inf, lib.nan, lib.pi):
            f[0] = value
            log(repr(float(f)), bool(f))
            log.raises(lambda: int(f))
        b = lib.tensor([1.0, 0.0, -1.0], requires_grad=True)
        (lib.tensor([0.0, 0.0, 0.0]) ** b).sum().backward()
        log(repr(b.grad.tolist()))
    assert_same(scenario)


def test_signbit_gives_bools_without_a_graph():
    def scenario(lib, log):
        x = lib.tensor([[-0.0, 1.5], [-2.0, 0.0]], requires_grad=True)
        log(lib.signbit(x), x.signbit(), lib.signbit(x).is_leaf)
        log(lib.tensor([3, -4, 0]).signbit(), lib.tensor([True, False]).signbit())
        log(lib.signbit(lib.tensor(float("-inf"))), lib.signbit(x * 2))
    assert_same(scenario)


@pytest.mark.parametrize("split", ["unsafe_split", "unsafe_split_with_sizes", "unsafe_chunk"])
def test_unsafe_split_pieces_share_memory_but_are_not_views(split):
    def scenario(lib, log):
        a = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], requires_grad=True)
        b = a * 2
        how = {"unsafe_split": lambda t: t.unsafe_split(1),
               "unsafe_split_with_sizes": lambda t: t.unsafe_split_with_sizes((1, 1, 1)),
               "unsafe_chunk": lambda t: t.unsafe_chunk(3)}[split]
        s1, s2, s3 = how(b)
        log([p._base is None for p in (s1, s2, s3)], s1._version, b._version)
        s1.mul_(s2)  # allowed, unlike split's views; b's memory changes, its graph does not
        log(s1, b, s1._version, s2._version, b._version)
        s1.sum().backward(retain_graph=True)
        log(a.grad)
        a.grad = None
        (s3 * 3).sum().backward()
        log(a.grad)
        log(getattr(lib, split)(lib.ones(4, 2), 2, 1) if split != "unsafe_split_with_sizes"
            else lib.unsafe_split_with_sizes(lib.ones(4, 2), [3, 1]))
        log.raises(lambda: lib.unsafe_split_with_sizes(lib.ones(4), [1, 2]))
    assert_same(scenario)
