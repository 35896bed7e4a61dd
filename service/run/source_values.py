"""What the ``source`` compiler (source.py) works with: its tables (dtype names, torch's
grad-mode context managers, operators and their ops), the compiled values (a reference,
a constant, a sequence...), ``SourceError``, and the small functions over those values."""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass

from engine.ops.arg_types import type_matches

MAX_DEPTH = 100
MAX_NAME = 128
MAX_STRING = 64
INT64 = (-(2 ** 63), 2 ** 63 - 1)

DTYPES = {"float32": "float32", "float": "float32", "float64": "float64",
          "double": "float64", "int64": "int64", "long": "int64", "bool": "bool",
          "int32": "int32", "int": "int32", "float16": "float16", "half": "float16",
          "uint8": "uint8"}
LEGACY = {"Tensor": "float32", "FloatTensor": "float32", "DoubleTensor": "float64",
           "LongTensor": "int64", "BoolTensor": "bool"}
IMPORTABLE = {"torch", "torch.nn", "torch.nn.functional", "torch.autograd", "torch.linalg",
               "torch.special"}
FUNC_MODULES = {"torch", "torch.nn.functional", "torch.linalg", "torch.special"}
NO_GRAD = {"torch.no_grad", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad"}
ENABLE_GRAD = {"torch.enable_grad", "torch.autograd.enable_grad",
                "torch.autograd.grad_mode.enable_grad"}
INFERENCE = {"torch.inference_mode", "torch.autograd.inference_mode",
              "torch.autograd.grad_mode.inference_mode"}
SET_GRAD = {"torch.set_grad_enabled", "torch.autograd.set_grad_enabled",
             "torch.autograd.grad_mode.set_grad_enabled"}
VARIABLE = {"torch.autograd.Variable", "torch.autograd.variable.Variable"}
# Python builtins whose meaning on a tensor differs from torch's function of that name.
BUILTIN_CLASH = {"sum", "max", "min", "all", "any"}
METHOD_OPS = {ast.Add: "add_", ast.Sub: "sub_", ast.Mult: "mul_", ast.Div: "div_",
               ast.Pow: "pow_"}
BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
           ast.MatMult: "matmul", ast.FloorDiv: "floor_divide", ast.Mod: "remainder"}
CMPOPS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq",
           ast.NotEq: "ne"}
SWAPPED = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}
STRING_TYPES = {"str", "ScalarType", "Device", "MemoryFormat", "Any"}
ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TEMP_RE = re.compile(r"^_\d+$")


class SourceError(Exception):
    """A source program outside the subset: ``message`` at ``line``, ``col`` (1-based)."""

    def __init__(self, message: str, line: int = 1, col: int = 1):
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col

    def __str__(self) -> str:
        return f"line {self.line}, column {self.col}: {self.message}"


# Compiled values. A tensor is a reference (an id or "<id>.grad"); constants are plain
# Python values wrapped so a list of references and a list of numbers are told apart.

@dataclass(frozen=True)
class Ref:
    id: str


@dataclass(frozen=True)
class Multi:  # the result of a multi-output op: only getitem/unpacking apply
    id: str


@dataclass(frozen=True)
class Const:
    value: object  # int | float | bool | None | str


@dataclass(frozen=True)
class Seq:  # a list/tuple written in the source
    items: tuple


@dataclass(frozen=True)
class DType:
    name: str


@dataclass(frozen=True)
class Path:  # a module or a function, usable only as a callee (torch.exp, F, torch.nn...)
    path: str


@dataclass(frozen=True)
class Opaque:  # a `with ... as name` target: binds a name that cannot be used
    what: str


class Tensorish:
    """Stands for a tensor when matching overloads at compile time."""


TENSOR = Tensorish()


def is_number(v) -> bool:
    return isinstance(v, (int, float))


def has_tensor(seq: Seq) -> bool:
    stack = [seq]
    while stack:
        s = stack.pop()
        for item in s.items:
            if isinstance(item, Seq):
                stack.append(item)
            elif not isinstance(item, (Const, DType)):
                return True
    return False


def flatten(data):
    stack, out = [data], []
    while stack:
        d = stack.pop()
        if isinstance(d, list):
            stack.extend(d)
        else:
            out.append(d)
    return out


def infer_dtype(data) -> str:
    """torch.tensor's inference: all bools -> bool, bools/ints -> int64, else float32."""
    flat = flatten(data)
    if flat and all(isinstance(x, bool) for x in flat):
        return "bool"
    if flat and all(isinstance(x, int) for x in flat):
        return "int64"
    return "float32"


def wire_data(data):
    """Non-finite floats -> the wire's strings (the proto3 JSON convention)."""
    def one(x):
        if isinstance(x, float) and not math.isfinite(x):
            return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")
        return x
    if not isinstance(data, list):
        return one(data)
    root = list(data)
    stack = [root]
    while stack:
        lst = stack.pop()
        for k, x in enumerate(lst):
            if isinstance(x, list):
                lst[k] = list(x)
                stack.append(lst[k])
            else:
                lst[k] = one(x)
    return root


def stand_in(value):
    """A compiled argument as the overload matcher should see it: tensors -> a stand-in."""
    if isinstance(value, Ref):
        return TENSOR
    if isinstance(value, Seq):
        return [stand_in(v) for v in value.items]
    if isinstance(value, DType):
        return value.name
    if isinstance(value, Const):
        return value.value
    return value


def has_str(value) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and any(has_str(v) for v in value)


def fits(ptype: str, value, strict: bool) -> bool:
    base = ptype.rstrip("?")
    if value is TENSOR:
        return base == "Tensor" or base == "Any"
    if isinstance(value, list) and any(v is TENSOR for v in value):
        return base in ("Tensor[]", "Any") and all(v is TENSOR for v in value)
    try:
        return type_matches(ptype, value, strict)
    except (ValueError, TypeError):
        return False


def describe(node) -> str:
    names = {ast.FunctionDef: "def", ast.AsyncFunctionDef: "async def", ast.ClassDef: "class",
             ast.Lambda: "lambda", ast.For: "a for loop", ast.While: "a while loop",
             ast.If: "if", ast.Try: "try", ast.Global: "global", ast.Nonlocal: "nonlocal",
             ast.Delete: "del", ast.Return: "return", ast.Raise: "raise",
             ast.Assert: "assert", ast.ListComp: "a list comprehension",
             ast.SetComp: "a set comprehension", ast.DictComp: "a dict comprehension",
             ast.GeneratorExp: "a generator expression", ast.JoinedStr: "an f-string",
             ast.NamedExpr: "the walrus operator (:=)", ast.IfExp: "a conditional expression",
             ast.BoolOp: "and/or", ast.Dict: "a dict", ast.Set: "a set",
             ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield from",
             ast.AnnAssign: "an annotated assignment", ast.Match: "match"}
    return names.get(type(node), type(node).__name__)


def describe_value(value) -> str:
    if isinstance(value, Ref):
        return f"tensor {value.id!r}"
    if isinstance(value, Multi):
        return f"the multi-output result {value.id!r}"
    if isinstance(value, Const):
        return f"the constant {value.value!r}"
    if isinstance(value, Seq):
        return "a list/tuple"
    if isinstance(value, DType):
        return f"the dtype {value.name}"
    if isinstance(value, Path):
        return f"{value.path}"
    return type(value).__name__
