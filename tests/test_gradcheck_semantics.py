"""gradcheck as torch 2.13 runs it (slow mode): inputs perturbed in place (a function that
closes over its input sees the perturbation), outputs that change shape or dtype under
perturbation refused (AssertionError naming the index), a function without differentiable
outputs must have zero finite differences ("Numerical gradient for function expected to be
zero"), and outputs that do not require grad are left out of the comparison. torch is the
oracle, run side by side with the engine."""

import importlib

import pytest
import torch
from support.made_up_derivatives import scaled
from support.semantics_harness import stories

import engine


def outcome(fn):
    try:
        value = fn()
    except Exception as e:  # noqa: BLE001 - the kind of error is part of the outcome
        return type(e).__name__.replace("GradcheckError", "GradcheckError"), str(e)
    return "ok", value


def _double(lib, values):
    return lib.tensor(values, dtype=lib.float64, requires_grad=True)


def _closes_over_its_input(lib):
    x = _double(lib, [1.0, 2.0, 3.0])

    def f(_):
        return x * x  # reads x itself, not the argument

    return lib.autograd.gradcheck(f, (x,))


def _closes_over_its_input_wrong_formula(lib):
    x = _double(lib, [1.0, 2.0])

    def f(_):
        return (x * 3).detach().requires_grad_(True) * 1  # no path back to the argument

    return lib.autograd.gradcheck(f, (x,), raise_exception=False)


def _shape_changes(lib):
    x = _double(lib, [[1.0, 2.0], [3.0, 4.0]])
    state = {"calls": 0}

    def f(a):
        state["calls"] += 1
        return a * 2 if state["calls"] % 2 else (a * 2).reshape(-1)

    return lib.autograd.gradcheck(f, (x,))


def _dtype_changes(lib):
    x = _double(lib, [1.0, 2.0])
    state = {"calls": 0}

    def f(a):
        state["calls"] += 1
        return a * 2 if state["calls"] % 2 else (a * 2).to(lib.float32)

    return lib.autograd.gradcheck(f, (x,))


def _no_differentiable_output_constant(lib):
    x = _double(lib, [1.0, 2.0])
    return lib.autograd.gradcheck(lambda a: (a * 0).detach() + 1, (x,))


def _no_differentiable_output_varies(lib):
    x = _double(lib, [1.0, 2.0])
    return lib.autograd.gradcheck(lambda a: (a * 2).detach(), (x,))


def _no_differentiable_output_varies_no_raise(lib):
    x = _double(lib, [1.0, 2.0])
    return lib.autograd.gradcheck(lambda a: (a * 2).detach(), (x,), raise_exception=False)


def _non_differentiable_output_left_out(lib):
    x = _double(lib, [1.0, 2.0])
    return lib.autograd.gradcheck(lambda a: ((a * 2).detach(), a * 3), (x,))


def _mismatch_numbered_among_differentiable_outputs(lib):
    x = _double(lib, [1.0, 2.0])

    wrong = scaled(lib.autograd.Function, 3, 2)
    return lib.autograd.gradcheck(lambda a: ((a * 2).detach(), wrong.apply(a)), (x,))


def _inputs_restored(lib):
    x = _double(lib, [1.0, 2.0, 3.0])
    before = (x.tolist(), x._version)
    lib.autograd.gradcheck(lambda a: a.exp(), (x,))
    return before == (x.tolist(), x._version)


def _returns_a_view_of_its_input(lib):
    # the outputs are copied before the next perturbation (torch clones them): a view of
    # the input would otherwise read the restored values
    x = _double(lib, [1.0, 2.0, 3.0])
    return lib.autograd.gradcheck(lambda a: (a[1:], a.view_as(a)), (x,))


def _integer_output_only(lib):
    # an integer output has no rows in torch's numerical Jacobian: nothing to be zero
    x = _double(lib, [1.0, 2.0])
    return lib.autograd.gradcheck(lambda a: (a * 2).long(), (x,))


