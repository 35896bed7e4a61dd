"""dtypes and error texts as torch: type promotion (Tensor and Scalar arguments), the dtype
of each leaf's grad, printed dtypes and sizes, broadcast and miscellaneous errors; and a
check that the harness itself catches a differing message.

Every scenario runs under torch and under the engine (support.semantics_harness.same):
values, dtypes, grad_fn names, next_functions, exact error messages and warnings must agree.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.semantics_harness import leaf_vector, run, same

import engine

# ---------------------------------------------------------------- dtype promotion

@pytest.mark.parametrize("case", ["int*float", "float64_0dim*float32", "float64*float32",
                                  "int+python_float", "float32+python_int",
                                  "bool*float", "int64_0dim*float32"])
def test_dtype_promotion(case):
    def fn(lib):
        f32 = leaf_vector(lib)
        i64 = lib.tensor([1, 2, 3])
        if case == "int*float":
            r = i64 * f32
        elif case == "float64_0dim*float32":
            r = lib.tensor(2.0, dtype=lib.float64, requires_grad=True) * f32
        elif case == "float64*float32":
            r = lib.tensor([2.0, 1.0, 0.5], dtype=lib.float64, requires_grad=True) * f32
        elif case == "int+python_float":
            r = i64 + 1.5
        elif case == "float32+python_int":
            r = f32 + 2
        elif case == "bool*float":
            r = lib.tensor([True, False, True]) * f32
        else:
            r = lib.tensor(3) * f32
        out = [r]
        if r.requires_grad:
            r.sum().backward()
            out.append(f32.grad)
        return out
    same(fn)


# Python numbers in Scalar (not Tensor) arguments promote as torch's wrapped numbers do
SCALAR_PROMOTION = {
    "int ** float": lambda lib, i: i ** 2.5,
    "int ** int": lambda lib, i: i ** 2,
    "bool ** float": lambda lib, i: (i > 1) ** 2.5,
    "int % float": lambda lib, i: i % 2.5,
    "int % int": lambda lib, i: i % 2,
    "float - int": lambda lib, i: 1.5 - i,
    "int - int": lambda lib, i: 2 - i,
    "where(int, float)": lambda lib, i: lib.where(i > 1, i, 2.5),
    "where(int, int)": lambda lib, i: lib.where(i > 1, i, 2),
    "where(float, int) numbers": lambda lib, i: lib.where(i > 1, 1.0, 2),
    "where(int, float32)": lambda lib, i: lib.where(i > 1, i, lib.tensor([1.5, 2.5, 3.5])),
    "where(float64, float)": lambda lib, i: lib.where(i > 1, i.double(), 2.5),
    "where(float32, 0-dim float64)": lambda lib, i: lib.where(
        i > 1, i.float(), lib.tensor(2.5, dtype=lib.float64)),
}


@pytest.mark.parametrize("case", SCALAR_PROMOTION)
def test_scalar_argument_promotion(case):
    same(lambda lib: SCALAR_PROMOTION[case](lib, lib.tensor([1, 2, 3])))


def test_grad_dtype_follows_each_leaf():
    def fn(lib):
        a = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        b = leaf_vector(lib, (3.0, 4.0))
        (a * b).sum().backward()
        return a.grad, b.grad
    same(fn)


def test_harness_compares_messages():
    """The harness itself: a differing message is caught."""
    got, _ = run(lambda lib: (_ for _ in ()).throw(RuntimeError("a")), engine)
    assert got == ("error", "RuntimeError", "a")
    with pytest.raises(AssertionError):
        from support.semantics_harness import assert_same
        assert_same(("error", "RuntimeError", "a"), ("error", "RuntimeError", "b"))
    assert torch.is_grad_enabled() and engine.is_grad_enabled()


@pytest.mark.parametrize("op", ["add", "mul", "sub", "div", "maximum", "where", "pow"])
def test_broadcast_errors_carry_torchs_text(op):
    def fn(lib):
        a = lib.tensor(np.ones((2, 3)), requires_grad=True)
        b = lib.tensor(np.ones((2, 2)))
        if op == "add":
            return a + b
        if op == "mul":
            return a * b
        if op == "sub":
            return a - b
        if op == "div":
            return a / b
        if op == "maximum":
            return a.maximum(b)
        if op == "where":
            return lib.where(b > 0, a, b)
        return a ** b
    same(fn)


@pytest.mark.parametrize("case", ["grad_dtype_double", "grad_dtype_float", "grad_dtype_half",
                                  "grad_not_tensor", "inputs_not_tensor_backward",
                                  "inputs_not_tensor_grad", "size_bad_dim", "bool_ambiguous",
                                  "len_0d", "item_many"])
def test_misc_error_texts(case):
    def fn(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        if case == "grad_dtype_double":
            x.grad = lib.tensor([1.0, 2.0], dtype=lib.float64)
        elif case == "grad_dtype_float":
            lib.tensor([1.0], dtype=lib.float64, requires_grad=True).grad = lib.tensor([1.0])
        elif case == "grad_dtype_half":
            x.grad = lib.tensor([1.0, 2.0], dtype=lib.float16)
        elif case == "grad_not_tensor":
            x.grad = 3
        elif case == "inputs_not_tensor_backward":
            (x * 2).sum().backward(inputs=[x, 2])
        elif case == "inputs_not_tensor_grad":
            lib.autograd.grad((x * 2).sum(), [1.0])
        elif case == "size_bad_dim":
            x.size(5)
        elif case == "bool_ambiguous":
            bool(x)
        elif case == "len_0d":
            len(lib.tensor(1.0))
        else:
            x.item()
    same(fn)



# A plain number where a Tensor parameter has no Scalar form: torch's TypeError, its
# position counted after self for a method; where a Scalar form exists (or the function
# takes numbers as Tensors) the number is taken, as before.
@pytest.mark.parametrize("case", [
    "type_as", "view_as", "expand_as", "reshape_as", "method_logical_and",
    "function_logical_and", "function_maximum", "function_exp", "function_type_as",
    "method_masked_fill_two_numbers"])
def test_plain_number_for_a_tensor_parameter_is_a_type_error(case):
    def fn(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        if case in ("type_as", "view_as", "expand_as", "reshape_as"):
            return getattr(x, case)(3)
        if case == "method_logical_and":
            return x.logical_and(2)
        if case == "function_logical_and":
            return lib.logical_and(x, 2)
        if case == "function_maximum":
            return lib.maximum(x, 2.5)
        if case == "function_exp":
            return lib.exp(2.0)
        if case == "function_type_as":
            return lib.Tensor.type_as(x, 3)
        return x.masked_fill(2, 3)
    if case == "method_masked_fill_two_numbers":  # torch's listing of overloads differs
        for lib in (torch, engine):
            with pytest.raises(TypeError, match="masked_fill"):
                fn(lib)
        return
    same(fn)


@pytest.mark.parametrize("case", [
    "add", "radd", "sub_number_first", "mul", "div_number_first", "pow_number_first",
    "pow_number_exponent", "where_number_input", "where_number_other", "eq_number",
    "masked_fill_number", "clamp_min_number", "isin_number_elements", "remainder_number"])
def test_plain_number_for_a_tensor_parameter_with_a_scalar_form(case):
    def fn(lib):
        x = lib.tensor([1.0, -2.0], requires_grad=True)
        out = {
            "add": lambda: lib.add(x, 2),
            "radd": lambda: 2 + x,
            "sub_number_first": lambda: lib.sub(2, x),
            "mul": lambda: x.mul(1.5),
            "div_number_first": lambda: lib.div(3, x),
            "pow_number_first": lambda: lib.pow(2, x),
            "pow_number_exponent": lambda: x.pow(2),
            "where_number_input": lambda: lib.where(x > 0, 2.0, x),
            "where_number_other": lambda: lib.where(x > 0, x, 0.5),
            "eq_number": lambda: x.eq(1),
            "masked_fill_number": lambda: x.masked_fill(x > 0, 4.0),
            "clamp_min_number": lambda: lib.clamp_min(x, 0.5),
            "isin_number_elements": lambda: lib.isin(x, 1.0),
            "remainder_number": lambda: lib.remainder(x, 1.5),
        }[case]()
        if out.requires_grad:
            out.sum().backward()
        return out, x.grad
    same(fn)

def test_dtype_and_size_print_as_torch():
    def fn(lib):
        x = lib.tensor([[1.0, 2.0]], requires_grad=True)
        return [str(x.dtype), repr(x.double().dtype), str(lib.tensor([1]).dtype),
                str(lib.tensor([True]).dtype), str(x.shape), f"{x.dtype} {x.size()}"]
    same(fn)
