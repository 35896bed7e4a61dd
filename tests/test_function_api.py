"""autograd.Function's API beyond forward/backward: vjp as backward's other name,
setup_context (forward without ctx, defaults bound), saved_variables,
clear_saved_tensors_on_access, save_for_forward, InplaceFunction; against torch."""

import warnings

from support.functions import function
from support.pairs import assert_same


def test_vjp_is_backward_and_both_are_refused():
    def scenario(lib, log):
        Triple = function(lib, "Triple", forward=lambda ctx, x: x * 2,
                          vjp=lambda ctx, grad: grad * 3)
        Both = function(lib, "Both", forward=lambda ctx, x: x.clone(),
                        backward=lambda ctx, grad: grad, vjp=lambda ctx, grad: grad)
        Neither = function(lib, "Neither", forward=lambda ctx, x: x * 2)
        x = lib.ones(2, requires_grad=True)
        Triple.apply(x).sum().backward()
        log(x.grad)
        out = Both.apply(x)
        log(type(out.grad_fn).__name__)
        log.raises(lambda: out.sum().backward())
        log.raises(lambda: Neither.apply(x).sum().backward())
    assert_same(scenario)


def test_setup_context_style_binds_defaults():
    def scenario(lib, log):
        seen = []

        class Scale(lib.autograd.Function):
            @staticmethod
            def forward(x, factor=2.0, note=None):
                return x * factor

            @staticmethod
            def setup_context(ctx, inputs, output):
                seen.append((len(inputs), inputs[1:], type(output).__name__))
                ctx.save_for_backward(inputs[0])
                ctx.factor = inputs[1]

            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return grad * ctx.factor * x, None, None

        x = lib.tensor([1.0, 2.0], requires_grad=True)
        out = Scale.apply(x)
        log(out, type(out.grad_fn).__name__)
        out.sum().backward()
        log(x.grad)
        Scale.apply(x, 3.0).sum().backward()
        log(x.grad)
        Scale.apply(x, factor=5.0).sum().backward()
        log(x.grad, seen)

        class NoSetup(lib.autograd.Function):
            @staticmethod
            def forward(x):
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return grad

        log.raises(lambda: NoSetup.apply(x))
    assert_same(scenario)


def test_saved_variables_and_clear_on_access():
    def scenario(lib, log):
        class Square(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, grad):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    (x,) = ctx.saved_variables
                log([str(w.message) for w in caught], [w.category.__name__ for w in caught])
                return 2 * x * grad

        def save_and_double(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        def read_twice(ctx, grad):
            (a,) = ctx.saved_tensors
            log.raises(lambda: ctx.saved_tensors)
            return grad * a

        Once = function(lib, "Once", save_and_double, read_twice,
                        clear_saved_tensors_on_access=True)

        x = lib.tensor([1.0, 3.0], requires_grad=True)
        Square.apply(x).sum().backward()
        log(x.grad)
        y = Once.apply(x)
        y.sum().backward(retain_graph=True)
        log(x.grad)
        log.raises(lambda: y.sum().backward())
        z = Once.apply(x)
        log(z.grad_fn.saved_tensors)
        log.raises(lambda: z.grad_fn.saved_tensors)
    assert_same(scenario)


def test_save_for_forward_and_inplace_function():
    def scenario(lib, log):
        def keep(ctx, x):
            ctx.save_for_forward(x, None)
            log.raises(lambda: ctx.save_for_forward(x, 3))
            return x * 2

        Keep = function(lib, "Keep", forward=keep, backward=lambda ctx, grad: grad * 2)

        x = lib.ones(2, requires_grad=True)
        Keep.apply(x).sum().backward()
        log(x.grad)

        class AddOne(lib.autograd.function.InplaceFunction):
            @staticmethod
            def forward(ctx, t):
                ctx.mark_dirty(t)
                return t.add_(1)

            @staticmethod
            def backward(ctx, grad):
                return grad

        a = x.clone()
        out = AddOne.apply(a)
        out.sum().backward()
        log(out, x.grad)
        log(issubclass(lib.autograd.function.InplaceFunction, lib.autograd.Function))
    assert_same(scenario)


def test_vmap_names_and_unmaterialized_non_differentiable_grads():
    def scenario(lib, log):
        def pair(materialize):
            class Pair(lib.autograd.Function):
                @staticmethod
                def forward(ctx, x):
                    kept, marked = x * 2, x * 3
                    ctx.mark_non_differentiable(marked)
                    # torch's switch: the marked output's gradient stays None in backward
                    # instead of zeros, while materialize_grads still fills the others
                    ctx._materialize_non_diff_grads = materialize
                    return kept, marked, x * 4

                @staticmethod
                def backward(ctx, g_kept, g_marked, g_last):
                    log(g_kept, g_marked, g_last)
                    return g_kept * 2
            return Pair

        # torch.func's vmap is not modelled, but a Function has torch's names for it
        log(pair(True).generate_vmap_rule, callable(pair(True).vmap))
        log.raises(pair(True).vmap, None, (0,), lib.ones(2))
        for materialize in (True, False):
            x = lib.ones(2, requires_grad=True)
            kept, marked, _ = pair(materialize).apply(x)
            log(marked.requires_grad)
            kept.sum().backward()
            log(x.grad)
    assert_same(scenario)