def _mismatch_in_float32(lib):
    # the Jacobians in the message are in the input's dtype (no dtype= for float32)
    x = lib.tensor([1.0, 2.0], requires_grad=True)

    wrong = scaled(lib.autograd.Function, 2, 3)
    return lib.autograd.gradcheck(wrong.apply, (x,), eps=1e-2, atol=1e-2, rtol=1e-2)


def _no_input_requires_grad(lib):
    return lib.autograd.gradcheck(lambda a: a * 2, (lib.ones(2, dtype=lib.float64),))


def _neither_forward_nor_backward(lib):
    x = _double(lib, [1.0, 2.0])
    return lib.autograd.gradcheck(lambda a: a * 2, (x,), check_forward_ad=False,
                                  check_backward_ad=False)


def _forward_ad_sees_inputs_detached(lib):
    # requires_grad only tells gradcheck which inputs to differentiate: the forward-AD
    # pass calls the function on inputs that do not require grad
    seen = []

    class Record(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            seen.append((a.requires_grad, b.requires_grad))
            return a * 2, b * 3

        @staticmethod
        def jvp(ctx, ta, tb):
            return ta * 2, tb * 3

    a, b = _double(lib, [1.0]), _double(lib, [2.0])
    ok = lib.autograd.gradcheck(Record.apply, (a, b), check_forward_ad=True,
                                check_backward_ad=False, check_undefined_grad=False)
    return ok, sorted(set(seen))


def _gradgradcheck_of_a_view_made_to_require_grad(lib):
    r = _double(lib, [1.0])
    seen = []

    def f(r):
        base = lib.ones(5, dtype=lib.float64)
        view = base.select(0, 1)
        base.mul_(r * r)  # the view requires grad from here
        seen.append(view.requires_grad)
        return view

    return lib.autograd.gradgradcheck(f, [r]), sorted(set(seen))


def _gradgradcheck_after_an_output_without_grad(lib):
    x = _double(lib, [0.5, -1.5])
    return lib.autograd.gradgradcheck(lambda x: (x.detach() + 1, (x ** 3).sum()), [x])


@stories(_gradgradcheck_of_a_view_made_to_require_grad,
         _gradgradcheck_after_an_output_without_grad, _closes_over_its_input, _closes_over_its_input_wrong_formula, _shape_changes,
         _dtype_changes, _no_differentiable_output_constant, _no_differentiable_output_varies,
         _no_differentiable_output_varies_no_raise, _non_differentiable_output_left_out,
         _mismatch_numbered_among_differentiable_outputs, _inputs_restored,
         _returns_a_view_of_its_input, _integer_output_only, _mismatch_in_float32,
         _no_input_requires_grad, _neither_forward_nor_backward,
         _forward_ad_sees_inputs_detached)
def test_gradcheck(story):
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


# ---------------------------------------------------------------- after the Jacobians:
# zero grad_outputs must give zero gradients, and every backward must take undefined
# output gradients (check_undefined_grad), with torch's texts and warning

def _scaled_function(lib, on_undefined, ignores_grad=False, two_outputs=False):
    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return (x * 2, x * 3) if two_outputs else x * 2

        @staticmethod
        def backward(ctx, *grads):
            if ignores_grad:
                return lib.full((2,), 2.0, dtype=lib.float64)
            if all(g is None for g in grads):
                return on_undefined(lib, grads)
            return sum(g * k for g, k in zip(grads, (2, 3)) if g is not None)

    return Scale


def _gradchecked(lib, scale, **kwargs):
    import warnings
    x = _double(lib, [1.0, 2.0])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            result = ("ok", lib.autograd.gradcheck(scale.apply, (x,), **kwargs))
        except Exception as e:  # noqa: BLE001 - the kind of error is part of the outcome
            result = (type(e).__name__, str(e))
    return result, [(w.category.__name__, str(w.message)) for w in seen]


UNDEFINED = {
    "handled": lambda lib, grads: None,
    "gives_ones": lambda lib, grads: lib.ones(2, dtype=lib.float64),
    "raises": lambda lib, grads: (_ for _ in ()).throw(RuntimeError("no gradient here")),
    "uses_it": lambda lib, grads: grads[0] * 2,  # None * 2: the TypeError itself
}


@pytest.mark.parametrize("undefined", list(UNDEFINED))
@pytest.mark.parametrize("how", ["default", "raise_exception_false", "check_off",
                                 "two_outputs"])
def test_undefined_output_gradients(undefined, how):
    def story(lib):
        scale = _scaled_function(lib, UNDEFINED[undefined], two_outputs=how == "two_outputs")
        kwargs = {"raise_exception_false": {"raise_exception": False},
                  "check_off": {"check_undefined_grad": False}}.get(how, {})
        return _gradchecked(lib, scale, **kwargs)
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


@pytest.mark.parametrize("raise_exception", [True, False])
def test_backward_not_multiplied_by_grad_output(raise_exception):
    def story(lib):
        scale = _scaled_function(lib, UNDEFINED["handled"], ignores_grad=True)

        def summed(x):
            return scale.apply(x).sum()
        summed.apply = summed
        return _gradchecked(lib, summed, raise_exception=raise_exception)
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


def _jacobian_helpers(lib, case):
    import warnings
    if lib is torch:
        from torch.autograd.gradcheck import get_analytical_jacobian, get_numerical_jacobian
    else:
        from engine.gradcheck import get_analytical_jacobian, get_numerical_jacobian
    x = _double(lib, [0.5, -1.0, 2.0])
    y = lib.tensor([1.5], dtype=lib.float64, requires_grad=True)
    c = lib.tensor([2.0, 3.0, 4.0], dtype=lib.float64)

    def rounded(ts):
        return [[round(v, 6) for v in t.reshape(-1).tolist()] + [str(t.dtype), tuple(t.shape)]
                for t in ts]

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        if case == "numerical":
            out = rounded(get_numerical_jacobian(lambda a: (a[0] * a[1]).sin() * a[2], (x, y, c)))
        elif case == "numerical_target":
            out = rounded(get_numerical_jacobian(lambda a: a[0] * y, (x,), target=(y,)))
        elif case == "numerical_one_tensor":
            out = rounded(get_numerical_jacobian(lambda a: (a[0] ** 2, a[0]), x, eps=1e-4))
        elif case == "numerical_grad_out":
            out = get_numerical_jacobian(lambda a: a[0], (x,), grad_out=2.0)
        elif case == "analytical":
            jac, *flags = get_analytical_jacobian((x, y, c), (x * y).sin() * c)
            out = rounded(jac), flags
        elif case == "analytical_float32_and_unused":
            x32 = lib.tensor([1.0, 2.0], requires_grad=True)
            jac, *flags = get_analytical_jacobian((x32, y), x32 * 2)
            out = rounded(jac), flags
        else:
            out = get_analytical_jacobian((x,), x * 2, grad_out=0.5)
    return out, [(w.category.__name__, str(w.message)) for w in seen]


@pytest.mark.parametrize("case", ["numerical", "numerical_target", "numerical_one_tensor",
                                  "numerical_grad_out", "analytical",
                                  "analytical_float32_and_unused", "analytical_grad_out"])
def test_deprecated_jacobian_helpers(case):
    assert (outcome(lambda: _jacobian_helpers(engine, case))
            == outcome(lambda: _jacobian_helpers(torch, case)))
def _gradcheck_error_story(lib):
    error = importlib.import_module(lib.__name__ + ".autograd.gradcheck").GradcheckError
    x = _double(lib, [[1.0, 2.0], [3.0, 4.0]])

    def nudged(a):  # the hook changes the gradient: analytical and numerical differ
        y = a.clone()
        y.register_hook(lambda g: g + 1e-2)
        return y

    def broken(a):
        raise RuntimeError("the function itself fails")

    seen = [issubclass(error, RuntimeError), hasattr(lib.autograd, "GradcheckError"),
            lib.autograd.gradcheck(nudged, (x,), raise_exception=False)]
    try:
        lib.autograd.gradcheck(nudged, (x,))
    except error as e:
        seen.append(str(e).splitlines()[0])
    seen.append(outcome(lambda: lib.autograd.gradcheck(broken, (x,), raise_exception=False)))
    return seen


def test_gradcheck_error_lives_in_the_gradcheck_module():
    assert _gradcheck_error_story(engine) == _gradcheck_error_story(torch)
