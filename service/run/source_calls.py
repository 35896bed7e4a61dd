"""Calls in a ``source`` program -> nodes: torch functions, Tensor methods, the op table's
rows, multi-output ops and tensor literals (source.py's compiler, the part that calls)."""

from __future__ import annotations

import ast
import math

from engine.dtypes import MEMORY_FORMATS
from engine.ops import OVERLOADS

from ..op_sets import SELF_METHODS, TENSOR_METHODS
from .source_values import (
    DTYPES,
    ENABLE_GRAD,
    FUNC_MODULES,
    INT64,
    LEGACY,
    NO_GRAD,
    SET_GRAD,
    STRING_TYPES,
    VARIABLE,
    Const,
    DType,
    Multi,
    Path,
    Ref,
    Seq,
    describe_value,
    fits,
    has_str,
    infer_dtype,
    is_number,
    stand_in,
    wire_data,
)


class Calls:
    """The compiler's call half: a mixin of ``source._Compiler`` (it uses its ``emit``,
    ``error`` and ``expr``)."""

    # -- calls

    def call(self, node: ast.Call, target, statement=False):
        for kw in node.keywords:
            if kw.arg is None:
                self.error("**kwargs are not supported", kw.value)
        func = node.func
        path = self.callee_path(func)
        if path is not None:
            return self.function_call(path, node, target)
        if isinstance(func, ast.Attribute):
            self.check_attr(func.attr, func)
            receiver = self.expr(func.value)
            if isinstance(receiver, Ref):
                return self.method_call(receiver, func.attr, node, target, statement)
            self.error(f"{describe_value(receiver)} has no method {func.attr!r} in source",
                       func)
        callee = self.expr(func)
        self.error(f"{describe_value(callee)} is not callable", func)

    def args_of(self, node: ast.Call):
        """The call's arguments as JSON (references are id strings) and as compiled
        values (for overload matching)."""
        values = [self.expr(a) for a in node.args]
        kwvalues = {kw.arg: self.expr(kw.value) for kw in node.keywords}
        args = [self.json(v, a) for v, a in zip(values, node.args)]
        kwargs = {kw.arg: self.json(kwvalues[kw.arg], kw.value) for kw in node.keywords}
        return args, kwargs, values, kwvalues

    def function_call(self, path: str, node: ast.Call, target):
        module, _, name = path.rpartition(".")
        if path in NO_GRAD | ENABLE_GRAD | SET_GRAD:
            self.error(f"{path}() is only supported as a with-statement (or, for "
                       "set_grad_enabled, a statement of its own)", node)
        if path in ("torch.autograd.backward", "torch.autograd.grad") or name == "backward":
            self.error(f"{path}() is not part of a graph: send the graph, then ask POST "
                       "/backward or /grad", node)
        if path == "float":
            return self.float_call(node)
        if path == "torch.tensor":
            return self.tensor_literal(node, target, legacy=None)
        if module == "torch" and name in LEGACY:
            return self.tensor_literal(node, target, legacy=LEGACY[name])
        if path in VARIABLE:
            return self.variable(node, target)
        if module not in FUNC_MODULES or name not in OVERLOADS and not (
                module == "torch.linalg" and f"linalg_{name}" in OVERLOADS):
            self.error(f"unknown function {path}(); the ops are listed by GET /ops", node)
        self.reject_internal(name, node)
        if module == "torch.linalg" and f"linalg_{name}" in OVERLOADS:
            name = f"linalg_{name}"  # the table's name for torch.linalg.det & co.
        args, kwargs, values, kwvalues = self.args_of(node)
        return self.op_call(name, args, kwargs, values, kwvalues, node, target)

    def method_call(self, receiver: Ref, name: str, node: ast.Call, target, statement):
        if name in ("backward", "register_hook"):
            self.error(f"x.{name}() is not part of a graph: send the graph, then ask POST "
                       "/backward (hooks go in its 'hooks' field)", node)
        if name == "retain_grad":
            if not statement:
                self.error("retain_grad() returns None; call it as a statement", node)
            if node.args or node.keywords:
                self.error("retain_grad() takes no arguments", node)
            return Ref(self.emit(self.self_id(receiver, node, None), "retain_grad",
                                 [receiver.id], at=node))
        if name == "requires_grad_":
            args, kwargs = self.args_of(node)[:2]
            flag = (args + list(kwargs.values()) or [True])
            if len(flag) != 1 or not isinstance(flag[0], bool) or (
                    kwargs and "requires_grad" not in kwargs):
                self.error("requires_grad_() takes one argument, True or False", node)
            return Ref(self.emit(self.self_id(receiver, node, target), "requires_grad_",
                                 [receiver.id, flag[0]], at=node))
        if name in SELF_METHODS:
            args, kwargs = self.method_args(name, node)
            return Ref(self.emit(self.self_id(receiver, node, target), name,
                                 [receiver.id, *args], kwargs, at=node))
        if name in TENSOR_METHODS:
            args, kwargs = self.method_args(name, node)
            return Ref(self.emit(target, name, [receiver.id, *args], kwargs, at=node))
        rows = OVERLOADS.get(name)
        if not rows or not any(r.method for r in rows):
            self.error(f"unknown tensor method {name!r}; the ops are listed by GET /ops", node)
        args, kwargs, values, kwvalues = self.args_of(node)
        return self.op_call(name, [receiver.id, *args], kwargs, [receiver, *values],
                            kwvalues, node, target)

    def method_args(self, name, node):
        args, kwargs, values, kwvalues = self.args_of(node)
        for v in [*values, *kwvalues.values()]:
            if has_str(stand_in(v)) and not (name == "to" and isinstance(v, DType)):
                self.error(f"x.{name}(): {describe_value(v)} is not accepted here"
                           + (" (only a dtype, such as torch.float64)" if name == "to" else ""),
                           node)
        return args, kwargs

    def self_id(self, receiver: Ref, node, target):
        if "." in receiver.id:
            self.error("in-place methods apply to tensor variables, not to .grad", node)
        return target or receiver.id

    def reject_internal(self, name, node):
        if name.startswith("_"):
            self.error(f"unknown function {name!r}", node)

    def op_call(self, name, args, kwargs, values, kwvalues, node, target):
        multi = self.multi_output(name, values, kwvalues, node)
        node_id = self.emit(target, name, args, kwargs, at=node)
        return Multi(node_id) if multi else Ref(node_id)

    def multi_output(self, name, values, kwvalues, node) -> bool:
        """Bind the arguments to the op's overloads (as engine.ops.resolve does, with a
        stand-in for tensors): arity and keyword errors are reported here, with a position;
        whether the chosen overload returns several tensors decides how the result is used."""
        stand = [stand_in(v) for v in values]
        kw = {k: stand_in(v) for k, v in kwvalues.items()}
        bound_rows, first_error = [], None
        for row in OVERLOADS[name]:
            a = row._pack_varargs(stand) if row.varargs else stand
            try:
                bound = row.signature.bind(*a, **kw)
            except TypeError as e:
                first_error = first_error or e
                continue
            given = set(bound.arguments)
            bound.apply_defaults()
            bound_rows.append((row, tuple(bound.arguments.values()), given))
        if not bound_rows:
            self.error(f"{name}(): {first_error}", node)
        # On the wire a string is a reference unless its parameter takes a string (a dtype,
        # a device, reduction="sum"): refuse strings anywhere else, here, with a position.
        def misplaced(row, vals, given):  # user-given strings in non-string parameters
            return [p.name for p, v in zip(row.params, vals) if p.name in given and has_str(
                v) and p.type.rstrip("?") not in STRING_TYPES]

        usable = [(row, vals) for row, vals, given in bound_rows
                  if not misplaced(row, vals, given)]
        if not usable:
            bad = misplaced(*bound_rows[0])[0]
            self.error(f"{name}(): argument {bad!r} cannot be a string or dtype", node)
        for strict in (True, False):
            for row, vals in usable:
                if all(fits(p.type, v, strict) for p, v in zip(row.params, vals)):
                    return row.multi_output
        return False  # types left to the service, which reports them

    def arg(self, node):
        """An argument: a JSON value where strings are references (or dtype names)."""
        return self.json(self.expr(node), node)

    def json(self, value, node):
        if isinstance(value, Ref):
            return value.id
        if isinstance(value, DType):
            return value.name
        if isinstance(value, Const):
            v = value.value
            if isinstance(v, float) and not math.isfinite(v):
                self.error("non-finite numbers are only supported inside tensor literals "
                           "(torch.tensor([float('nan')]))", node)
            if isinstance(v, int) and not isinstance(v, bool) and not (
                    INT64[0] <= v <= INT64[1]):
                self.error("integer out of the int64 range", node)
            return v
        if isinstance(value, Seq):
            return [self.json(v, node) for v in value.items]
        if isinstance(value, Path) and value.path.startswith("torch.") and (
                value.path[6:] in DTYPES):
            return DTYPES[value.path[6:]]  # `from torch import float64`
        if isinstance(value, Path) and value.path.startswith("torch.") and (
                value.path[6:] in MEMORY_FORMATS):
            return value.path[6:]  # torch.channels_last: its name, as the table's rows take it
        if isinstance(value, Multi):
            self.error("a multi-output result must be unpacked or indexed first "
                       "(v, i = x.max(0), or r[0])", node)
        self.error(f"{describe_value(value)} cannot be used as an argument", node)

    def constant(self, node):
        """A compile-time constant (bool, number, None) or a SourceError."""
        value = self.expr(node)
        if not isinstance(value, Const):
            self.error(f"expected a constant, got {describe_value(value)}", node)
        return value.value

    def float_call(self, node: ast.Call):
        if len(node.args) != 1 or node.keywords:
            self.error("float() takes one argument", node)
        value = self.constant(node.args[0])
        if isinstance(value, str):
            text = value.strip().lower()
            if text not in ("nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity",
                            "+infinity", "-infinity"):
                self.error(f"float({value!r}): only 'nan', 'inf' and '-inf' are supported",
                           node)
            return Const(float(text))
        if not is_number(value):
            self.error("float() of this value is not supported", node)
        return Const(float(value))

    # -- tensor literals

    def tensor_literal(self, node: ast.Call, target, legacy):
        if legacy is not None:  # torch.Tensor(...): float32 data, or sizes -> empty
            if node.keywords:
                self.error("the legacy constructor torch.Tensor() takes no keywords; use "
                           "torch.tensor(data, dtype=..., requires_grad=...)", node)
            values = [self.expr(a) for a in node.args]
            if len(values) == 1 and isinstance(values[0], Seq):
                data = self.literal_data(values[0], node.args[0])
                return Ref(self.emit(target, "tensor", at=node, data=wire_data(data),
                                     dtype=legacy, requires_grad=False))
            sizes = [self.json(v, node) for v in values]
            if not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
                self.error("torch.Tensor() takes a list of data or integer sizes", node)
            return Ref(self.emit(target, self.require_op("empty", node), sizes,
                                 {"dtype": legacy}, at=node))
        if len(node.args) != 1:
            self.error("tensor() takes exactly one positional argument, the data", node)
        dtype, requires_grad = None, False
        for kw in node.keywords:
            if kw.arg == "dtype":
                value = self.expr(kw.value)
                dtype = self.json(value, kw.value)
                if not isinstance(value, (DType, Path)) or dtype not in DTYPES.values():
                    self.error("dtype must be a torch dtype such as torch.float64", kw.value)
            elif kw.arg == "requires_grad":
                requires_grad = self.constant(kw.value)
                if not isinstance(requires_grad, bool):
                    self.error("requires_grad must be True or False", kw.value)
            elif kw.arg == "device":
                if self.constant(kw.value) not in ("cpu", None):
                    self.error("only device='cpu' can be written in source", kw.value)
            else:
                self.error(f"tensor() got an unexpected keyword argument {kw.arg!r}", kw.value)
        value = self.expr(node.args[0])
        if isinstance(value, Const) and is_number(value.value):
            data = self.literal_data(Seq((value,)), node.args[0])[0]
        elif isinstance(value, Seq):
            data = self.literal_data(value, node.args[0])
        else:
            self.error("tensor() data must be a number or a nested list of numbers written "
                       "in the source", node.args[0])
        if dtype is None:
            dtype = infer_dtype(data)
        return Ref(self.emit(target, "tensor", at=node, data=wire_data(data), dtype=dtype,
                             requires_grad=requires_grad))

    def literal_data(self, seq: Seq, node):
        """A Seq of number constants -> nested Python lists (depth bounded by MAX_DEPTH)."""
        out = []
        for item in seq.items:
            if isinstance(item, Seq):
                out.append(self.literal_data(item, node))
            elif isinstance(item, Const) and is_number(item.value):
                v = item.value
                if isinstance(v, int) and not isinstance(v, bool) and not (
                        INT64[0] <= v <= INT64[1]):
                    self.error("integer out of the int64 range in tensor data", node)
                out.append(v)
            else:
                self.error(f"tensor data must be numbers, not {describe_value(item)}", node)
        return out

    def variable(self, node: ast.Call, target):
        """torch.autograd.Variable(t, requires_grad=b): a new leaf sharing t's data, i.e.
        t.detach().requires_grad_(b)."""
        if len(node.args) != 1:
            self.error("Variable() takes one tensor", node)
        source = self.expr(node.args[0])
        if not isinstance(source, Ref):
            self.error("Variable() takes a tensor", node.args[0])
        flag = False
        for kw in node.keywords:
            if kw.arg != "requires_grad":
                self.error(f"Variable() got an unexpected keyword argument {kw.arg!r}", node)
            flag = self.constant(kw.value)
            if not isinstance(flag, bool):
                self.error("requires_grad must be True or False", kw.value)
        detached = self.emit(None if flag else target, "detach", [source.id], at=node)
        if not flag:
            return Ref(detached)
        return Ref(self.emit(target, "requires_grad_", [detached, True], at=node))

    def require_op(self, name, node):
        if name not in OVERLOADS:
            self.error(f"op {name!r} is not available in this server's op table", node)
        return name
