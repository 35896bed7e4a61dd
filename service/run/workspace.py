"""Node lists -> engine calls, in a Workspace: the named tensors of one request or session.

Each node is resolved against the op table (``engine.ops.resolve``), its output size is
checked from the row's shape rule *before* the row runs (so zeros(100000, 100000) is a 413,
not an allocation), then the row is called. Names bind like Python variables: re-using an
id rebinds it, and the old tensor lives on in any graph that uses it.
"""

from __future__ import annotations

import re
import weakref

import numpy as np

from engine import Tensor, inference_mode, is_grad_enabled, set_grad_enabled
from engine.errors import AutogradError, OpError
from engine.ops import OVERLOADS, resolve

from ..budget import Budget
from ..op_sets import IN_PLACE, PSEUDO, SELF_METHODS
from ..problems import Problem, bad, engine_status, limit
from ..wire import codec
from ..wire.index_form import decode_index
from . import content
from .byte_accounting import CHECK_BYTES, Ledger
from .graph_metadata import describe
from .plans import PLANS, node_key
from .retained import recount

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\.grad)?$")
CREATION_FIELDS = ("requires_grad", "dtype", "seed")


# What Python raises when a row meets arguments of a type it did not expect (a number where
# an array was assumed, an int too big for an index...): the caller's input, so a 422.
ARGUMENT_ERRORS = (TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError,
                   OverflowError, KeyError, RuntimeError)


