"""engine.autograd.functional vs torch.autograd.functional: values, return structures
(Tensor vs tuple, nesting), requires_grad of results, and strict-mode / argument errors."""

from __future__ import annotations

import numpy as np
import pytest
from support.semantics_harness import same, same_as_torch

import engine

X = [0.5, -1.2, 2.0]
Y = [[0.3, 0.7], [-0.4, 1.1]]


def _x(lib, requires_grad=False):
    return lib.tensor(X, requires_grad=requires_grad)


def _y(lib):
    return lib.tensor(Y)


def _same_refusal(call):
    """call(F, lib) raises the same error in both libraries (F: lib's autograd.functional)."""
    def fn(lib):
        call(fn_mod(lib), lib)
    same(fn)


def f_single(a):
    return a.exp() * a.sin()


def f_scalar(a):
    return (a ** 3).sum() + (a.sin() * a).sum()


def f_two_in(a, b):
    return (a.sum() * b).tanh()


def f_two_in_scalar(a, b):
    return (a ** 2).sum() * (b ** 3).sum() + (a.exp()).sum()


def f_two_out(a):
    return a ** 2, a.sum() * 3


def f_linear(a):
    return a * 3


def f_unused(a, b):
    return a * 2


def f_constant(a):
    return a.detach() * 2


def fn_mod(lib):
    return lib.autograd.functional


# ---------------------------------------------------------------- vjp

@pytest.mark.parametrize("case", ["single", "tuple_in", "tuple_out", "scalar_no_v",
                                  "create_graph", "unused_zeros", "input_requires_grad"])
def test_vjp(case):
    def fn(lib):
        F = fn_mod(lib)
        if case == "single":
            return F.vjp(f_single, _x(lib), lib.tensor([1.0, 2.0, 3.0]))
        if case == "tuple_in":
            return F.vjp(f_two_in, (_x(lib), _y(lib)), lib.ones(2, 2))
        if case == "tuple_out":
            return F.vjp(f_two_out, _x(lib), (lib.ones(3), lib.tensor(2.0)))
        if case == "scalar_no_v":
            return F.vjp(f_scalar, _x(lib))
        if case == "create_graph":
            x = _x(lib, True)
            out, g = F.vjp(f_scalar, x, create_graph=True)
            (gg,) = lib.autograd.grad(g.sum(), x)
            return out, g, gg
        if case == "unused_zeros":
            return F.vjp(f_unused, (_x(lib), _y(lib)), lib.ones(3))
        x = _x(lib, True)
        return F.vjp(f_single, x, lib.ones(3)), x.grad
    same(fn)


_VJP_ERRORS = {  # case -> a call torch refuses
    "v_none_vector": lambda F, lib: F.vjp(f_single, _x(lib)),
    "v_bad_size": lambda F, lib: F.vjp(f_single, _x(lib), lib.ones(2)),
    "v_bad_size_tuple": lambda F, lib: F.vjp(f_two_out, _x(lib), (lib.ones(3), lib.ones(2))),
    "v_tuple_len": lambda F, lib: F.vjp(f_two_out, _x(lib), (lib.ones(3),)),
    "v_single_expected": lambda F, lib: F.vjp(f_single, _x(lib), (lib.ones(3), lib.ones(3))),
    "strict_unused": lambda F, lib: F.vjp(f_unused, (_x(lib), _y(lib)), lib.ones(3),
                                          strict=True),
    "strict_constant": lambda F, lib: F.vjp(f_constant, _x(lib), lib.ones(3), strict=True),
    "inputs_list": lambda F, lib: F.vjp(f_single, [_x(lib)], lib.ones(3)),
    "inputs_tuple_bad": lambda F, lib: F.vjp(f_two_in, (_x(lib), 3.0), lib.ones(2, 2)),
    "outputs_bad": lambda F, lib: F.vjp(lambda a: 3.0, _x(lib)),
}


@pytest.mark.parametrize("case", list(_VJP_ERRORS))
def test_vjp_errors(case):
    _same_refusal(_VJP_ERRORS[case])


def test_vjp_constant_output_non_strict_gives_zeros():
    same(lambda lib: fn_mod(lib).vjp(f_constant, _x(lib), lib.ones(3)))


# ---------------------------------------------------------------- jvp

@pytest.mark.parametrize("case", ["single", "tuple_in", "tuple_out", "scalar_no_v",
                                  "create_graph", "unused"])
