"""Memory formats and strides against torch: torch.channels_last / channels_last_3d /
contiguous_format / preserve_format; contiguous(), clone(), to(), is_contiguous() and the
*_like factories with a memory_format (preserve_format, their default, keeps the input's
layout); torch.empty_strided; and the layout contract of a leaf's .grad (the leaf's strides
where the leaf is non-overlapping and dense, row-major otherwise), for broadcast and
computed gradients, backward and create_graph alike."""

import warnings

import pytest
from support.pairs import assert_same


def test_formats_copies_and_checks():
    def scenario(lib, log):
        log(repr(lib.channels_last), repr(lib.channels_last_3d), repr(lib.contiguous_format),
            repr(lib.preserve_format))
        x = lib.rand(2, 3, 4, 5, requires_grad=True)
        cl = x.contiguous(memory_format=lib.channels_last)
        log(cl.stride(), cl.is_contiguous(), cl.is_contiguous(memory_format=lib.channels_last),
            type(cl.grad_fn).__name__, cl.contiguous(memory_format=lib.channels_last) is cl)
        log(cl.contiguous().stride(), cl.clone().stride(), (cl * 2).stride(),
            cl.clone(memory_format=lib.contiguous_format).stride())
        moved = x.to(memory_format=lib.channels_last)
        log(moved.stride(), type(moved.grad_fn).__name__, moved.to(
            memory_format=lib.channels_last) is moved, x.to(memory_format=lib.preserve_format) is x)
        both = x.to(lib.float64, memory_format=lib.channels_last)
        log(both.dtype, both.stride(), type(both.grad_fn).__name__)
        (both * lib.arange(5.0, dtype=lib.float64)).sum().backward()
        log(x.grad.stride(), x.grad.dtype, x.grad.sum())
        log(lib.ones(2, 1, 3, 1).contiguous(memory_format=lib.channels_last).stride())
        v = lib.rand(1, 2, 3, 4, 5).contiguous(memory_format=lib.channels_last_3d)
        log(v.stride(), v.is_contiguous(memory_format=lib.channels_last_3d),
            v.is_contiguous(memory_format=lib.channels_last))
        flat = lib.rand(2, 3)
        log(flat.is_contiguous(memory_format=lib.channels_last),
            flat.is_contiguous(memory_format=lib.preserve_format),
            flat.t().is_contiguous(memory_format=lib.preserve_format))
        log.raises(lambda: flat.contiguous(memory_format=lib.channels_last))
        log.raises(lambda: flat.clone(memory_format=lib.channels_last_3d))
        log.raises(lambda: flat.to(memory_format=lib.channels_last))
    assert_same(scenario)


def test_empty_strided():
    def scenario(lib, log):
        c = lib.empty_strided((2, 2), (4, 2))
        log(c.stride(), c.shape, c.dtype, c.is_contiguous(), c.untyped_storage().nbytes())
        c.copy_(lib.tensor([[1.0, 2.0], [3.0, 4.0]]))
        log(c, c.stride(), c._base is None)
        log(lib.empty_strided((2, 3), (1, 2), dtype=lib.int64).stride(),
            lib.empty_strided((2, 2), (0, 1)).stride(), lib.empty_strided((0, 2), (4, 2)).shape)
        r = lib.empty_strided((2,), (3,), requires_grad=True)
        log(r.requires_grad, r.is_leaf)
        log.raises(lambda: lib.empty_strided((2, 2), (2,)))
        log.raises(lambda: lib.empty_strided((2, 2), (-1, 1)))
        log.raises(lambda: lib.empty_strided((2, -2), (1, 1)))
    assert_same(scenario)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "transposed", "gapped"])
def test_leaf_grad_takes_the_leaf_layout(layout):
    def scenario(lib, log):
        def leaf():
            if layout == "contiguous":
                t = lib.rand(2, 3, 4, 5)
            elif layout == "channels_last":
                t = lib.rand(2, 3, 4, 5).contiguous(memory_format=lib.channels_last)
            elif layout == "transposed":
                t = lib.rand(5, 4, 3, 2).permute(3, 2, 1, 0)
            else:  # not dense: the .grad is row-major
                t = lib.empty_strided((2, 3, 4, 5), (240, 40, 10, 2)).copy_(lib.rand(2, 3, 4, 5))
            return t.requires_grad_()

        a, b = leaf(), lib.rand(2, 3, 4, 5).contiguous(memory_format=lib.channels_last)
        a.sum().backward()  # a broadcast gradient
        log(a.grad.stride())
        a.grad = None
        (a * b).sum().backward()  # a computed one
        log(a.grad.stride())
        (a * b).sum().backward()  # accumulated into the first
        log(a.grad.stride())
        a.grad = None
        (a.permute(0, 2, 3, 1) * 3).sum().backward()
        log(a.grad.stride())
        a.grad = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (create_graph's reference-cycle warning)
            (a * b).sum().backward(create_graph=True)
        log(a.grad.stride())
        g, = lib.autograd.grad((a * 2).sum(), a)
        log(g.stride())
    assert_same(scenario)


def test_advanced_indexing_with_a_channels_last_index():
    def scenario(lib, log):
        index = lib.tensor([[[[0, 1]]], [[[1, 0]]]]).expand(2, 8, 1, 2).contiguous(
            memory_format=lib.channels_last)
        x = lib.arange(32.0).reshape(2, 8, 1, 2).requires_grad_()
        y = x[index]
        log(index.stride(), y.shape)
        y.sum().backward()
        log(x.grad)
    assert_same(scenario)


@pytest.mark.parametrize("layout", ["channels_last", "transposed", "gapped", "gapped_transposed",
                                    "gapped_channels_last"])
def test_like_factories_keep_the_input_layout(layout):
    def scenario(lib, log):
        x = {"channels_last": lambda: lib.rand(2, 3, 4, 5).contiguous(
                 memory_format=lib.channels_last),
             "transposed": lambda: lib.rand(4, 3).t(),
             "gapped": lambda: lib.rand(4, 6)[:, ::2],
             "gapped_transposed": lambda: lib.rand(6, 4)[::2].t(),
             "gapped_channels_last": lambda: lib.rand(2, 3, 4, 10).contiguous(
                 memory_format=lib.channels_last)[..., ::2]}[layout]()
        makers = (lib.zeros_like, lib.ones_like, lib.empty_like, lambda t, **k: lib.full_like(
            t, 2.5, **k), lib.rand_like, lib.randn_like)
        log([make(x).stride() for make in makers])
        log([make(x, memory_format=lib.contiguous_format).stride() for make in makers])
        log([make(x, memory_format=lib.preserve_format).stride() for make in makers])
        log(lib.zeros_like(x, dtype=lib.float64).stride(), lib.full_like(x, 3).sum())
        if x.dim() == 4:
            log([make(x, memory_format=lib.channels_last).stride() for make in makers])
        else:
            log.raises(lambda: lib.ones_like(x, memory_format=lib.channels_last))
    assert_same(scenario)
