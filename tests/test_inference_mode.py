"""torch.inference_mode, is_inference_mode_enabled and inference tensors, against torch."""

import pytest
from support.pairs import assert_same


@pytest.fixture(params=[True, False], ids=["True", "False"])
def requires_grad(request):
    """Each test taking it runs twice: its normal leaves requiring grad, then not."""
    return request.param


def _leaf_and_clone(lib, requires_grad):
    """A normal (1, 2, 3) leaf of ones and its clone, made outside inference mode."""
    s = lib.ones(1, 2, 3, requires_grad=requires_grad)
    return s, s.clone()


def test_mode_nests_and_restores_grad_mode():
    def scenario(lib, log):
        log(lib.is_inference_mode_enabled(), lib.is_grad_enabled())
        with lib.inference_mode():
            log(lib.is_inference_mode_enabled(), lib.is_grad_enabled())
            with lib.inference_mode(False):
                log(lib.is_inference_mode_enabled(), lib.is_grad_enabled())
            log(lib.is_inference_mode_enabled())
        with lib.no_grad(), lib.inference_mode(False):
            log(lib.is_grad_enabled())
        log(lib.is_inference_mode_enabled(), lib.is_grad_enabled())
        log(lib.autograd.grad_mode.inference_mode is lib.inference_mode)
    assert_same(scenario)


def test_decorator_with_and_without_parentheses(requires_grad):
    def scenario(lib, log):
        @lib.inference_mode()
        def square(x):
            log(lib.is_inference_mode_enabled())
            return x * x

        @lib.inference_mode
        def double(x):
            return x * 2

        c = lib.ones(2, 3, requires_grad=requires_grad)
        for out in (square(c), double(c)):
            log(lib.is_inference(out), out.is_inference(), out.requires_grad, out)
        log(lib.is_inference_mode_enabled())
    assert_same(scenario)


def test_tensors_made_inside(requires_grad):
    def scenario(lib, log):
        s, a = _leaf_and_clone(lib, requires_grad)
        with lib.inference_mode():
            c = lib.ones(1, 2, 3, requires_grad=requires_grad)
            log(c.is_inference(), c.requires_grad)
            t = lib.tensor([1.0, 2.0])
            log(t.is_inference(), lib.zeros_like(a).is_inference())
            for out in (c * c, c.view(-1), a.clone(), a * 2, a.sum()):
                log(out.is_inference(), out.requires_grad, out.grad_fn is None)
            # a view of a normal tensor, and a detach, stay normal
            v = a.view(-1)
            log(v.is_inference(), v.requires_grad, a.detach().is_inference())
            # in place on a normal tensor keeps it normal; on an inference one, inference
            a.add_(2)
            c.add_(1)
            log(a.is_inference(), a.requires_grad, c.is_inference(), c.requires_grad, c)
    assert_same(scenario)


def test_inference_tensors_used_outside(requires_grad):
    def scenario(lib, log):
        s = lib.ones(1, 2, 3, requires_grad=requires_grad)
        with lib.inference_mode():
            c = lib.ones(1, 2, 3, requires_grad=requires_grad)
        # ops of inference tensors alone record nothing
        out = c * c
        log(out.is_inference(), out.requires_grad, out.is_leaf)
        view = c.view(-1)
        log(view.is_inference(), view.requires_grad, view.is_leaf)
        # add saves nothing: mixing is fine, and the inference leaf gets its .grad
        mixed = c.add(s)
        log(mixed.is_inference(), mixed.requires_grad)
        if requires_grad:
            mixed.backward(lib.ones_like(mixed))
            log(c.grad, s.grad)
            log.raises(lambda: c * s)  # mul saves both: refused
        else:
            log(c * s)
        log(s.view_as(c).is_inference(), s.view_as(c).requires_grad)
        log(c.view_as(s).is_inference(), c.view_as(s).requires_grad)
    assert_same(scenario)


def test_inference_tensor_refuses_inplace_and_requires_grad_outside():
    def scenario(lib, log):
        with lib.inference_mode():
            c = lib.ones(2, 3)
        log.raises(lambda: c.add_(2))
        log.raises(lambda: c.mul_(2))
        log.raises(lambda: c.requires_grad_())
        log(c)
        with lib.inference_mode():
            c.add_(2)  # inside, allowed
        log(c, c.is_inference())
    assert_same(scenario)


def test_saved_tensor_changed_inside_inference_mode_is_caught():
    def scenario(lib, log):
        s, a = _leaf_and_clone(lib, True)
        out = a * a
        with lib.inference_mode():
            a.add_(2)
        log(a.is_inference())
        log.raises(lambda: out.backward(lib.ones_like(out)))
    assert_same(scenario)