def test_jvp(case):
    def fn(lib):
        F = fn_mod(lib)
        if case == "single":
            return F.jvp(f_single, _x(lib), lib.tensor([1.0, -1.0, 0.5]))
        if case == "tuple_in":
            return F.jvp(f_two_in, (_x(lib), _y(lib)), (lib.ones(3), lib.ones(2, 2)))
        if case == "tuple_out":
            return F.jvp(f_two_out, _x(lib), lib.tensor([1.0, 2.0, 3.0]))
        if case == "scalar_no_v":
            return F.jvp(lambda a: a.exp() * 2, lib.tensor([0.7]))
        if case == "create_graph":
            x = _x(lib, True)
            out, jv = F.jvp(f_single, x, lib.ones(3), create_graph=True)
            (gg,) = lib.autograd.grad(jv.sum(), x)
            return out, jv, gg
        return F.jvp(f_unused, (_x(lib), _y(lib)), (lib.ones(3), lib.ones(2, 2)))
    same(fn)


_JVP_ERRORS = {  # case -> a call torch refuses
    "v_none": lambda F, lib: F.jvp(f_single, _x(lib)),
    "v_bad": lambda F, lib: F.jvp(f_two_in, (_x(lib), _y(lib)), (lib.ones(3), lib.ones(2))),
    "v_tuple_len": lambda F, lib: F.jvp(f_two_in, (_x(lib), _y(lib)), (lib.ones(3),)),
    "strict_constant": lambda F, lib: F.jvp(f_constant, _x(lib), lib.ones(3), strict=True),
    "strict_unused": lambda F, lib: F.jvp(f_unused, (_x(lib), _y(lib)),
                                          (lib.ones(3), lib.ones(2, 2)), strict=True),
}


@pytest.mark.parametrize("case", list(_JVP_ERRORS))
def test_jvp_errors(case):
    _same_refusal(_JVP_ERRORS[case])


# ---------------------------------------------------------------- jacobian

@pytest.mark.parametrize("vectorize", [False, True])
@pytest.mark.parametrize("case", ["single", "tuple_in", "tuple_out", "scalar_out",
                                  "unused", "matrix_in"])
def test_jacobian(case, vectorize):
    def fn(lib):
        F = fn_mod(lib)
        kw = {"vectorize": vectorize}
        if case == "single":
            return F.jacobian(f_single, _x(lib), **kw)
        if case == "tuple_in":
            return F.jacobian(f_two_in, (_x(lib), _y(lib)), **kw)
        if case == "tuple_out":
            return F.jacobian(f_two_out, _x(lib), **kw)
        if case == "scalar_out":
            return F.jacobian(f_scalar, (_x(lib),), **kw)
        if case == "unused":
            return F.jacobian(f_unused, (_x(lib), _y(lib)), **kw)
        return F.jacobian(lambda m: m @ m, _y(lib), **kw)
    same(fn)


@same_as_torch
def test_jacobian_create_graph(lib):
    F = fn_mod(lib)
    x = _x(lib, True)
    jac = F.jacobian(f_single, x, create_graph=True)
    (g,) = lib.autograd.grad(jac.sum(), x)
    plain = F.jacobian(f_single, x)
    return jac, g, plain


@pytest.mark.parametrize("func,tuple_in", [(f_two_in, True), (f_single, False),
                                           (f_two_out, False), (f_two_out, True)])
def test_jacobian_forward_mode_strategy(func, tuple_in):
    def fn(lib):
        inputs = (_x(lib),) * (func.__code__.co_argcount) if tuple_in else _x(lib)
        if func is f_two_in:
            inputs = (_x(lib), _y(lib))
        return fn_mod(lib).jacobian(func, inputs, vectorize=True, strategy="forward-mode")
    same(fn)


_JACOBIAN_ERRORS = {  # case -> a call torch refuses
    "strict_unused": lambda F, lib: F.jacobian(f_unused, (_x(lib), _y(lib)), strict=True),
    "strict_create_graph_linear": lambda F, lib: F.jacobian(f_linear, _x(lib), strict=True,
                                                            create_graph=True),
    "strict_vectorize": lambda F, lib: F.jacobian(f_single, _x(lib), strict=True, vectorize=True),
    "forward_no_vectorize": lambda F, lib: F.jacobian(f_single, _x(lib), strategy="forward-mode"),
    "forward_create_graph": lambda F, lib: F.jacobian(f_single, _x(lib), strategy="forward-mode",
                                                      create_graph=True),
    "forward_strict": lambda F, lib: F.jacobian(f_single, _x(lib), strategy="forward-mode",
                                                strict=True, vectorize=True),
    "bad_strategy": lambda F, lib: F.jacobian(f_single, _x(lib), strategy="sideways"),
    "strict_constant": lambda F, lib: F.jacobian(f_constant, _x(lib), strict=True),
    "bad_input": lambda F, lib: F.jacobian(f_single, np.array(X)),
}


