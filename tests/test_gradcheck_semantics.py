"""gradcheck as torch 2.13 runs it (slow mode): inputs perturbed in place (a function that
closes over its input sees the perturbation), outputs that change shape or dtype under
perturbation refused (AssertionError naming the index), a function without differentiable
outputs must have zero finite differences ("Numerical gradient for function expected to be
zero"), and outputs that do not require grad are left out of the comparison. torch is the
oracle, run side by side with the engine."""

import importlib

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


@stories(_closes_over_its_input, _closes_over_its_input_wrong_formula, _shape_changes,
         _dtype_changes, _no_differentiable_output_constant, _no_differentiable_output_varies,
         _no_differentiable_output_varies_no_raise, _non_differentiable_output_left_out,
         _mismatch_numbered_among_differentiable_outputs, _inputs_restored,
         _returns_a_view_of_its_input, _integer_output_only, _mismatch_in_float32,
         _no_input_requires_grad, _neither_forward_nor_backward,
         _forward_ad_sees_inputs_detached)
def test_gradcheck(story):
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


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