def test_views_made_inside_then_modified_outside(requires_grad):
    def scenario(lib, log):
        s, a = _leaf_and_clone(lib, requires_grad)
        with lib.inference_mode():
            direct = a.view_as(a)
        log.raises(lambda: direct.add_(2))
        b = s.clone()
        with lib.inference_mode():
            indirect = b.view(-1)
        b.mul_(2)
        log.raises(lambda: indirect.grad_fn)
        log(b)
    assert_same(scenario)


INPLACE_FNS = {"add_": lambda x: x.add_(2), "transpose_": lambda x: x.transpose_(0, 1)}


@pytest.mark.parametrize("fn", INPLACE_FNS.values(), ids=INPLACE_FNS.keys())
def test_inplace_ops_across_the_mode_boundary(fn, requires_grad):
    def scenario(lib, log):
        with lib.inference_mode():
            c = lib.ones(1, 2, 3, requires_grad=requires_grad)
            fn(c)  # inference tensor, inside: stays one
            log(c.is_inference(), c.requires_grad, c.shape)
        if not requires_grad:
            log.raises(lambda: fn(c))  # outside: refused
        a = lib.ones(1, 2, 3, requires_grad=requires_grad).clone()
        with lib.inference_mode():
            fn(a)
            fn(a)
            log(a.is_inference(), a.requires_grad, a.shape, a.grad_fn is None)
            v = a.reshape(-1)
            log(v.is_inference(), v.requires_grad)
        fn(a)
        log(a.is_inference(), a.requires_grad, a.shape)
        b = lib.ones(1, 2, 3, requires_grad=requires_grad).clone()
        with lib.inference_mode():
            direct = b.view_as(b)
            indirect = b.view(-1)
        if requires_grad:
            log.raises(lambda: fn(direct))
        else:
            fn(direct)
        fn(b)
        log.raises(lambda: indirect.grad_fn)
    assert_same(scenario)


RESIZE_FNS = {"resize_": lambda lib, x: x.resize_(1, 2),
              "resize_as_": lambda lib, x: x.resize_as_(lib.ones(2, 1)),
              "copy_": lambda lib, x: x.copy_(lib.ones(1, 2, 3))}


@pytest.mark.parametrize("fn", RESIZE_FNS.values(), ids=RESIZE_FNS.keys())
def test_resize_and_copy_inside_the_mode(fn, requires_grad):
    def scenario(lib, log):
        with lib.inference_mode():
            c = lib.ones(1, 2, 3, requires_grad=requires_grad)
            fn(lib, c)  # inside, even a tensor that requires grad: nothing is recorded
            log(c.is_inference(), c.requires_grad, c.shape)
        log.raises(lambda: fn(lib, c))  # an inference tensor outside: a no-op resize passes
        log.raises(lambda: c.resize_(4))  # a new shape is refused, once made
        log(c.shape)
        a = lib.ones(1, 2, 3, requires_grad=requires_grad)
        with lib.inference_mode():
            fn(lib, a)  # a normal tensor inside: still counts versions
            log(a.is_inference(), a.requires_grad, a.shape, a._version, a.grad_fn is None)
        if requires_grad:
            log.raises(lambda: fn(lib, a))
    assert_same(scenario)


def test_transpose_in_place_records_its_node():
    def scenario(lib, log):
        s, a = _leaf_and_clone(lib, True)
        log(a.transpose_(0, 1) is a, a.shape, type(a.grad_fn).__name__, a.is_contiguous())
        a.transpose_(0, 1)
        log(a.shape, type(a.grad_fn).__name__)
        (a * lib.arange(6.0).view(1, 2, 3)).sum().backward()
        log(s.grad)
        log.raises(lambda: s.transpose_(0, 1))
        with lib.no_grad():
            m = lib.ones(2, 3)
            m.t_()
        log(m.shape)
    assert_same(scenario)


def test_inference_tensors_have_no_version_counter():
    def scenario(lib, log):
        with lib.inference_mode():
            c = lib.ones(2)
            v = c.view(-1)
        log.raises(lambda: c._version)
        log.raises(lambda: v._version)
        a = lib.ones(2)
        with lib.inference_mode():
            a.add_(1)  # a normal tensor keeps counting
            view = a.view(-1)
            view.add_(1)
        log(a._version, view._version, a)
    assert_same(scenario)


def test_views_of_normal_tensors_modified_inside(requires_grad):
    def scenario(lib, log):
        a = lib.ones(1, 2, 3, requires_grad=requires_grad).clone()
        with lib.inference_mode():
            out = a.view(-1)
            tmp = out.view(-1)
            log(lib.is_inference(tmp), tmp.requires_grad, tmp._is_view(), tmp.is_leaf)
            tmp.add_(2)
            log(lib.is_inference(tmp), tmp.requires_grad, a._version == tmp._version, a)
        with lib.inference_mode():
            c = lib.ones(1, 2, 3, requires_grad=requires_grad)
        o = c.view(-1)
        log(lib.is_inference(o), o.requires_grad, o._is_view(), o.is_leaf)
    assert_same(scenario)
