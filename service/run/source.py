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
import re

from .parsing import parse
from .source_calls import Calls
from .source_expressions import Expressions
from .source_values import (
    DTYPES,
    ENABLE_GRAD,
    ID_RE,
    IMPORTABLE,
    INFERENCE,
    MAX_DEPTH,
    MAX_NAME,
    METHOD_OPS,
    NO_GRAD,
    SET_GRAD,
    TEMP_RE,
    Const,
    DType,
    Multi,
    Opaque,
    Ref,
    Seq,
    SourceError,
    describe,
    describe_value,
    has_tensor,
)

__all__ = ["SourceError", "compile_source"]


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


class _Compiler(Expressions, Calls):
    """Statements, names and bounds; expressions and calls are the mixins'."""

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
            if TEMP_RE.match(name):
                self.temp = max(self.temp, int(name[1:]))
            elif (ID_RE.match(name) and not name.startswith("__") and name not in self.aliases
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
                if alias.name not in IMPORTABLE:
                    self.error(f"cannot import {alias.name!r}: only torch and its nn, "
                               "nn.functional, autograd, linalg and special modules", stmt)
                if alias.asname:
                    self.bind_alias(alias.asname, alias.name, stmt)
                else:
                    self.bind_alias("torch", "torch", stmt)
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.level or stmt.module not in IMPORTABLE:
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
            self.error(f"{describe(stmt)} is not supported in source; write straight-line "
                       "tensor code (assignments, calls, with-blocks)", stmt)

    def bind_alias(self, name: str, path: str, at):
        self.check_name(name, at, binding=False)
        self.env.pop(name, None)
        self.aliases[name] = path

    def check_name(self, name: str, at, binding: bool = True):
        if not ID_RE.match(name) or len(name) > MAX_NAME:
            self.error(f"name {name!r} is not allowed: names must match "
                       f"[A-Za-z_][A-Za-z0-9_]* (ASCII, at most {MAX_NAME} characters)", at)
        if name.startswith("__"):
            self.error(f"name {name!r} is not allowed: dunder names are refused", at)
        if binding:
            if TEMP_RE.match(name):
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
            self.error(f"cannot assign to {describe(target)}", target)

    def bind(self, name: str, value, at):
        if isinstance(value, (Ref, Multi)):
            if value.id != name:  # `y = x`, `y = x.grad`: same object under a new id
                self.emit(name, "assign", [value.id], at=at)
            self.env[name] = type(value)(name)
        elif isinstance(value, (Const, DType)) or (
                isinstance(value, Seq) and not has_tensor(value)):
            self.env[name] = value
        elif isinstance(value, Seq):
            self.error("a list of tensors can only be written inline, as a call's argument",
                       at)
        else:
            self.error(f"cannot bind {describe_value(value)} to a name", at)

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
                isinstance(value, Seq) and not has_tensor(value)):
            self.error(f"cannot assign {describe_value(value)} into a tensor", value_node)
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
                           f"{describe_value(other)}", stmt)
            self.env[target.id] = self.fold(stmt.op, current, other, stmt)
            return
        if not isinstance(current, Ref):
            self.error(f"cannot apply {type(stmt.op).__name__} in place to "
                       f"{describe_value(current)}", target)
        method = METHOD_OPS.get(type(stmt.op))
        if method is None:
            self.error(f"in-place operator {type(stmt.op).__name__} is not supported", stmt)
        other = self.arg(stmt.value)
        self.emit(target.id, method, [target.id, other], at=stmt)

    def expr_statement(self, node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return  # a docstring
        if isinstance(node, ast.Call):
            path = self.callee_path(node.func)
            if path in SET_GRAD:
                self.grad_mode = self.grad_mode_arg(node)
                return
            if path in NO_GRAD | ENABLE_GRAD:
                self.error(f"{path}() does nothing as a statement; use it in a with-block",
                           node)
        self.expr(node, statement=True)

    def with_block(self, stmt: ast.With):
        saved = self.grad_mode
        for item in stmt.items:
            call = item.context_expr
            path = self.callee_path(call.func) if isinstance(call, ast.Call) else None
            if path in NO_GRAD or path in ENABLE_GRAD:
                if call.args or call.keywords:
                    self.error(f"{path}() takes no arguments", call)
                self.grad_mode = path in ENABLE_GRAD
            elif path in SET_GRAD:
                self.grad_mode = self.grad_mode_arg(call)
            elif path in INFERENCE:  # inference_mode(False) inside: grad on, as torch
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
            if saved == "inference" and path not in INFERENCE:
                self.grad_mode = "inference"  # grad modes inside change nothing there
        for inner in stmt.body:
            self.statement(inner)
        self.stmt = stmt
        self.grad_mode = saved  # leaving the block restores the mode, as torch does

    def mode_args(self, call: ast.Call, name: str) -> list:
        """The constants a grad-mode call ``name`` is given, positionally or as ``mode=``."""
        values = [self.constant(a) for a in call.args]
        for kw in call.keywords:
            if kw.arg != "mode":
                self.error(f"{name}() got an unexpected keyword {kw.arg!r}", call)
            values.append(self.constant(kw.value))
        return values

    def inference_mode_arg(self, call: ast.Call) -> bool:
        values = self.mode_args(call, "inference_mode")
        if len(values) > 1 or values and not isinstance(values[0], bool):
            self.error("inference_mode() takes at most one argument, True or False", call)
        return values[0] if values else True

    def grad_mode_arg(self, call: ast.Call) -> bool:
        values = self.mode_args(call, "set_grad_enabled")
        if len(values) != 1 or not isinstance(values[0], bool):
            self.error("set_grad_enabled() takes one argument, True or False", call)
        return values[0]