class Workspace:
    """Named tensors, the graph between them, and the .grad of its leaves."""

    def __init__(self):
        self.names: dict[str, Tensor] = {}
        self.entries: list[tuple[str, str, Tensor]] = []  # (id, op, tensor), rebinds kept
        self._server_ids: dict[int, tuple[str, Tensor]] = {}  # unnamed tensors: "%k"
        self._node_ids: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._counter = 0
        self._name_of: dict[int, str] = {}  # id(tensor) -> the name that still binds it
        self._budget: Budget | None = None
        self.elements = 0  # of every tensor in entries (sizes never change: in-place keeps them)
        # the bytes held, kept call by call once first asked for (byte_accounting.py); None: not
        # counted yet, or dropped by a change it does not follow
        self._ledger: Ledger | None = None
        # id(node data) -> (data, its content summary), made when the data is decoded: the
        # graph hash reads them instead of decoding the request's tensors a second time
        # (a large one is a Future while it is hashed: content.summary_soon)
        self.summaries: dict[int, tuple] = {}

    # -- references

    def ref(self, text: str, where: str) -> Tensor:
        m = REF.match(text) if isinstance(text, str) else None
        if not m or m[1] not in self.names:
            raise bad(f"{where}: unknown reference {text!r} (ids must be defined by an earlier "
                      "node)")
        t = self.names[m[1]]
        if not isinstance(t, Tensor):
            raise bad(f"{where}: {m[1]!r} holds several tensors (a multi-output op); take one "
                      "with getitem")
        if m[2]:
            g = t._grad
            if g is None:
                raise bad(f"{where}: {text!r} is None (no gradient accumulated yet)")
            return g
        return t

    def bind(self, name: str, op: str, t: Tensor) -> None:
        old = self.names.get(name)
        self.names[name] = t
        self.entries.append((name, op, t))
        if isinstance(t, tuple):
            items = t
            self.elements += sum(x.array.size for x in items)
        else:
            items = (t,)
            self.elements += t.array.size
        if self._ledger is not None:
            for x in items:
                self._ledger.tensor(x)
        if old is not None and old is not t and self._name_of.get(id(old)) == name:
            del self._name_of[id(old)]  # rebound: the old tensor may keep another name
            other = next((n for n, u in self.names.items() if u is old), None)
            if other is not None:
                self._name_of[id(old)] = other
        self._name_of[id(t)] = name

    # -- building

    def add_nodes(self, nodes: list, budget: Budget) -> None:
        s = budget.settings
        self._budget = budget
        if len(self.entries) + len(nodes) > s.max_nodes:
            raise limit("max_nodes", len(self.entries) + len(nodes), s.max_nodes)
        for k, node in enumerate(nodes):
            budget.tick()
            where = _Where(k, node)
            try:
                if node.grad_mode == "inference":
                    with inference_mode():
                        t = self._run(node, budget, where)
                elif node.grad_mode == is_grad_enabled():  # the common case: no switch
                    t = self._run(node, budget, where)
                else:
                    with set_grad_enabled(node.grad_mode):
                        t = self._run(node, budget, where)
            except Problem:
                raise
            except AutogradError as e:
                raise Problem(engine_status(e), f"{where}: {e}") from None
            except ARGUMENT_ERRORS as e:  # arguments the row's checks did not foresee
                raise bad(f"{where}: invalid arguments ({type(e).__name__}: {e})") from None
            self.bind(node.id, node.op, t)

    def _run(self, node, budget: Budget, where: str):
        op = node.op
        if op != "tensor" and node.data is not None:
            raise bad(f"{where}: only 'tensor' nodes take data")
        if op == "tensor":
            return self._tensor(node, budget, where)
        if op in PSEUDO and (op not in OVERLOADS or op == "index"):
            return self._pseudo(node, budget, where)
        rows = OVERLOADS.get(op)
        if not rows or op.startswith("_"):
            raise bad(f"{where}: unknown op {op!r} (GET /ops lists them)")
        creation = rows[0].creation or any(r.creation for r in rows)
        kwargs = {k: self._arg(v, op, k, where) for k, v in node.kwargs.items()}
        args = [self._arg(v, op, i, where) for i, v in enumerate(node.args)]
        for field in CREATION_FIELDS:
            value = getattr(node, field)
            if value is not None:
                if not creation:
                    raise bad(f"{where}: '{field}' applies to creation ops only")
                kwargs[field] = value
        k = node_key(op, len(rows), args) if not kwargs else None
        plan = PLANS.get(k) if k is not None else None
        if plan is not None:  # seen before: the same row and shapes (NOTE [node plans])
            row, outputs, extra = plan
            bound = tuple(args) + row.defaults[len(args):]  # as row.matches binds them
        else:
            row, bound = resolve(op, args, kwargs)
            if row.tensor_params and not row.creation and not any(
                    _has_tensor(bound[i]) for i in row.tensor_params):
                i = row.tensor_params[0]  # torch refuses plain numbers where no Tensor is
                raise bad(f"{where}: {op}(): argument '{row.params[i].name}' (position "
                          f"{i + 1}) must be Tensor, not {type(bound[i]).__name__}")
            shapes = row.infer_shape(bound)  # the shape rule: sizes known before allocating
            outputs = tuple(tuple(s) for s in (shapes if row.multi_output else [shapes]))
            # padded copies, windows: the row's extra rule
            extra = row.extra_elements(bound) if row.extra is not None else None
        for shape in outputs:  # the limits, on every call, planned or not
            budget.elements(shape)
        if extra is not None:
            budget.transient(extra)
        if plan is None and k is not None and not row.varargs:
            PLANS.put(k, (row, outputs, extra), budget.settings.plan_cache_size)
        if row.composite:  # each primitive it calls is checked (NOTE [allocation guard])
            with budget.composite(bound):
                out = row(*bound)
        else:
            out = row(*bound)
        if type(out) is Tensor:
            return out
        out = tuple(out) if isinstance(out, list) else out  # multi-output: see getitem
        if not all(isinstance(o, Tensor) for o in (out if isinstance(out, tuple) else (out,))):
            raise bad(f"{where}: {op} did not give a tensor")
        return out

    def _tensor(self, node, budget: Budget, where: str) -> Tensor:
        data = node.data if node.data is not None else (node.args[0] if node.args else None)
        if data is None:
            raise bad(f"{where}: a 'tensor' node needs data")
        if node.seed is not None or node.kwargs:
            raise bad(f"{where}: a 'tensor' node takes data, dtype and requires_grad only")
        arr = codec.decode(data, budget, node.dtype)
        if node.data is not None:  # before any op may write into it
            self.summaries[id(node.data)] = (node.data, content.summary_soon(arr))
        t = Tensor._make(arr)  # no copy: the array is already ours (or a view of the body)
        if node.requires_grad:
            if arr.dtype.kind != "f":
                raise bad(f"{where}: Only Tensors of floating point and complex dtype can "
                          "require gradients")
            t.requires_grad_(True)
        return t

    def _pseudo(self, node, budget: Budget, where: str):
        op, args = node.op, node.args
        if not args or not isinstance(args[0], str):
            raise bad(f"{where}: {op} needs an id as its first argument")
        if op == "getitem":  # an item of a multi-output op's result
            multi = self.names.get(args[0])
            if not isinstance(multi, (tuple, list)):
                raise bad(f"{where}: {args[0]!r} is not the result of a multi-output op")
            k = args[1] if len(args) == 2 else None
            if type(k) is not int or not -len(multi) <= k < len(multi):
                raise bad(f"{where}: getitem takes [id, index < {len(multi)}]")
            return multi[k]
        if op == "assign":  # y = x: the same object under another name, no node
            if len(args) != 1:
                raise bad(f"{where}: assign takes [id]")
            multi = self.names.get(args[0])
            return multi if isinstance(multi, tuple) else self.ref(args[0], where)
        t = self.ref(args[0], where)
        if op in ("T", "mT"):
            return getattr(t, op)
        if op == "setitem_":  # x[index] = value: in place, recorded as torch does (CopySlices)
            if len(args) != 3:
                raise bad(f"{where}: setitem_ takes [id, [index components], value]")
            index = self._index_spec(args[1], where)
            value = self._arg(args[2], "setitem", "value", where)
            if t._view is not None or t._views:
                self.recount_bytes()
            t[index] = value
            return t
        if op == "set_grad":  # x.grad = value (null: del x.grad), with torch's checks
            if len(args) != 2:
                raise bad(f"{where}: set_grad takes [id, value or null]")
            t.grad = None if args[1] is None else self._arg(args[1], "setitem", "value", where)
            self.recount_bytes()
            return t
        if op == "index":
            if len(args) != 2:
                raise bad(f"{where}: index takes [id, [index components]]")
            index = self._index_spec(args[1], where)
            rows = OVERLOADS.get("index")
            if rows:  # size from the row's shape rule before indexing
                budget.elements(tuple(rows[0].infer_shape((t, index))))
            return t[index]
        rest = [self._arg(v, op, None, where) for v in args[1:]]
        kwargs = {k: self._arg(v, op, k, where) for k, v in node.kwargs.items()}
        budget.elements(tuple(t.shape))  # methods make at most one tensor of x's size
        if op in IN_PLACE and (t._view is not None or t._views):
            self.recount_bytes()  # it rewrites the base's or the views' history too
        out = getattr(t, op)(*rest, **kwargs)
        return t if op in SELF_METHODS else out  # retain_grad() returns None; id binds x

    def _index_spec(self, spec, where: str):
        """The JSON index components (see service/run/source.py) -> a Python index: reference
        strings become tensors, the rest is decoded by service/wire/index_form.py."""
        items = spec if isinstance(spec, list) else [spec]
        parts = []
        for c in items:
            if isinstance(c, str) and c != "...":
                parts.append(self.ref(c, where))
            else:
                parts.append(decode_index(c))
        return tuple(parts) if isinstance(spec, list) else parts[0]

    # -- arguments: references, constants, tensor values

    def _arg(self, value, op: str, key, where: str):
        if isinstance(value, str):
            t = self.names.get(value)
            if type(t) is Tensor:  # a bound id (ids match REF whole): what ref() gives
                return t
            m = REF.match(value)
            if m and (m[1] in self.names or _param_types(op, key)[1]):
                return self.ref(value, where)
            return value
        kinds, tensor_only = _param_types(op, key)
        if isinstance(value, list):
            if "Tensor[]" in kinds:
                return [self._arg(v, op, None, where) if isinstance(v, str) else
                        Tensor._make(codec.decode(v, self._budget, None)) for v in value]
            if tensor_only or not all(type(v) is int for v in value):
                return Tensor._make(codec.decode(value, self._budget, None))
            return value
        if isinstance(value, (dict, codec.RawTensor)):
            return Tensor._make(codec.decode(value, self._budget, None))
        return value

    # -- state changes besides nodes (logged by sessions, replayable)

    def put(self, name: str, new) -> Tensor:
        """Write ``new`` into tensor ``name`` in place, as ``with no_grad(): x.copy_(new)``:
        the version counter moves, so graphs that saved the old value refuse to use it."""
        t = self.ref(name, "name")
        try:
            new = np.broadcast_to(new.astype(t.array.dtype, copy=False), t.array.shape)
        except ValueError:
            raise bad(f"The size of the new data {list(new.shape)} does not match the size "
                      f"of {name!r} {list(t.array.shape)}") from None
        if t.array.flags.writeable:
            t.array[...] = new
        else:  # a view of a request body: give the tensor its own memory
            t.array = np.array(new)
        t._version_counter[0] += 1
        if self._ledger is not None:
            self._ledger.tensor(t)
        return t

    def zero_grad(self) -> None:
        """optimizer.zero_grad(): every .grad back to None."""
        for t in self.tensors():
            t._grad = None
        self.recount_bytes()  # the graphs of create_graph grads may be unreachable now

    # -- answers

    def id_of(self, t: Tensor) -> str:
        """The client's id while it still names ``t``, else a stable server id '%k'."""
        key = id(t)
        name = self._name_of.get(key)
        if name is not None:
            return name
        entry = self._server_ids.get(key)
        if entry is None or entry[1] is not t:
            entry = self._server_ids[key] = (self._next_id(), t)
        return entry[0]

    def _next_id(self) -> str:
        self._counter += 1
        return f"%{self._counter}"

    def leaf_grads(self, encoder) -> dict:
        """.grad of every named leaf that requires grad (None before any backward)."""
        return {name: encoder.tensor(t._grad) for name, t in self.names.items()
                if type(t) is Tensor and t._grad_fn is None and t._requires_grad}

    def retained(self, encoder) -> dict:
        return {name: encoder.tensor(t._grad) for name, t in self.names.items()
                if type(t) is Tensor and t._grad_fn is not None and t._retains_grad}

    # -- bytes held (the byte caps): counted once, then kept as calls change them

    def nbytes(self) -> int:
        """Bytes of the distinct arrays the workspace holds: its tensors' data and .grad,
        and what their retained graphs saved (``retained.recount`` is the definition)."""
        if self._ledger is None or self._ledger.stale:
            self._ledger = Ledger.of(self.tensors())
        if CHECK_BYTES:  # the tests' debug check: the kept count is the recount
            if self._ledger.total != recount(self):
                raise RuntimeError(f"byte count {self._ledger.total} kept, {recount(self)} "
                                   "recounted")
        return self._ledger.total

    def walked(self, roots) -> None:
        """A backward or grad from ``roots`` ran: it may have freed saved tensors and
        written .grad (compute.py calls this, also when the walk failed part-way)."""
        if self._ledger is not None:
            self._ledger.walked(roots)

    def recount_bytes(self) -> None:
        """A change the ledger does not follow: count from scratch next time."""
        self._ledger = None

    def tensors(self):
        """Every tensor this workspace made (items of multi-output results included)."""
        for _, _, t in self.entries:
            yield from (t if isinstance(t, tuple) else (t,))

    def graph(self) -> dict:
        return {"nodes": describe(self)}


