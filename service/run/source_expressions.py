"""Expressions of a ``source`` program -> compiled values (source.py's compiler, the part
that reads names, constants, operators, attributes and indexing)."""

from __future__ import annotations

import ast

from engine.ops import OVERLOADS

from .source_values import (
    BINOPS,
    BUILTIN_CLASH,
    CMPOPS,
    DTYPES,
    LEGACY,
    MAX_STRING,
    SWAPPED,
    Const,
    DType,
    Multi,
    Opaque,
    Path,
    Ref,
    Seq,
    describe,
    describe_value,
    flatten,
    is_number,
)


class Expressions:
    """The compiler's expression half: a mixin of ``source._Compiler`` (it uses its
    ``emit``, ``error`` and the calls of ``Calls``)."""

    # -- expressions

    def lookup(self, node: ast.Name):
        name = node.id
        self.check_name(name, node, binding=False)
        if name in self.env:
            value = self.env[name]
            if isinstance(value, Opaque):
                self.error(f"{name!r} is the context manager {value.what}(); it cannot be "
                           "used as a value", node)
            return value
        if name in self.aliases:
            return Path(self.aliases[name])
        if name in ("True", "False", "None"):
            return Const({"True": True, "False": False, "None": None}[name])
        if name in OVERLOADS or name in ("tensor", "Variable") or name in LEGACY:
            if name in BUILTIN_CLASH:
                self.error(f"{name}() here would be Python's builtin, which iterates over the "
                           f"tensor; write torch.{name}(...) or x.{name}()", node)
            return Path(f"torch.{name}" if name != "Variable" else "torch.autograd.Variable")
        if name == "float":
            return Path("float")
        self.error(f"name {name!r} is not defined (or not allowed)", node)

    def callee_path(self, func) -> str | None:
        """The dotted path a callee names, or None if it is not a module path."""
        parts = []
        while isinstance(func, ast.Attribute):
            parts.append(func.attr)
            func = func.value
        if not isinstance(func, ast.Name) or func.id in self.env:
            return None
        if func.id in self.aliases:
            base = self.aliases[func.id]
        elif func.id in OVERLOADS or func.id in ("tensor", "Variable", "float") or (
                func.id in LEGACY):
            base = self.lookup(func).path
        else:
            return None
        return ".".join([base, *reversed(parts)])

    def expr(self, node, target: str | None = None, statement: bool = False):
        """Compile an expression to a value; a node made for it gets id ``target``."""
        if isinstance(node, ast.Constant):
            return self.literal_constant(node)
        if isinstance(node, ast.Name):
            return self.lookup(node)
        if isinstance(node, (ast.Tuple, ast.List)):
            return Seq(tuple(self.expr(e) for e in node.elts))
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, target)
        if isinstance(node, ast.BinOp):
            return self.binop(node, target)
        if isinstance(node, ast.Compare):
            return self.compare(node, target)
        if isinstance(node, ast.Call):
            return self.call(node, target, statement)
        if isinstance(node, ast.Attribute):
            return self.attribute(node, target)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, target)
        if isinstance(node, ast.Starred):
            self.error("starred arguments (*args) are not supported", node)
        self.error(f"{describe(node)} is not supported in source", node)

    def literal_constant(self, node: ast.Constant):
        v = node.value
        if v is Ellipsis:
            self.error("'...' is only allowed inside an index", node)
        if isinstance(v, (bool, type(None))):
            return Const(v)
        if isinstance(v, int):
            if abs(v) > 2 ** 64:
                self.error("integer constant out of range", node)
            return Const(v)
        if isinstance(v, float):
            return Const(v)
        if isinstance(v, str):
            if len(v) > MAX_STRING:
                self.error(f"string constants are at most {MAX_STRING} characters", node)
            return Const(v)
        self.error(f"{type(v).__name__} constants are not supported", node)

    def unary(self, node: ast.UnaryOp, target):
        operand = self.expr(node.operand)
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            if isinstance(operand, Const) and is_number(operand.value):
                return Const(-operand.value if isinstance(node.op, ast.USub)
                             else +operand.value)
            if isinstance(operand, Ref):
                if isinstance(node.op, ast.UAdd):
                    return operand  # torch: +x is x itself
                return Ref(self.emit(target, "neg", [operand.id], at=node))
        self.error(f"unary {type(node.op).__name__} is not supported on "
                   f"{describe_value(operand)}", node)

    def binop(self, node: ast.BinOp, target):
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(left, Const) and isinstance(right, Const):
            return self.fold(node.op, left, right, node)
        name = BINOPS.get(type(node.op))
        if name is None:
            self.error(f"operator {type(node.op).__name__} is not supported", node)
        for side in (left, right):
            if not isinstance(side, Ref) and not (
                    isinstance(side, Const) and is_number(side.value)):
                self.error(f"operator {type(node.op).__name__} is not supported on "
                           f"{describe_value(side)}", node)
        if isinstance(left, Ref):  # Tensor.__add__ etc.
            return Ref(self.emit(target, self.require_op(name, node),
                                 [left.id, self.json(right, node)], at=node))
        # a number on the left: the tensor's reflected operator decides (torch/_tensor.py)
        number = self.json(left, node)
        if name in ("add", "mul"):
            return Ref(self.emit(target, self.require_op(name, node), [right.id, number],
                                 at=node))
        if name == "sub":
            return Ref(self.emit(target, self.require_op("rsub", node), [right.id, number],
                                 at=node))
        if name == "div":
            recip = self.emit(None, self.require_op("reciprocal", node), [right.id], at=node)
            return Ref(self.emit(target, self.require_op("mul", node), [recip, number],
                                 at=node))
        return Ref(self.emit(target, self.require_op(name, node), [number, right.id],
                             at=node))

    def fold(self, op, left, right, node):
        a, b = left.value, right.value
        if not (is_number(a) and is_number(b)):
            self.error(f"operator {type(op).__name__} is not supported on these constants",
                       node)
        try:
            if isinstance(op, ast.Pow) and isinstance(a, int) and isinstance(b, int) and (
                    b > 64 and abs(a) > 1):
                raise OverflowError
            result = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b,
                      ast.Mult: lambda: a * b, ast.Div: lambda: a / b,
                      ast.FloorDiv: lambda: a // b, ast.Mod: lambda: a % b,
                      ast.Pow: lambda: a ** b}[type(op)]()
        except KeyError:
            self.error(f"operator {type(op).__name__} is not supported on constants", node)
        except ZeroDivisionError:
            self.error("division by zero in a constant expression", node)
        except (OverflowError, ValueError):
            self.error("constant expression out of range", node)
        if isinstance(result, complex):
            self.error("constant expression is complex", node)
        if isinstance(result, int) and abs(result) > 2 ** 64:
            self.error("constant expression out of range", node)
        return Const(result)

    def compare(self, node: ast.Compare, target):
        if len(node.ops) != 1:
            self.error("chained comparisons (a < b < c) are not supported", node)
        name = CMPOPS.get(type(node.ops[0]))
        if name is None:
            self.error(f"comparison {type(node.ops[0]).__name__} is not supported", node)
        left, right = self.expr(node.left), self.expr(node.comparators[0])
        if isinstance(left, Const) and isinstance(right, Const) and is_number(
                left.value) and is_number(right.value):
            a, b = left.value, right.value
            return Const({"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b,
                          "eq": a == b, "ne": a != b}[name])
        if isinstance(right, Const) and not is_number(right.value) or (
                isinstance(left, Const) and not is_number(left.value)):
            self.error("comparisons take tensors and numbers", node)
        if isinstance(left, Ref) and isinstance(right, (Ref, Const)):
            return Ref(self.emit(target, self.require_op(name, node),
                                 [left.id, self.json(right, node)], at=node))
        if isinstance(left, Const) and isinstance(right, Ref):
            name = SWAPPED[name]  # 2 < x is x.__gt__(2)
            return Ref(self.emit(target, self.require_op(name, node),
                                 [right.id, self.json(left, node)], at=node))
        self.error(f"cannot compare {describe_value(left)} with {describe_value(right)}",
                   node)

    def attribute(self, node: ast.Attribute, target):
        self.check_attr(node.attr, node)
        base = self.expr(node.value)
        attr = node.attr
        if isinstance(base, Path):
            if base.path == "torch" and attr in DTYPES:
                return DType(DTYPES[attr])
            return Path(f"{base.path}.{attr}")
        if isinstance(base, Ref):
            if attr == "grad":
                if "." in base.id or not isinstance(node.value, ast.Name):
                    self.error(".grad can only be read from a tensor variable (x.grad)", node)
                return Ref(f"{base.id}.grad")
            if attr in ("T", "mT"):
                return Ref(self.emit(target, attr, [base.id], at=node))
            self.error(f"reading tensor attribute {attr!r} is not supported in source (the "
                       "answer's graph metadata reports shape, dtype, requires_grad, "
                       "grad_fn...)", node)
        if isinstance(base, Multi) and attr in ("values", "indices"):
            return Ref(self.emit(target, "getitem", [base.id, 0 if attr == "values" else 1],
                                 at=node))
        self.error(f"attribute {attr!r} of {describe_value(base)} is not supported", node)

    def subscript(self, node: ast.Subscript, target):
        base = self.expr(node.value)
        if isinstance(base, Multi):
            k = self.constant(node.slice)
            if not isinstance(k, int) or isinstance(k, bool):
                self.error("the result of a multi-output op is indexed by an integer", node)
            return Ref(self.emit(target, "getitem", [base.id, k], at=node))
        if not isinstance(base, Ref):
            self.error(f"subscripts are only supported on tensors, not on "
                       f"{describe_value(base)}", node)
        sl = node.slice
        parts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
        spec = [self.index_component(p) for p in parts]
        return Ref(self.emit(target, "index", [base.id, spec], at=node))

    def index_component(self, node):
        if isinstance(node, ast.Slice):
            bounds = []
            for b in (node.lower, node.upper, node.step):
                v = None if b is None else self.constant(b)
                if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                    self.error("slice bounds must be integers or None", b)
                bounds.append(v)
            return {"slice": bounds}
        if isinstance(node, ast.Constant) and node.value is Ellipsis:
            return "..."
        value = self.expr(node)
        if isinstance(value, Ref):
            return value.id
        if isinstance(value, Const) and (value.value is None or isinstance(value.value, int)):
            return value.value  # int, bool or None (a new axis)
        if isinstance(value, Seq):
            data = self.literal_data(value, node)
            if any(isinstance(x, float) for x in flatten(data)):
                self.error("index lists must hold integers or booleans", node)
            return data
        self.error(f"{describe_value(value)} cannot be used as an index", node)
