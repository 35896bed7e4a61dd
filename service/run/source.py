"""The ``source`` compiler: a small, safe PyTorch-like Python subset -> the graph node list.

The text is parsed with :mod:`ast` and walked against an allow-list; it is never evaluated
(no ``eval``/``exec``/``compile`` to code objects). Anything outside the subset raises
:class:`SourceError` with a message, a 1-based line and a 1-based character column, which
the service answers as a ``422``.

    compile_source("x = torch.tensor([1., 2.], requires_grad=True)\\ny = (x ** 2).sum()")
    -> [{"id": "x", "op": "tensor", "data": [1.0, 2.0], "dtype": "float32",
         "requires_grad": True},
        {"id": "_1", "op": "pow", "args": ["x", 2]},
        {"id": "y", "op": "sum", "args": ["_1"]}]

The subset
----------
* ``import torch``, ``import torch.nn.functional as F``, ``from torch import nn`` ... (only
  torch and its ``nn``, ``nn.functional``, ``autograd``, ``linalg``, ``special`` modules;
  they bind names and emit nothing). ``torch``, ``F`` and ``nn`` are known without import
  and cannot be rebound; bare op names (``tensor(...)``, ``exp(x)``) are torch's functions
  unless a variable shadows them (``sum``/``max``/``min``/``all``/``any`` are refused bare:
  Python's builtins would iterate over the tensor).
* Not supported (a SourceError): def, lambda, class, loops, if, try, comprehensions,
  f-strings, walrus, global, del, ``*``/``**`` arguments, chained assignment or comparison,
  and/or, assigning into anything but a tensor variable, dunder or private attributes and
  names, non-ASCII names, reading
  tensor attributes other than ``.grad``/``.T``/``.mT``, ``backward``/``autograd.grad``/
  ``register_hook``/``print`` (the request says what to compute), any other function.
* Single-target assignments ``y = <expr>``; ``v, i = x.max(0)`` (unpacking a multi-output
  op); ``x += 1`` (in place, as Python does on a tensor); ``x.requires_grad = True``;
  ``x[...] = v`` (in place, recorded as torch records it: node 8).
* Operators ``+ - * / // % ** @``, unary ``-``/``+``, comparisons ``< <= > >= == !=``
  (not chained). Between two plain numbers they are folded at compile time.
* Calls of the op table's ops (``engine.ops.OVERLOADS``), as functions with or without
  ``torch.``, ``F.``, ``nn.functional.``, ``torch.nn.functional.``, ``torch.linalg.``,
  ``torch.special.`` prefixes, or as Tensor methods (``x.sum(0)``), with keyword arguments.
* Tensor literals ``torch.tensor(<nested list of numbers>, dtype=..., requires_grad=...)``,
  the legacy ``torch.Tensor([...])`` (float32; ``torch.Tensor(2, 3)`` is ``empty``),
  ``torch.DoubleTensor``/``LongTensor``/``BoolTensor``; ``float('nan')``/``'inf'``/``'-inf'``
  inside literals; ``torch.autograd.Variable(x, requires_grad=True)``.
* Constants: numbers, ``True``/``False``/``None``, short strings, tuples/lists of them, dtype
  names (``torch.float64`` -> ``"float64"``); names may be bound to constants (``n = 3``).
* Indexing ``x[0, 1:, None, ..., [0, 2], mask]``; ``.T``, ``.mT``; ``x.grad`` (a reference).
* ``x.requires_grad_()``, ``x.retain_grad()``, ``x.detach()``, ``x.to(dtype)``,
  ``x.float()``/``double()``/..., in-place ``x.add_(1)``, ``x.exp_()`` and friends.
* ``with torch.no_grad():`` / ``torch.enable_grad()`` / ``torch.set_grad_enabled(b)`` /
  ``torch.inference_mode(b=True)`` (also under ``torch.autograd.``, optionally ``as name``),
  and the statement
  ``torch.set_grad_enabled(b)`` which switches the mode for the statements after it.

Node formats (what the service must execute)
--------------------------------------------
Every node has ``id`` (``^[A-Za-z_][A-Za-z0-9_]*$``) and ``op``; a node computed with grad
disabled also has ``"grad_mode": false``, one computed in inference mode
``"grad_mode": "inference"`` (absent means enabled). Ids are the Python names;
values the program does not name get compiler-made ids ``_1``, ``_2``, ... (user names of
that form are refused, so they cannot collide). In ``args``/``kwargs``:

* a string in a Tensor position is a reference: an id, or ``"<id>.grad"``; a list of such
  strings is a ``Tensor[]`` argument (``torch.cat([x, y])`` -> ``[["x", "y"]]``);
* a string in a ``ScalarType`` position (``dtype=``, ``to()``'s argument) is a dtype name
  (``"float32"``, ``"float64"``, ``"int64"``, ``"bool"``, ...), and in a ``str``,
  ``Device`` or ``Any`` position it is that string (``reduction="sum"``, ``norm("fro")``).
  The compiler refuses a string constant (or dtype) anywhere else, so a string in a Tensor
  position is always a reference; user names equal to dtype names are refused;
* numbers, booleans, ``null`` and lists of them are constants (all finite: a non-finite
  number is only accepted inside a tensor literal).

The ops:

1. ``{"id", "op": "tensor", "data": <number | nested list>, "dtype": "float32" | "float64"
   | "int64" | "bool" | ..., "requires_grad": bool}``: a leaf. ``dtype`` is always given, as
   torch infers it (bools -> bool, ints -> int64, any float -> float32) or as written;
   non-finite data are the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
2. ``{"id", "op": <table op>, "args": [...], "kwargs": {...}}``: ``engine.ops.resolve(op,
   args, kwargs)`` with references replaced by tensors. ``kwargs`` is omitted when empty.
   ``args`` are as written (``x.view(2, 3)`` -> ``["x", 2, 3]``; the row's varargs packing
   applies). Operators map to ops as torch's dunders do: ``a + b`` -> ``add``, ``a - b`` ->
   ``sub``, ``2 - x`` -> ``rsub(x, 2)``, ``2 / x`` -> ``reciprocal(x)`` then ``mul(_, 2)``,
   ``2 ** x`` -> ``pow(2, x)``, ``a @ b`` -> ``matmul``, ``//`` -> ``floor_divide``, ``%`` ->
   ``remainder``, ``-x`` -> ``neg``, ``<`` -> ``lt`` (``2 < x`` -> ``gt(x, 2)``), ...
3. Tensor-method ops (:data:`op_sets.TENSOR_METHODS`), run as ``getattr(args[0], op)(*args[1:],
   **kwargs)``: ``detach``, ``to`` (``["x", "float64"]``), ``float``, ``double``, ``long``,
   ``int``, ``bool``, ``half``, ``contiguous``. Of these, the ones in
   :data:`op_sets.SELF_METHODS` modify ``args[0]`` in place and the node's ``id`` is then bound to
   that same tensor object (``retain_grad`` returns None in torch; the id still binds the
   tensor): ``requires_grad_`` (``{"id": "x", "op": "requires_grad_", "args": ["x", true]}``,
   also for ``x.requires_grad = True``), ``retain_grad`` (``{"id": "x", "op":
   "retain_grad", "args": ["x"]}``), ``zero_``, ``fill_``, and ``<op>_`` of every row with
   an in-place variant (``exp_``, ``mul_``, ``clamp_``...: ``"inplace": true`` in GET /ops).
4. ``{"id", "op": "T", "args": ["A"]}`` and ``"mT"``: the properties ``A.T`` and ``A.mT``
   (torch shows PermuteBackward0 and TransposeBackward0).
5. ``{"id", "op": "index", "args": ["x", [<component>, ...]]}``: ``x[...]``. The second
   argument is ALWAYS the list of index components (the tuple Python passes), so ``x[0]``
   -> ``["x", [0]]``, ``x[0, 1:]`` -> ``["x", [0, {"slice": [1, null, null]}]]``, and
   ``x[[0, 2]]`` -> ``["x", [[0, 2]]]``. A component is an int, a bool, ``null`` (None, a new
   axis), ``"..."`` (Ellipsis), ``{"slice": [start, stop, step]}`` (ints or null), a (nested)
   list of ints/bools, or a reference string (a tensor index such as a mask).
6. ``{"id", "op": "assign", "args": ["x"]}``: ``y = x`` (or ``y = x.grad``): bind the id
   to the same tensor object, no autograd node (not the table's ``alias`` row, which is
   ``torch.alias`` and records AliasBackward0).
7. ``{"id", "op": "getitem", "args": ["r", 0]}``: the item of a multi-output op's result
   (a tuple or list of tensors): ``v, i = x.max(0)`` -> ``{"id": "_1", "op": "max", "args":
   ["x", 0]}``, ``{"id": "v", "op": "getitem", "args": ["_1", 0]}``, ``{"id": "i", ...
   ["_1", 1]}``; also ``r[1]``, ``r.values`` (0) and ``r.indices`` (1).
8. ``{"id": "x", "op": "setitem_", "args": ["x", [<component>, ...], v]}``: ``x[...] = v``,
   in place (components as for ``index``; ``v`` a reference or a constant); the id binds x
   itself (torch records CopySlices, or IndexPutBackward0 for tensor indices alone).

Bounds: ``max_chars`` characters of source, ``max_nodes`` nodes, and AST nesting of at most
:data:`MAX_DEPTH` levels, checked iteratively before the compiling walk (which recurses, so
its depth is bounded by that check). Python's own parser errors on deep input (SyntaxError,
RecursionError, MemoryError) become SourceErrors too.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass

from engine.ops import OVERLOADS
from engine.ops import table as _table

from ..op_sets import SELF_METHODS, TENSOR_METHODS
from .parsing import parse

MAX_DEPTH = 100
MAX_NAME = 128
MAX_STRING = 64
_INT64 = (-(2 ** 63), 2 ** 63 - 1)

DTYPES = {"float32": "float32", "float": "float32", "float64": "float64",
          "double": "float64", "int64": "int64", "long": "int64", "bool": "bool",
          "int32": "int32", "int": "int32", "float16": "float16", "half": "float16",
          "uint8": "uint8"}
_LEGACY = {"Tensor": "float32", "FloatTensor": "float32", "DoubleTensor": "float64",
           "LongTensor": "int64", "BoolTensor": "bool"}
_IMPORTABLE = {"torch", "torch.nn", "torch.nn.functional", "torch.autograd", "torch.linalg",
               "torch.special"}
_FUNC_MODULES = {"torch", "torch.nn.functional", "torch.linalg", "torch.special"}
_NO_GRAD = {"torch.no_grad", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad"}
_ENABLE_GRAD = {"torch.enable_grad", "torch.autograd.enable_grad",
                "torch.autograd.grad_mode.enable_grad"}
_INFERENCE = {"torch.inference_mode", "torch.autograd.inference_mode",
              "torch.autograd.grad_mode.inference_mode"}
_SET_GRAD = {"torch.set_grad_enabled", "torch.autograd.set_grad_enabled",
             "torch.autograd.grad_mode.set_grad_enabled"}
_VARIABLE = {"torch.autograd.Variable", "torch.autograd.variable.Variable"}
# Python builtins whose meaning on a tensor differs from torch's function of that name.
_BUILTIN_CLASH = {"sum", "max", "min", "all", "any"}
_METHOD_OPS = {ast.Add: "add_", ast.Sub: "sub_", ast.Mult: "mul_", ast.Div: "div_",
               ast.Pow: "pow_"}
_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
           ast.MatMult: "matmul", ast.FloorDiv: "floor_divide", ast.Mod: "remainder"}
_CMPOPS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq",
           ast.NotEq: "ne"}
_SWAPPED = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}
_STRING_TYPES = {"str", "ScalarType", "Device", "MemoryFormat", "Any"}
_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEMP_RE = re.compile(r"^_\d+$")


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


class _Tensorish:
    """Stands for a tensor when matching overloads at compile time."""


_T = _Tensorish()


def compile_source(text: str, *, max_nodes: int = 10000, max_chars: int = 200_000,
                   names: dict | None = None) -> list[dict]:
    """Compile ``text`` to the graph node list of the wire contract, or raise SourceError.

    ``names`` are a session's bound names (id -> tensor, or a tuple for a multi-output
    result): the program reads them as lines typed into the same Python session would
    (api.md), and its own temporaries are numbered after the session's.

    ``max_chars`` bounds Python's parser, which takes about 200 bytes of memory per
    character of source (large tensors travel better as base64 or binary values)."""
    if not isinstance(text, str):
        raise SourceError("source must be a string")
    if len(text) > max_chars:
        raise SourceError(f"source is {len(text)} characters; the limit is {max_chars}")
    try:
        tree = parse(text, "exec")
    except SyntaxError as e:
        raise SourceError(f"syntax error: {e.msg}", e.lineno or 1, e.offset or 1) from None
    except (RecursionError, MemoryError):
        raise SourceError("source is nested too deeply to parse") from None
    except (ValueError, OverflowError) as e:  # null bytes, too many digits
        raise SourceError(f"cannot parse source: {e}") from None
    compiler = _Compiler(text, max_nodes)
    compiler.know(names or {})
    compiler.check_depth(tree)
    for stmt in tree.body:
        compiler.statement(stmt)
    return compiler.nodes


class _Compiler:
    def __init__(self, text: str, max_nodes: int):
        self.lines = re.split(r"\r\n|\r|\n", text)
        self.max_nodes = max_nodes
        self.nodes: list[dict] = []
        self.env: dict[str, object] = {}  # Python name -> compiled value
        self.aliases = {"torch": "torch", "F": "torch.nn.functional", "nn": "torch.nn"}
        self.grad_mode = True
        self.temp = 0
        self.stmt = None  # the statement being compiled, for errors on position-less nodes

    def know(self, names: dict) -> None:
        """Bind a session's names before the program runs (see compile_source)."""
        for name, value in names.items():
            if _TEMP_RE.match(name):
                self.temp = max(self.temp, int(name[1:]))
            elif (_ID_RE.match(name) and not name.startswith("__") and name not in self.aliases
                  and name not in DTYPES):
                self.env[name] = Multi(name) if isinstance(value, tuple) else Ref(name)

    # -- errors and bounds

    def error(self, message: str, node=None):
        node = node if getattr(node, "lineno", None) else self.stmt
        line = getattr(node, "lineno", 1) or 1
        col = 1
        if node is not None and line <= len(self.lines):
            # col_offset counts UTF-8 bytes; report characters, 1-based
            raw = self.lines[line - 1].encode("utf-8")[:node.col_offset]
            col = len(raw.decode("utf-8", errors="replace")) + 1
        raise SourceError(message, line, col)

    def check_depth(self, tree):
        stack = [(tree, 0, None)]
        while stack:  # iterative: the tree may be as deep as the parser allowed
            node, depth, at = stack.pop()
            at = node if getattr(node, "lineno", None) else at
            if depth > MAX_DEPTH:
                self.error(f"the source is nested more than {MAX_DEPTH} levels deep", at)
            stack.extend((child, depth + 1, at) for child in ast.iter_child_nodes(node))

    # -- emitting

    def emit(self, node_id: str | None, op: str, args=None, kwargs=None, at=None, **extra):
        if len(self.nodes) >= self.max_nodes:
            self.error(f"the program makes more than {self.max_nodes} nodes", at)
        if node_id is None:
            self.temp += 1
            node_id = f"_{self.temp}"
        node = {"id": node_id, "op": op}
        if args is not None:
            node["args"] = args
        if kwargs:
            node["kwargs"] = kwargs
        node.update(extra)
        if self.grad_mode is not True:  # False, or "inference"
            node["grad_mode"] = self.grad_mode
        self.nodes.append(node)
        return node_id

    # -- statements

    def statement(self, stmt):
        self.stmt = stmt
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name not in _IMPORTABLE:
                    self.error(f"cannot import {alias.name!r}: only torch and its nn, "
                               "nn.functional, autograd, linalg and special modules", stmt)
                if alias.asname:
                    self.bind_alias(alias.asname, alias.name, stmt)
                else:
                    self.bind_alias("torch", "torch", stmt)
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.level or stmt.module not in _IMPORTABLE:
                self.error(f"cannot import from {stmt.module!r}: only torch and its nn, "
                           "nn.functional, autograd, linalg and special modules", stmt)
            for alias in stmt.names:
                if alias.name == "*":
                    self.error("'import *' is not supported", stmt)
                self.check_attr(alias.name, stmt)
                self.bind_alias(alias.asname or alias.name, f"{stmt.module}.{alias.name}",
                                stmt)
        elif isinstance(stmt, ast.Assign):
            self.assign(stmt)
        elif isinstance(stmt, ast.AugAssign):
            self.aug_assign(stmt)
        elif isinstance(stmt, ast.Expr):
            self.expr_statement(stmt.value)
        elif isinstance(stmt, ast.With):
            self.with_block(stmt)
        elif isinstance(stmt, ast.Pass):
            pass
        else:
            self.error(f"{_describe(stmt)} is not supported in source; write straight-line "
                       "tensor code (assignments, calls, with-blocks)", stmt)

    def bind_alias(self, name: str, path: str, at):
        self.check_name(name, at, binding=False)
        self.env.pop(name, None)
        self.aliases[name] = path

    def check_name(self, name: str, at, binding: bool = True):
        if not _ID_RE.match(name) or len(name) > MAX_NAME:
            self.error(f"name {name!r} is not allowed: names must match "
                       f"[A-Za-z_][A-Za-z0-9_]* (ASCII, at most {MAX_NAME} characters)", at)
        if name.startswith("__"):
            self.error(f"name {name!r} is not allowed: dunder names are refused", at)
        if binding:
            if _TEMP_RE.match(name):
                self.error(f"name {name!r} is reserved for compiler-made ids", at)
            if name in self.aliases:
                self.error(f"cannot rebind {name!r}: it names a module or function", at)
            if name in DTYPES:
                self.error(f"cannot bind {name!r}: it is a dtype name", at)

    def check_attr(self, attr: str, at):
        if attr.startswith("_"):
            self.error(f"attribute {attr!r} is not allowed (private or dunder)", at)

    def assign(self, stmt: ast.Assign):
        if len(stmt.targets) != 1:
            self.error("chained assignment (a = b = ...) is not supported", stmt)
        target = stmt.targets[0]
        if isinstance(target, ast.Name):
            self.check_name(target.id, target)
            value = self.expr(stmt.value, target=target.id)
            self.bind(target.id, value, stmt.value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            self.unpack(target, stmt.value)
        elif isinstance(target, ast.Attribute):
            self.set_attribute(target, stmt.value)
        elif isinstance(target, ast.Subscript):
            self.set_item(target, stmt.value)
        else:
            self.error(f"cannot assign to {_describe(target)}", target)

    def bind(self, name: str, value, at):
        if isinstance(value, (Ref, Multi)):
            if value.id != name:  # `y = x`, `y = x.grad`: same object under a new id
                self.emit(name, "assign", [value.id], at=at)
            self.env[name] = type(value)(name)
        elif isinstance(value, (Const, DType)) or (
                isinstance(value, Seq) and not _has_tensor(value)):
            self.env[name] = value
        elif isinstance(value, Seq):
            self.error("a list of tensors can only be written inline, as a call's argument",
                       at)
        else:
            self.error(f"cannot bind {_describe_value(value)} to a name", at)

    def unpack(self, target, value_node):
        names = []
        for elt in target.elts:
            if not isinstance(elt, ast.Name):
                self.error("only plain names can be unpacked into", elt)
            self.check_name(elt.id, elt)
            names.append(elt.id)
        value = self.expr(value_node)
        if not isinstance(value, Multi):
            self.error("only the result of a multi-output op (max(dim), split, chunk, "
                       "unbind, ...) can be unpacked", value_node)
        for k, name in enumerate(names):
            self.emit(name, "getitem", [value.id, k], at=target)
            self.env[name] = Ref(name)

    def set_attribute(self, target: ast.Attribute, value_node):
        if target.attr != "requires_grad":
            self.error(f"cannot set attribute {target.attr!r}; only x.requires_grad = ... "
                       "is supported", target)
        obj = target.value
        if not isinstance(obj, ast.Name) or not isinstance(self.env.get(obj.id), Ref):
            self.error("requires_grad can only be set on a tensor variable", target)
        flag = self.constant(value_node)
        if not isinstance(flag, bool):
            self.error("requires_grad must be set to True or False", value_node)
        self.emit(obj.id, "requires_grad_", [obj.id, flag], at=target)

    def set_item(self, target: ast.Subscript, value_node):
        """``x[...] = v``: in place on the tensor variable x (node 8)."""
        obj = target.value
        if not isinstance(obj, ast.Name) or not isinstance(self.env.get(obj.id), Ref):
            self.error("assigning into x[...] is supported on tensor variables only", target)
        sl = target.slice
        spec = [self.index_component(p) for p in (sl.elts if isinstance(sl, ast.Tuple)
                                                   else [sl])]
        value = self.expr(value_node)
        if not isinstance(value, (Ref, Const)) and not (
                isinstance(value, Seq) and not _has_tensor(value)):
            self.error(f"cannot assign {_describe_value(value)} into a tensor", value_node)
        self.emit(obj.id, "setitem_", [obj.id, spec, self.json(value, value_node)], at=target)

    def aug_assign(self, stmt: ast.AugAssign):
        target = stmt.target
        if not isinstance(target, ast.Name):
            self.error("augmented assignment is supported on names only", target)
        current = self.lookup(target)
        if isinstance(current, Const):
            other = self.expr(stmt.value)
            if not isinstance(other, Const):
                self.error(f"{target.id!r} is a constant; it cannot be updated with "
                           f"{_describe_value(other)}", stmt)
            self.env[target.id] = self.fold(stmt.op, current, other, stmt)
            return
        if not isinstance(current, Ref):
            self.error(f"cannot apply {type(stmt.op).__name__} in place to "
                       f"{_describe_value(current)}", target)
        method = _METHOD_OPS.get(type(stmt.op))
        if method is None:
            self.error(f"in-place operator {type(stmt.op).__name__} is not supported", stmt)
        other = self.arg(stmt.value)
        self.emit(target.id, method, [target.id, other], at=stmt)

    def expr_statement(self, node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return  # a docstring
        if isinstance(node, ast.Call):
            path = self.callee_path(node.func)
            if path in _SET_GRAD:
                self.grad_mode = self.grad_mode_arg(node)
                return
            if path in _NO_GRAD | _ENABLE_GRAD:
                self.error(f"{path}() does nothing as a statement; use it in a with-block",
                           node)
        self.expr(node, statement=True)

    def with_block(self, stmt: ast.With):
        saved = self.grad_mode
        for item in stmt.items:
            call = item.context_expr
            path = self.callee_path(call.func) if isinstance(call, ast.Call) else None
            if path in _NO_GRAD or path in _ENABLE_GRAD:
                if call.args or call.keywords:
                    self.error(f"{path}() takes no arguments", call)
                self.grad_mode = path in _ENABLE_GRAD
            elif path in _SET_GRAD:
                self.grad_mode = self.grad_mode_arg(call)
            elif path in _INFERENCE:  # inference_mode(False) inside: grad on, as torch
                self.grad_mode = "inference" if self.inference_mode_arg(call) else True
            else:
                self.error("only torch.no_grad(), torch.enable_grad(), "
                           "torch.set_grad_enabled(...) and torch.inference_mode(...) can be "
                           "used in a with-statement", call)
            if item.optional_vars is not None:
                var = item.optional_vars
                if not isinstance(var, ast.Name):
                    self.error("with ... as: the target must be a name", var)
                self.check_name(var.id, var)
                self.env[var.id] = Opaque(path)
            if saved == "inference" and path not in _INFERENCE:
                self.grad_mode = "inference"  # grad modes inside change nothing there
        for inner in stmt.body:
            self.statement(inner)
        self.stmt = stmt
        self.grad_mode = saved  # leaving the block restores the mode, as torch does

    def inference_mode_arg(self, call: ast.Call) -> bool:
        values = [self.constant(a) for a in call.args]
        for kw in call.keywords:
            if kw.arg != "mode":
                self.error(f"inference_mode() got an unexpected keyword {kw.arg!r}", call)
            values.append(self.constant(kw.value))
        if len(values) > 1 or values and not isinstance(values[0], bool):
            self.error("inference_mode() takes at most one argument, True or False", call)
        return values[0] if values else True

    def grad_mode_arg(self, call: ast.Call) -> bool:
        values = [self.constant(a) for a in call.args]
        for kw in call.keywords:
            if kw.arg != "mode":
                self.error(f"set_grad_enabled() got an unexpected keyword {kw.arg!r}", call)
            values.append(self.constant(kw.value))
        if len(values) != 1 or not isinstance(values[0], bool):
            self.error("set_grad_enabled() takes one argument, True or False", call)
        return values[0]

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
        if name in OVERLOADS or name in ("tensor", "Variable") or name in _LEGACY:
            if name in _BUILTIN_CLASH:
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
                func.id in _LEGACY):
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
        self.error(f"{_describe(node)} is not supported in source", node)

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
            if isinstance(operand, Const) and _is_number(operand.value):
                return Const(-operand.value if isinstance(node.op, ast.USub)
                             else +operand.value)
            if isinstance(operand, Ref):
                if isinstance(node.op, ast.UAdd):
                    return operand  # torch: +x is x itself
                return Ref(self.emit(target, "neg", [operand.id], at=node))
        self.error(f"unary {type(node.op).__name__} is not supported on "
                   f"{_describe_value(operand)}", node)

    def binop(self, node: ast.BinOp, target):
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(left, Const) and isinstance(right, Const):
            return self.fold(node.op, left, right, node)
        name = _BINOPS.get(type(node.op))
        if name is None:
            self.error(f"operator {type(node.op).__name__} is not supported", node)
        for side in (left, right):
            if not isinstance(side, Ref) and not (
                    isinstance(side, Const) and _is_number(side.value)):
                self.error(f"operator {type(node.op).__name__} is not supported on "
                           f"{_describe_value(side)}", node)
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
        if not (_is_number(a) and _is_number(b)):
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
        name = _CMPOPS.get(type(node.ops[0]))
        if name is None:
            self.error(f"comparison {type(node.ops[0]).__name__} is not supported", node)
        left, right = self.expr(node.left), self.expr(node.comparators[0])
        if isinstance(left, Const) and isinstance(right, Const) and _is_number(
                left.value) and _is_number(right.value):
            a, b = left.value, right.value
            return Const({"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b,
                          "eq": a == b, "ne": a != b}[name])
        if isinstance(right, Const) and not _is_number(right.value) or (
                isinstance(left, Const) and not _is_number(left.value)):
            self.error("comparisons take tensors and numbers", node)
        if isinstance(left, Ref) and isinstance(right, (Ref, Const)):
            return Ref(self.emit(target, self.require_op(name, node),
                                 [left.id, self.json(right, node)], at=node))
        if isinstance(left, Const) and isinstance(right, Ref):
            name = _SWAPPED[name]  # 2 < x is x.__gt__(2)
            return Ref(self.emit(target, self.require_op(name, node),
                                 [right.id, self.json(left, node)], at=node))
        self.error(f"cannot compare {_describe_value(left)} with {_describe_value(right)}",
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
        self.error(f"attribute {attr!r} of {_describe_value(base)} is not supported", node)

    def subscript(self, node: ast.Subscript, target):
        base = self.expr(node.value)
        if isinstance(base, Multi):
            k = self.constant(node.slice)
            if not isinstance(k, int) or isinstance(k, bool):
                self.error("the result of a multi-output op is indexed by an integer", node)
            return Ref(self.emit(target, "getitem", [base.id, k], at=node))
        if not isinstance(base, Ref):
            self.error(f"subscripts are only supported on tensors, not on "
                       f"{_describe_value(base)}", node)
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
            if any(isinstance(x, float) for x in _flatten(data)):
                self.error("index lists must hold integers or booleans", node)
            return data
        self.error(f"{_describe_value(value)} cannot be used as an index", node)

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
            self.error(f"{_describe_value(receiver)} has no method {func.attr!r} in source",
                       func)
        callee = self.expr(func)
        self.error(f"{_describe_value(callee)} is not callable", func)

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
        if path in _NO_GRAD | _ENABLE_GRAD | _SET_GRAD:
            self.error(f"{path}() is only supported as a with-statement (or, for "
                       "set_grad_enabled, a statement of its own)", node)
        if path in ("torch.autograd.backward", "torch.autograd.grad") or name == "backward":
            self.error(f"{path}() is not part of a graph: send the graph, then ask POST "
                       "/backward or /grad", node)
        if path == "float":
            return self.float_call(node)
        if path == "torch.tensor":
            return self.tensor_literal(node, target, legacy=None)
        if module == "torch" and name in _LEGACY:
            return self.tensor_literal(node, target, legacy=_LEGACY[name])
        if path in _VARIABLE:
            return self.variable(node, target)
        if module not in _FUNC_MODULES or name not in OVERLOADS and not (
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
            if _has_str(_stand_in(v)) and not (name == "to" and isinstance(v, DType)):
                self.error(f"x.{name}(): {_describe_value(v)} is not accepted here"
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
        stand = [_stand_in(v) for v in values]
        kw = {k: _stand_in(v) for k, v in kwvalues.items()}
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
            return [p.name for p, v in zip(row.params, vals) if p.name in given and _has_str(
                v) and p.type.rstrip("?") not in _STRING_TYPES]

        usable = [(row, vals) for row, vals, given in bound_rows
                  if not misplaced(row, vals, given)]
        if not usable:
            bad = misplaced(*bound_rows[0])[0]
            self.error(f"{name}(): argument {bad!r} cannot be a string or dtype", node)
        for strict in (True, False):
            for row, vals in usable:
                if all(_fits(p.type, v, strict) for p, v in zip(row.params, vals)):
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
                    _INT64[0] <= v <= _INT64[1]):
                self.error("integer out of the int64 range", node)
            return v
        if isinstance(value, Seq):
            return [self.json(v, node) for v in value.items]
        if isinstance(value, Path) and value.path.startswith("torch.") and (
                value.path[6:] in DTYPES):
            return DTYPES[value.path[6:]]  # `from torch import float64`
        if isinstance(value, Multi):
            self.error("a multi-output result must be unpacked or indexed first "
                       "(v, i = x.max(0), or r[0])", node)
        self.error(f"{_describe_value(value)} cannot be used as an argument", node)

    def constant(self, node):
        """A compile-time constant (bool, number, None) or a SourceError."""
        value = self.expr(node)
        if not isinstance(value, Const):
            self.error(f"expected a constant, got {_describe_value(value)}", node)
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
        if not _is_number(value):
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
                return Ref(self.emit(target, "tensor", at=node, data=_wire_data(data),
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
        if isinstance(value, Const) and _is_number(value.value):
            data = self.literal_data(Seq((value,)), node.args[0])[0]
        elif isinstance(value, Seq):
            data = self.literal_data(value, node.args[0])
        else:
            self.error("tensor() data must be a number or a nested list of numbers written "
                       "in the source", node.args[0])
        if dtype is None:
            dtype = _infer_dtype(data)
        return Ref(self.emit(target, "tensor", at=node, data=_wire_data(data), dtype=dtype,
                             requires_grad=requires_grad))

    def literal_data(self, seq: Seq, node):
        """A Seq of number constants -> nested Python lists (depth bounded by MAX_DEPTH)."""
        out = []
        for item in seq.items:
            if isinstance(item, Seq):
                out.append(self.literal_data(item, node))
            elif isinstance(item, Const) and _is_number(item.value):
                v = item.value
                if isinstance(v, int) and not isinstance(v, bool) and not (
                        _INT64[0] <= v <= _INT64[1]):
                    self.error("integer out of the int64 range in tensor data", node)
                out.append(v)
            else:
                self.error(f"tensor data must be numbers, not {_describe_value(item)}", node)
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


# --------------------------------------------------------------------------- helpers

def _is_number(v) -> bool:
    return isinstance(v, (int, float))


def _has_tensor(seq: Seq) -> bool:
    stack = [seq]
    while stack:
        s = stack.pop()
        for item in s.items:
            if isinstance(item, Seq):
                stack.append(item)
            elif not isinstance(item, (Const, DType)):
                return True
    return False


def _flatten(data):
    stack, out = [data], []
    while stack:
        d = stack.pop()
        if isinstance(d, list):
            stack.extend(d)
        else:
            out.append(d)
    return out


def _infer_dtype(data) -> str:
    """torch.tensor's inference: all bools -> bool, bools/ints -> int64, else float32."""
    flat = _flatten(data)
    if flat and all(isinstance(x, bool) for x in flat):
        return "bool"
    if flat and all(isinstance(x, int) for x in flat):
        return "int64"
    return "float32"


def _wire_data(data):
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


def _stand_in(value):
    """A compiled argument as the overload matcher should see it: tensors -> a stand-in."""
    if isinstance(value, Ref):
        return _T
    if isinstance(value, Seq):
        return [_stand_in(v) for v in value.items]
    if isinstance(value, DType):
        return value.name
    if isinstance(value, Const):
        return value.value
    return value


def _has_str(value) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and any(_has_str(v) for v in value)


def _fits(ptype: str, value, strict: bool) -> bool:
    base = ptype.rstrip("?")
    if value is _T:
        return base == "Tensor" or base == "Any"
    if isinstance(value, list) and any(v is _T for v in value):
        return base in ("Tensor[]", "Any") and all(v is _T for v in value)
    try:
        return _table._type_matches(ptype, value, strict)
    except (ValueError, TypeError):
        return False


def _describe(node) -> str:
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


def _describe_value(value) -> str:
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