class _Where:
    """'node k (id, op op)' for error texts, written only when an error needs it."""

    __slots__ = ("k", "node")

    def __init__(self, k: int, node):
        self.k, self.node = k, node

    def __str__(self) -> str:
        return f"node {self.k} ({self.node.id!r}, op {self.node.op!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _has_tensor(value) -> bool:
    return isinstance(value, Tensor) or isinstance(value, (list, tuple)) and any(
        isinstance(v, Tensor) for v in value)


_PARAM_TYPES: dict = {}


def _param_types(op: str, key) -> tuple[frozenset, bool]:
    """The schema types a position (int) or keyword (str) has across the op's overloads,
    and whether all of them are Tensor types (remembered: every argument of every node
    asks)."""
    cache_key = (op, key, len(OVERLOADS.get(op, ())))
    out = _PARAM_TYPES.get(cache_key)
    if out is None:
        kinds = frozenset(_find_param_types(op, key))
        out = kinds, bool(kinds) and all(k.startswith("Tensor") for k in kinds)
        if len(_PARAM_TYPES) < 100_000:  # keys are client-chosen: bounded
            _PARAM_TYPES[cache_key] = out
    return out


def _find_param_types(op: str, key) -> set:
    out = set()
    for row in OVERLOADS.get(op, ()):
        if isinstance(key, int):
            positional = [p for p in row.params if not p.kwarg_only]
            if key < len(positional):
                out.add(positional[key].type.rstrip("?"))
            elif row.varargs:
                out.add("int")
        elif key is not None and key in row.index:
            out.add(row.params[row.index[key]].type.rstrip("?"))
    return out


def check_name(name: str, where: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise bad(f"{where}: {name!r} is not an id (^[A-Za-z_][A-Za-z0-9_]*$)")
    return name


__all__ = ["Workspace", "OpError", "check_name"]