@pytest.mark.parametrize("case", list(_JACOBIAN_ERRORS))
def test_jacobian_errors(case):
    _same_refusal(_JACOBIAN_ERRORS[case])


def test_jacobian_linear_non_strict():
    same(lambda lib: fn_mod(lib).jacobian(f_linear, _x(lib), create_graph=True))


# ---------------------------------------------------------------- hessian

@pytest.mark.parametrize("case", ["single", "tuple_in", "one_element_2d_output",
                                  "create_graph", "vectorize", "linear"])
def test_hessian(case):
    def fn(lib):
        F = fn_mod(lib)
        if case == "single":
            return F.hessian(f_scalar, _x(lib))
        if case == "tuple_in":
            return F.hessian(f_two_in_scalar, (_x(lib), _y(lib)))
        if case == "one_element_2d_output":
            return F.hessian(lambda a: (a ** 3).sum().reshape(1, 1), _x(lib))
        if case == "create_graph":
            x = _x(lib, True)
            h = F.hessian(f_scalar, x, create_graph=True)
            (g,) = lib.autograd.grad(h.sum(), x)
            return h, g
        if case == "vectorize":
            return F.hessian(f_two_in_scalar, (_x(lib), _y(lib)), vectorize=True)
        return F.hessian(lambda a: (a * 2).sum(), _x(lib))
    same(fn)


@pytest.mark.parametrize("case", ["vector_output", "tuple_output", "strict_linear",
                                  "strict_quadratic_create_graph", "bad_strategy"])
def test_hessian_errors(case):
    def fn(lib):
        F = fn_mod(lib)
        if case == "vector_output":
            F.hessian(f_single, _x(lib))
        elif case == "tuple_output":
            F.hessian(lambda a: (a.sum(), a.sum()), _x(lib))
        elif case == "strict_linear":
            F.hessian(lambda a: (a * 2).sum(), _x(lib), strict=True)
        elif case == "strict_quadratic_create_graph":
            F.hessian(lambda a: (a * a).sum(), _x(lib), strict=True, create_graph=True)
        else:
            F.hessian(f_scalar, _x(lib), outer_jacobian_strategy="diagonal")
    same(fn)


# ---------------------------------------------------------------- hvp / vhp

@pytest.mark.parametrize("name", ["hvp", "vhp"])
@pytest.mark.parametrize("case", ["single", "tuple_in", "scalar_input_no_v", "create_graph",
                                  "unused"])
def test_hvp_vhp(name, case):
    def fn(lib):
        op = getattr(fn_mod(lib), name)
        if case == "single":
            return op(f_scalar, _x(lib), lib.tensor([1.0, 0.5, -1.0]))
        if case == "tuple_in":
            return op(f_two_in_scalar, (_x(lib), _y(lib)), (lib.ones(3), lib.ones(2, 2)))
        if case == "scalar_input_no_v":
            return op(lambda a: (a ** 4).sum(), lib.tensor([1.5]))
        if case == "create_graph":
            x = _x(lib, True)
            out, r = op(f_scalar, x, lib.ones(3), create_graph=True)
            (g,) = lib.autograd.grad(r.sum(), x)
            return out, r, g
        return op(lambda a, b: (a ** 3).sum(), (_x(lib), _y(lib)),
                  (lib.ones(3), lib.ones(2, 2)))
    same(fn)


@pytest.mark.parametrize("name", ["hvp", "vhp"])
@pytest.mark.parametrize("case", ["v_none", "vector_output", "tuple_output", "strict_linear",
                                  "strict_unused", "v_bad"])
def test_hvp_vhp_errors(name, case):
    def fn(lib):
        op = getattr(fn_mod(lib), name)
        if case == "v_none":
            op(f_scalar, _x(lib))
        elif case == "vector_output":
            op(f_single, _x(lib), lib.ones(3))
        elif case == "tuple_output":
            op(lambda a: (a.sum(), a.sum()), _x(lib), lib.ones(3))
        elif case == "strict_linear":
            op(lambda a: (a * 2).sum(), _x(lib), lib.ones(3), strict=True)
        elif case == "strict_unused":
            op(lambda a, b: (a ** 3).sum(), (_x(lib), _y(lib)),
               (lib.ones(3), lib.ones(2, 2)), strict=True)
        else:
            op(f_scalar, _x(lib), lib.ones(4))
    same(fn)


def test_functional_is_reachable_like_torch():
    assert engine.autograd.functional.jacobian is engine.functional.jacobian
