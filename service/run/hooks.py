"""Hook expressions over ``grad`` ("grad * 0.5", "clamp(grad, -1, 1)"), compiled from an
ast allow-list into a closure: parsed, never evaluated by Python.

Allowed: numbers, the name ``grad``, + - * / ** @, unary -/+, and calls of ops from the
table (``tanh(grad)``, ``grad.clamp(min=0)``) with number or ``grad``-expression arguments.
Ops run through ``engine.ops.F``, so the same closure works on raw arrays (first-order
backward) and on Tensors (``create_graph=True``).
"""

from __future__ import annotations

import ast
import math
import operator

from engine.ops import OVERLOADS, ROWS, F
from engine.ops.table import guard

from ..problems import bad
from .parsing import parse

MAX_LENGTH = 1000
MAX_DEPTH = 32
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow, ast.MatMult: operator.matmul}
# The op-table row whose shape rule sizes each operator's result. On the raw arrays of a
# first-order backward the operators are NumPy's, which the engine's allocation guard
# never sees: the hook checks them itself (NOTE [allocation guard]).
_ROWS = {ast.Add: "add.Tensor", ast.Sub: "sub.Tensor", ast.Mult: "mul.Tensor",
         ast.Div: "div.Tensor", ast.Pow: "pow.Tensor_Tensor", ast.MatMult: "matmul"}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def compile_hook(text: str, where: str):
    """A function grad -> new grad, or a 422 saying what is not allowed."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise bad(f"{where}: a hook is an expression string of at most {MAX_LENGTH} "
                  "characters")
    try:
        tree = parse(text, "eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise bad(f"{where}: invalid expression: {getattr(e, 'msg', e)}") from None
    try:
        fn = _compile(tree.body, where, 0)
    except RecursionError:
        raise bad(f"{where}: expression nested too deeply") from None
    return fn


def _compile(node, where: str, depth: int):
    if depth > MAX_DEPTH:
        raise bad(f"{where}: expression nested deeper than {MAX_DEPTH}")
    d = depth + 1
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
        value = node.value
        return lambda grad: value
    if isinstance(node, ast.Name) and node.id == "grad":
        return lambda grad: grad
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        f, a, b = _BINOPS[type(node.op)], _compile(node.left, where, d), _compile(
            node.right, where, d)
        row = ROWS[_ROWS[type(node.op)]]
        return lambda grad: _binop(f, row, a(grad), b(grad))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        f, a = _UNARY[type(node.op)], _compile(node.operand, where, d)
        return lambda grad: f(a(grad))
    if isinstance(node, ast.Call):
        return _compile_call(node, where, d)
    raise bad(f"{where}: {type(node).__name__} is not allowed in a hook expression (numbers, "
              "grad, + - * / ** @ and op calls only)")


SMALL = 1 << 16  # a result of at most this many elements needs no check (~10 us)


def _binop(f, row, x, y):
    if hasattr(x, "shape") or hasattr(y, "shape"):
        check = guard.check
        # a broadcast or a matmul has at most (size of x) * (size of y) elements
        if check is not None and _size(x) * _size(y) > SMALL:
            check(row, row.bind((x, y), {}))
        return f(x, y)
    # two plain numbers: bounded as the source compiler folds them (no 10 ** 10 ** 10)
    if f is operator.pow and type(x) is int and type(y) is int and y > 64 and abs(x) > 1:
        raise bad("hook: constant expression out of range")
    try:
        out = f(x, y)
    except (ZeroDivisionError, OverflowError, ValueError, TypeError) as e:
        raise bad(f"hook: constant expression: {e}") from None
    if type(out) is int and abs(out) > 2 ** 64 or type(out) is complex:
        raise bad("hook: constant expression out of range")
    return out


def _size(v) -> int:
    return math.prod(v.shape) if hasattr(v, "shape") else 1


def _compile_call(node: ast.Call, where: str, depth: int):
    func = node.func
    if isinstance(func, ast.Name):
        name, receiver = func.id, None
    elif isinstance(func, ast.Attribute):  # grad.clamp(...) == clamp(grad, ...)
        name, receiver = func.attr, _compile(func.value, where, depth)
    else:
        raise bad(f"{where}: only op calls are allowed")
    if name.startswith("_") or name not in OVERLOADS or any(
            r.creation for r in OVERLOADS[name]):
        raise bad(f"{where}: unknown op {name!r} in hook expression")
    fn = getattr(F, name)
    args = [_compile(a, where, depth) for a in node.args]
    if receiver is not None:
        args.insert(0, receiver)
    kwargs = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise bad(f"{where}: ** arguments are not allowed")
        kwargs[kw.arg] = _compile(kw.value, where, depth)
    return lambda grad: fn(*[a(grad) for a in args], **{k: v(grad) for k, v in kwargs.items()})
