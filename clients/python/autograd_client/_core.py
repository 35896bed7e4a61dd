"""Remote tensors that mirror torch, shared by the sync and async clients.

Operators and methods only append nodes to a pending list (the graph is built lazily);
anything that needs the server is written once as a *plan*: a generator that yields
request specs and receives the decoded answers. The sync client drives plans with
httpx.Client, the async one with httpx.AsyncClient, so both share every line below.
Pending nodes travel with the next request, before its computation, so the server sees
the program in the order it ran.

NOTE [eager ops]: torch raises an invalid op's error at the line that made it. Most such
errors need what only the server knows (shapes of computed tensors, values: an index out
of range, a singular matrix), so a sync session sends each op as it is made (one request
with no graph in its answer) and the error raises at that call. Measured against a local
server on the shared 2-core dev machine: an op sent eagerly costs one round trip and
little more (16.5 ms a op while a bare GET /healthz took 16.7 ms; 8 ms on a quieter run),
where a cached local check costs ~0.5 us but cannot see those errors; a program of 103 ops
took 110 ms lazy and 860 ms eager. ``lazy=True`` (and the asyncio client, whose operators cannot await)
batch ops into the next request instead; an error then raises there, with a note naming
the program line that made the op.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import random
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._printing import tensor_repr
from ._wire import NODE_LOCATOR, NON_LEAF_GRAD_WARNING, APIError, Raw, constant, dtype_name

PSEUDO_METHODS = {"detach", "to", "float", "double", "long", "int", "bool", "half",
                  "contiguous"}
QUALIFIED = {"AccumulateGrad", "CopyBackwards", "CopySlices", "NotImplemented",
             "DelayedError"}
INPLACE = {"add_", "sub_", "mul_", "div_", "pow_", "zero_", "fill_", "clamp_",
           "requires_grad_", "retain_grad"}


@dataclass
class Call:
    """One HTTP request of a plan."""

    method: str
    path: str
    body: object = None
    params: dict = field(default_factory=dict)


class dtype:  # noqa: N801 - torch's spelling
    def __init__(self, name: str):
        self.name = name
        self.is_floating_point = name.startswith("float")

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __eq__(self, other) -> bool:
        return isinstance(other, dtype) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


DTYPES = {n: dtype(n) for n in ("float32", "float64", "int64", "bool")}


# --------------------------------------------------------------------------- grad_fn

class Node:
    """A remote grad_fn: ``name()`` and ``next_functions`` as torch shows them."""

    def __init__(self, session, owner: str, name: str):
        self._s, self._owner, self._name = session, owner, name

    def name(self) -> str:
        """As torch's name(): C++-only nodes carry their namespace."""
        return ("torch::autograd::" + self._name) if self._name in QUALIFIED else self._name

    @property
    def next_functions(self) -> tuple:
        meta = self._s._need(self._s._meta_plan(self._owner))
        return tuple((None, 0) if e is None else (self._s._node(e[1], e[0]), e[2])
                     for e in meta.get("next_functions") or ())

    def __repr__(self) -> str:
        return f"<{self._name} object at {hex(id(self))}>"


class AccumulateGradNode(Node):
    @property
    def variable(self):
        return self._s._tensor_for(self._owner)

    @property
    def next_functions(self) -> tuple:
        return ()


@functools.cache
def _node_class(name: str) -> type:
    """One class per grad_fn name, so that ``type(fn).__name__`` reads as in torch."""
    base = AccumulateGradNode if name == "AccumulateGrad" else Node
    return type(name, (base,), {})


# --------------------------------------------------------------------------- grad modes

class _GradMode:
    """no_grad() / enable_grad(): context managers and decorators (``@s.no_grad()``, or
    bare: ``@s.no_grad``, ``s.no_grad(fn)``). A decorated generator runs under the mode
    only while it runs: between its yields the caller's mode holds, as in torch."""

    def __init__(self, session, mode: bool):
        self._s, self._mode, self._prev = session, mode, []

    def __enter__(self):
        self._prev.append(self._s._grad_enabled)
        self._s._grad_enabled = self._mode
        return self

    def __exit__(self, *exc):
        self._s._grad_enabled = self._prev.pop()
        return False

    def _fresh(self):
        return _GradMode(self._s, self._mode)

    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):
            return _generator_under(self._fresh, fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return fn(*args, **kwargs)
        return wrapper


def _generator_under(mode, fn):
    """``fn``'s generator, each step of it (first, send, throw, close) run under ``mode()``."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        gen = fn(*args, **kwargs)
        try:
            with mode():
                answer = gen.send(None)
            while True:
                try:
                    sent = yield answer
                except GeneratorExit:
                    with mode():
                        gen.close()
                    raise
                except BaseException:
                    with mode():
                        answer = gen.throw(*sys.exc_info())
                else:
                    with mode():
                        answer = gen.send(sent)
        except StopIteration as stop:
            return stop.value
    return wrapper


class _SetGradEnabled(_GradMode):
    """set_grad_enabled(mode): takes effect at once; as a context, restores on exit; as a
    decorator, restores at once and applies the mode inside each call."""

    def __init__(self, session, mode: bool):
        super().__init__(session, mode)
        self._prev.append(session._grad_enabled)
        session._grad_enabled = mode

    def __enter__(self):
        return self

    def __call__(self, fn):
        self._s._grad_enabled = self._prev.pop()
        return super().__call__(fn)


# --------------------------------------------------------------------------- tensors

def _binary(op: str):
    def method(self, other):
        return self._s._op(op, (self, other), {})
    return method


def _reflected(op: str):
    def method(self, other):
        return self._s._op(op, (other, self), {})
    return method


def _unary(op: str):
    def method(self):
        return self._s._op(op, (self,), {})
    return method


def _inplace(op: str):
    def method(self, other):
        return self._s._inplace(self, op, (other,))
    return method


class Tensor:
    """A named tensor of a remote session. Reads (values, grad_fn, shape...) fetch what is
    not cached yet; building expressions costs no request."""

    __array_priority__ = 1000  # numpy scalars defer to our operators

    @classmethod
    def _wrap(cls, session, tid: str):
        t = object.__new__(session.Tensor)  # isinstance(y, torch.Tensor), as in torch
        t._s, t._id, t._grad_of = session, tid, None
        session._tensors[tid] = t
        return t

    # -- what torch shows
    @property
    def id(self) -> str:
        """The id of this tensor in the session's graph."""
        return self._id

    def _meta(self) -> dict:
        return self._s._need(self._s._meta_plan(self._id))

    @property
    def requires_grad(self) -> bool:
        return self._meta()["requires_grad"]

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    @property
    def is_leaf(self) -> bool:
        return self._meta()["is_leaf"]

    @property
    def retains_grad(self) -> bool:
        return self._meta()["retains_grad"]

    @property
    def grad_fn(self):
        name = self._meta()["grad_fn"]
        return None if name is None else self._s._node(self._id, name)

    @property
    def shape(self) -> tuple:
        return tuple(self._meta()["shape"])

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(np.prod(self.shape))

    @property
    def dtype(self):
        return DTYPES[self._meta()["dtype"]]

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def grad(self):
        return self._s._grad_tensor(self._id)

    @grad.setter
    def grad(self, value) -> None:
        self._s._set_grad(self, value)

    @grad.deleter
    def grad(self) -> None:
        self._s._set_grad(self, None)

    @property
    def T(self):  # noqa: N802 - torch's name
        return self._s._op("T", (self,), {})

    @property
    def mT(self):  # noqa: N802 - torch's name
        return self._s._op("mT", (self,), {})

    @property
    def data(self):
        return self.detach()

    def numpy(self) -> np.ndarray:
        return self._s._need(self._s._value_plan(self._id))

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        arr = self.numpy()
        if arr.size != 1:
            raise RuntimeError(f"a Tensor with {arr.size} elements cannot be converted to "
                               "Scalar")
        return arr.reshape(()).item()

    def __repr__(self) -> str:
        meta, arr = self._meta(), self.numpy()
        return tensor_repr(arr, meta["dtype"], meta["grad_fn"],
                           meta["requires_grad"])

    def __format__(self, spec: str) -> str:
        return format(self.item(), spec) if spec else repr(self)

    # -- autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """torch.Tensor.backward: one request."""
        return self._s._run(self._s._backward_plan(
            [self], None if gradient is None else [gradient], retain_graph, create_graph,
            inputs))

    def retain_grad(self) -> None:
        self._s._inplace(self, "retain_grad", ())

    def requires_grad_(self, requires_grad: bool = True):
        if not requires_grad and self._s._cached_meta(self._id, "grad_fn"):
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If "
                               "you want to use a computed variable in a subgraph that "
                               "doesn't require differentiation use var_no_grad = "
                               "var.detach().")
        return self._s._inplace(self, "requires_grad_", (bool(requires_grad),))

    def detach_(self):
        """Rebinds this tensor's id to its detached value (the server has no detach_)."""
        self._s._append({"id": self._id, "op": "detach", "args": [self._id]}, inplace=self)
        self._s._built()
        return self

    def register_hook(self, hook):
        """A gradient hook. An expression over ``grad`` (api.md "hooks"), e.g.
        ``"grad * 2"``, runs on the server in every later backward. A Python callable may
        only observe (return None): before each backward that reaches this tensor, the
        client asks /grad for the gradient flowing into it and calls the hook with it (one
        more request per hooked tensor)."""
        if isinstance(hook, str):
            self._s._hooks[self._id] = hook
            return _HookHandle(self._s._hooks, self._id, hook)
        if not callable(hook):
            raise TypeError("register_hook takes an expression string or a callable")
        self._s._py_hooks.setdefault(self._id, []).append(hook)
        return _HookHandle(self._s._py_hooks, self._id, hook)

    # -- ops: any name of GET /ops, as a method
    def __getattr__(self, name: str):
        if name.startswith("__") or name.startswith("_"):
            raise AttributeError(name)
        s = self.__dict__.get("_s") or object.__getattribute__(self, "_s")
        if name in INPLACE:
            return lambda *args, **kwargs: s._inplace(self, name, args, kwargs)
        if name in s._ops or name in PSEUDO_METHODS:
            return lambda *args, **kwargs: s._op(name, (self, *args), kwargs)
        raise AttributeError(f"'Tensor' object has no attribute '{name}'")

    # Python's operators, as torch maps them to ops (2 - x is rsub, ~x is logical_not, ...)
    __add__ = __radd__ = _binary("add")
    __sub__, __rsub__ = _binary("sub"), _binary("rsub")
    __mul__ = __rmul__ = _binary("mul")
    __truediv__, __floordiv__, __mod__ = _binary("div"), _binary("floor_divide"), _binary("remainder")
    __pow__, __rpow__ = _binary("pow"), _reflected("pow")
    __matmul__, __rmatmul__ = _binary("matmul"), _reflected("matmul")
    __eq__, __ne__, __lt__ = _binary("eq"), _binary("ne"), _binary("lt")
    __le__, __gt__, __ge__ = _binary("le"), _binary("gt"), _binary("ge")
    __and__, __or__ = _binary("logical_and"), _binary("logical_or")
    __neg__, __abs__, __invert__ = _unary("neg"), _unary("abs"), _unary("logical_not")
    __iadd__, __isub__ = _inplace("add_"), _inplace("sub_")
    __imul__, __itruediv__ = _inplace("mul_"), _inplace("div_")

    def __rtruediv__(self, other):
        return self._s._op("reciprocal", (self,), {}) * other

    def __pos__(self):
        return self

    def __getitem__(self, index):
        return self._s._op("index", (self, _index(index)), {})

    def __setitem__(self, index, value) -> None:
        """x[index] = value: in place on the server, recorded as torch records it
        (CopySlices; IndexPutBackward0 for tensor indices alone)."""
        s = self._s
        s._append({"id": self._id, "op": "setitem_",
                   "args": [self._id, _index(index), s._seed(value)]}, inplace=self)
        s._built()

    __hash__ = object.__hash__

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self):
        return iter([self[i] for i in range(len(self))])

    def __bool__(self) -> bool:
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        return int(self.item())


def _index(index) -> list:
    """x[...] -> the JSON index components of the "index" pseudo-op."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for c in items:
        if isinstance(c, slice):
            out.append({"slice": [c.start, c.stop, c.step]})
        elif c is Ellipsis:
            out.append("...")
        elif isinstance(c, Tensor):
            out.append(c._id)
        else:
            out.append(c.tolist() if isinstance(c, np.ndarray) else c)
    return out


class _HookHandle:
    def __init__(self, table: dict, tid: str, hook):
        self._table, self._id, self._hook = table, tid, hook

    def remove(self) -> None:
        held = self._table.get(self._id)
        if isinstance(held, list):
            if self._hook in held:
                held.remove(self._hook)
        elif held == self._hook:
            del self._table[self._id]


class _Namespace:
    """s.nn.functional / s.linalg / s.special: any op name of GET /ops as a function."""

    def __init__(self, session, children: dict | None = None):
        self._s = session
        for k, v in (children or {}).items():
            setattr(self, k, v)

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self._s._ops:
            raise AttributeError(name)
        return lambda *args, **kwargs: self._s._op(name, args, kwargs)


def _backward(session, tensors, grad_tensors=None, retain_graph=None, create_graph=False,
              grad_variables=None, inputs=None):
    if grad_variables is not None:  # torch's deprecated spelling, still accepted
        grad_tensors = grad_tensors if grad_tensors is not None else grad_variables
    roots = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is not None and isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors]
    return session._run(session._backward_plan(roots, grad_tensors, retain_graph,
                                               create_graph, inputs))


def _grad(session, outputs, inputs, grad_outputs=None, retain_graph=None,
          create_graph=False, only_inputs=True, allow_unused=None, is_grads_batched=False,
          materialize_grads=False):
    return session._run(session._grad_plan(outputs, inputs, grad_outputs, retain_graph,
                                           create_graph, allow_unused, materialize_grads,
                                           is_grads_batched))


# names read as torch's in TypeErrors: "backward() got an unexpected keyword argument"
_backward.__name__ = _backward.__qualname__ = "backward"
_backward.__code__ = _backward.__code__.replace(co_name="backward", co_qualname="backward")
_grad.__name__ = _grad.__qualname__ = "grad"
_grad.__code__ = _grad.__code__.replace(co_name="grad", co_qualname="grad")


class Autograd:
    """s.autograd: backward, grad, Variable and the grad-mode helpers."""

    def __init__(self, session):
        self.backward = functools.partial(_backward, session)
        self.grad = functools.partial(_grad, session)
        self.no_grad = session.no_grad
        self.enable_grad = session.enable_grad
        self.set_grad_enabled = session.set_grad_enabled
        self.Variable = session._variable


# --------------------------------------------------------------------------- the session

class BaseSession:
    """A remote workspace; subclasses say how plans run (sync or async)."""

    def __init__(self, ops: dict, api_key: str | None = None):
        self._ops = ops  # name -> list of overload dicts (GET /ops)
        self.id: str | None = None  # the server's session id, once created
        self._pending: list[dict] = []
        self._ids = itertools.count(1)
        self._tensors: dict[str, Tensor] = {}
        self._metas: dict[str, dict] = {}
        self._values: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray | None] = {}  # owner id -> .grad (last answer)
        self._grad_objs: dict[str, Tensor] = {}
        self._nodes: dict[tuple, Node] = {}
        self._hooks: dict[str, str] = {}
        self._py_hooks: dict[str, list] = {}
        self._grad_enabled = True
        self._eager = False  # send each op as it is made (see _built)
        self._made_at: dict[str, str] = {}  # lazy: node id -> the program line that made it
        self._siblings: dict[str, list] = {}  # an output of a multi-output op -> the others
        self._rng = random.Random(0)
        self._create_graph = False
        self.Tensor = type("Tensor", (Tensor,), {"__new__": _new_float_tensor(self)})
        self.autograd = Autograd(self)
        self.nn = _Namespace(self, {"functional": _Namespace(self)})
        self.linalg = _Namespace(self)
        self.special = _Namespace(self)
        for name in DTYPES:
            setattr(self, name, DTYPES[name])
        self.float, self.double, self.long = DTYPES["float32"], DTYPES["float64"], DTYPES["int64"]

    # -- torch's module-level functions
    def tensor(self, data, *, dtype=None, requires_grad: bool = False, device=None):
        return self._leaf(data, dtype, requires_grad)

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self._ops:
            raise AttributeError(name)
        return lambda *args, **kwargs: self._op(name, args, kwargs)

    def no_grad(self, fn=None):
        """torch.no_grad: ``with s.no_grad():``, ``@s.no_grad()``, ``@s.no_grad`` and
        ``s.no_grad(fn)`` (generator functions too)."""
        mode = _GradMode(self, False)
        return mode if fn is None else mode(fn)

    def enable_grad(self, fn=None):
        mode = _GradMode(self, True)
        return mode if fn is None else mode(fn)

    def set_grad_enabled(self, mode: bool):
        return _SetGradEnabled(self, bool(mode))

    def is_grad_enabled(self) -> bool:
        return self._grad_enabled

    def manual_seed(self, seed: int):
        self._rng.seed(seed)

    def is_tensor(self, obj) -> bool:
        return isinstance(obj, Tensor)

    def _variable(self, data, requires_grad: bool = False):
        t = self._op("detach", (data,), {})
        return t.requires_grad_(True) if requires_grad else t

    # -- graph building (no I/O)
    def _new_id(self) -> str:
        return f"v{next(self._ids)}"

    def _built(self) -> None:
        """An op was recorded. An eager session sends it now, so that an invalid op raises
        here, at the call that made it, with torch's text; a lazy one sends it with the next
        request (see NOTE [eager ops])."""
        if self._eager and self._pending:
            self._need(self._flush_plan(light=True))

    def _set_grad(self, t: Tensor, value) -> None:
        """x.grad = value / del x.grad (value None)."""
        if value is not None and not isinstance(value, Tensor):
            raise TypeError("assigned grad expected to be a Tensor or None but got grad of "
                            f"type {type(value).__name__}")
        self._append({"id": t._id, "op": "set_grad", "args": [t._id, self._arg(value)]},
                     inplace=t)
        self._built()
        self._grad_objs.pop(t._id, None)
        if value is None:
            self._grads[t._id] = None
        else:
            self._grads.pop(t._id, None)
            self._grad_objs[t._id] = value  # x.grad is value, as in torch

    def _append(self, node: dict, inplace: Tensor | None = None) -> None:
        if not self._grad_enabled:
            node["grad_mode"] = False
        self._pending.append(node)
        if not self._eager:
            self._made_at[node["id"]] = _program_line()
        if inplace is not None:  # views and aliases may change too: forget what we read
            self._values.clear()
            self._metas.clear()
            if inplace._grad_of is not None:
                self._grads.pop(inplace._grad_of, None)
                self._grad_objs.pop(inplace._grad_of, None)

    def _leaf(self, data, dtype_, requires_grad: bool, float_only: bool = False):
        if isinstance(data, Tensor):
            raise TypeError("use x.detach() or x.clone() to copy a remote tensor")
        given = isinstance(data, np.ndarray)
        arr = np.asarray(data)
        if dtype_ is not None:
            arr = arr.astype(DTYPES[getattr(dtype_, "name", dtype_)].name)
        elif float_only or (arr.dtype.kind == "f" and not given):
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        if dtype_name(arr) not in DTYPES:
            arr = arr.astype(np.float32)
        tid = self._new_id()
        self._append({"id": tid, "op": "tensor", "data": Raw(arr),
                      **({"requires_grad": True} if requires_grad else {})})
        t = Tensor._wrap(self, tid)
        self._values[tid] = arr
        self._metas[tid] = {"id": tid, "shape": list(arr.shape), "dtype": dtype_name(arr),
                            "requires_grad": bool(requires_grad), "is_leaf": True,
                            "retains_grad": False, "grad_fn": None, "next_functions": []}
        self._built()
        return t

    def _arg(self, v):
        if isinstance(v, Tensor):
            if v._s is not self:
                raise RuntimeError("tensors of two different sessions cannot be combined")
            return v._id
        if isinstance(v, dtype):
            return v.name
        if isinstance(v, np.ndarray):
            return Raw(v)
        if isinstance(v, (list, tuple)):
            return [self._arg(x) for x in v]
        if isinstance(v, np.generic):
            return constant(v.item())
        return constant(v)

    def _op(self, name: str, args: tuple, kwargs: dict):
        rows = self._ops.get(name, [])
        creation = any(r.get("creation") for r in rows)
        node = {"id": self._new_id(), "op": name, "args": [self._arg(a) for a in args]}
        kw = {}
        for k, v in kwargs.items():
            if creation and k in ("requires_grad", "dtype"):
                if k == "requires_grad" and v:
                    node[k] = True
                elif k == "dtype" and v is not None:
                    node[k] = getattr(v, "name", v)
            elif k not in ("device", "out", "generator") or v is not None:
                if k != "device":
                    kw[k] = self._arg(v)
        if name in ("rand", "randn", "randint", "randn_like", "rand_like", "normal"):
            node["seed"] = self._rng.randrange(2**31)
        if creation and len(args) == 1 and isinstance(args[0], (list, tuple)) and name in (
                "zeros", "ones", "rand", "randn", "empty"):
            pass
        elif creation and name in ("zeros", "ones", "rand", "randn", "empty") and all(
                isinstance(a, int) for a in args) and len(args) != 1:
            node["args"] = [list(args)]  # torch.zeros(2, 3) -> size [2, 3]
        if kw:
            node["kwargs"] = kw
        self._append(node)
        self._built()
        outputs = _arity(rows, args, kwargs)
        listed = outputs == "list"
        if listed:  # unbind/split/chunk: the count follows from the input's shape
            outputs = _list_length(name, args, kwargs)
        if listed or outputs > 1:
            items = []
            for k in range(outputs):
                tid = self._new_id()
                self._append({"id": tid, "op": "getitem", "args": [node["id"], k]})
                items.append(Tensor._wrap(self, tid))
            for t in items:
                self._siblings[t._id] = [u._id for u in items if u is not t]
            return tuple(items)
        return Tensor._wrap(self, node["id"])

    def _inplace(self, t: Tensor, name: str, args: tuple, kwargs: dict | None = None):
        node = {"id": t._id, "op": name, "args": [t._id, *(self._arg(a) for a in args)]}
        if kwargs:
            node["kwargs"] = {k: self._arg(v) for k, v in kwargs.items()}
        self._append(node, inplace=t)
        self._built()
        return None if name == "retain_grad" else t

    def _tensor_for(self, tid: str) -> Tensor:
        t = self._tensors.get(tid)
        return Tensor._wrap(self, tid) if t is None else t

    def _node(self, owner: str, name: str) -> Node:
        key = (owner, name)
        if key not in self._nodes:
            self._nodes[key] = _node_class(name)(self, owner, name)
        return self._nodes[key]

    def _cached_meta(self, tid: str, key: str):
        return self._metas.get(tid, {}).get(key)

    def _grad_tensor(self, tid: str):
        """x.grad: a tensor bound to a fresh id (``assign`` of "x.grad"), so that later
        accumulation is seen where torch would see it and it can enter expressions."""
        if tid in self._grad_objs:
            return self._grad_objs[tid]
        if tid not in self._grads:
            self._grads[tid] = self._need(self._value_plan(tid + ".grad"))
        arr = self._grads[tid]
        if arr is None:
            meta = self._metas.get(tid)
            if meta is not None and not meta["is_leaf"] and not meta["retains_grad"]:
                warnings.warn(NON_LEAF_GRAD_WARNING, UserWarning, stacklevel=3)
            return None
        gid = self._new_id()
        self._append({"id": gid, "op": "assign", "args": [tid + ".grad"]})
        g = Tensor._wrap(self, gid)
        g._grad_of = tid
        self._values[gid] = arr
        if not self._create_graph:
            self._metas[gid] = {"id": gid, "shape": list(arr.shape), "dtype": dtype_name(arr),
                                "requires_grad": False, "is_leaf": True,
                                "retains_grad": False, "grad_fn": None, "next_functions": []}
        self._grad_objs[tid] = g
        return g

    # -- plans: generators of Calls, shared by the sync and async clients
    def _explain(self, error: Exception) -> None:
        """Lazy sessions: an op's error raises at a later request; name the program line
        that made the op (NOTE [eager ops])."""
        if isinstance(error, APIError):
            m = NODE_LOCATOR.match(error.detail)
            where = self._made_at.get(m[1]) if m else None
            if where is not None:
                error.add_note(f"raised by the op made at {where}")

    def _absorb_graph(self, answer: dict) -> None:
        self._made_at.clear()  # the nodes sent are in; their lines are not needed
        for m in (answer.get("graph") or {}).get("nodes", []):
            self._metas[m["id"]] = m
        if answer.get("session"):
            self.id = answer["session"]["id"]

    def _flush_plan(self, need_meta: bool = False, light: bool = False):
        """Send pending nodes (creating the session on first need); refresh metadata
        (``light``: not; an eager op's answer carries no graph, whose size grows with the
        session)."""
        nodes, self._pending = self._pending, []
        if self.id is None:
            answer = yield Call("POST", "/sessions", {"graph": {"nodes": nodes},
                                                      "encoding": "binary"})
        elif nodes:
            answer = yield Call("POST", "/backward", {
                "session": self.id, "graph": {"nodes": nodes}, "tensors": [],
                "retain_graph": True, "encoding": "binary", "return_graph": not light})
        elif need_meta:
            answer = yield Call("GET", f"/sessions/{self.id}", params={"encoding": "binary"})
        else:
            return
        self._absorb_graph(answer)

    def _meta_plan(self, tid: str):
        if tid not in self._metas:
            yield from self._flush_plan(need_meta=True)
        if tid not in self._metas:
            raise RuntimeError(f"the server does not know tensor {tid!r}")
        return self._metas[tid]

    def _value_plan(self, tid: str):
        if tid in self._values:
            return self._values[tid]
        yield from self._flush_plan()
        try:
            arr = yield Call("GET", f"/sessions/{self.id}/tensors/{tid}",
                             params={"encoding": "binary"})
        except APIError as e:  # "x.grad" when it is None: the server answers 422
            if tid.endswith(".grad") and e.status == 422 and "is None" in e.detail:
                return None
            raise
        if not tid.endswith(".grad"):
            self._values[tid] = arr
        return arr

    def _ensure_session(self):
        if self.id is None:
            yield from self._flush_plan()

    def _seed(self, g):
        if g is None or isinstance(g, Tensor):
            return self._arg(g)
        if isinstance(g, np.ndarray):
            return Raw(g)
        return constant(g) if not isinstance(g, (list, tuple)) else g

    def _backward_plan(self, roots, grad_tensors, retain_graph, create_graph, inputs):
        yield from self._ensure_session()
        yield from self._observe_plan(roots, grad_tensors, create_graph)
        nodes, self._pending = self._pending, []
        body = {"session": self.id, "tensors": [self._arg(r) for r in roots],
                "create_graph": bool(create_graph), "encoding": "binary", "return_graph": True}
        if nodes:
            body["graph"] = {"nodes": nodes}
        if grad_tensors is not None:
            body["grad_tensors"] = [self._seed(g) for g in grad_tensors]
        if retain_graph is not None:
            body["retain_graph"] = bool(retain_graph)
        if inputs is not None:
            inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
            body["inputs"] = [self._arg(t) for t in inputs]
        if self._hooks:
            body["hooks"] = dict(self._hooks)
        answer = yield Call("POST", "/backward", body)
        self._create_graph = bool(create_graph)
        self._grads = {**answer.get("grads", {}), **answer.get("retained", {})}
        for g in self._grad_objs.values():
            self._values.pop(g._id, None)  # accumulation may have written into them
            self._metas.pop(g._id, None)
        self._grad_objs.clear()
        self._absorb_graph(answer)

    def _observe_plan(self, roots, grad_tensors, create_graph):
        """Python hooks: the gradient flowing into each hooked tensor, from /grad (which
        frees nothing), handed to the hooks before the backward; later tensors first, as
        the walk from the roots meets them."""
        hooked = sorted((tid for tid, fns in self._py_hooks.items() if fns),
                        key=lambda tid: -int(tid[1:]) if tid[1:].isdigit() else 0)
        for tid in hooked:
            g, = yield from self._grad_plan(roots, [self._tensor_for(tid)], grad_tensors, True,
                                            create_graph, True, False)
            if g is None and not (yield from self._reached_plan(tid, roots, grad_tensors)):
                continue
            for fn in list(self._py_hooks[tid]):
                if fn(g) is not None:
                    raise NotImplementedError(
                        "a Python hook that returns a new gradient cannot run on the server: "
                        "register an expression string instead, e.g. 'grad * 2'")

    def _reached_plan(self, tid, roots, grad_tensors):
        """Whether this backward runs the grad_fn of ``tid`` though no gradient flows into
        ``tid`` itself: a sibling output of the same multi-output op gets one. torch then
        calls ``tid``'s hooks with None."""
        live = []
        for sibling in self._siblings.get(tid, ()):
            meta = yield from self._meta_plan(sibling)
            if meta["requires_grad"]:
                live.append(self._tensor_for(sibling))
        if not live:
            return False
        grads = yield from self._grad_plan(roots, live, grad_tensors, True, False, True, False)
        return any(g is not None for g in grads)

    def _grad_plan(self, outputs, inputs, grad_outputs, retain_graph, create_graph,
                   allow_unused, materialize_grads, is_grads_batched=False):
        yield from self._ensure_session()
        nodes, self._pending = self._pending, []
        one_input = isinstance(inputs, Tensor)
        outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
        inputs = [inputs] if one_input else list(inputs)
        names = [self._new_id() for _ in inputs]
        body = {"session": self.id, "outputs": [self._arg(t) for t in outputs],
                "inputs": [self._arg(t) for t in inputs], "create_graph": bool(create_graph),
                "as": names, "encoding": "binary", "return_graph": True}
        if nodes:
            body["graph"] = {"nodes": nodes}
        if grad_outputs is not None:
            grad_outputs = [grad_outputs] if isinstance(grad_outputs, Tensor) else grad_outputs
            body["grad_outputs"] = [self._seed(g) for g in grad_outputs]
        if retain_graph is not None:
            body["retain_graph"] = bool(retain_graph)
        if is_grads_batched:
            body["is_grads_batched"] = True
        if allow_unused is not None or materialize_grads:
            body["allow_unused"] = bool(allow_unused or materialize_grads)
        answer = yield Call("POST", "/grad", body)
        self._absorb_graph(answer)
        out = []
        for name, arr, t in zip(names, answer["grads"], inputs):
            if arr is None:
                out.append(self.zeros_like(t) if materialize_grads else None)
                continue
            g = Tensor._wrap(self, name)
            self._values[name] = arr
            out.append(g)
        return tuple(out)

    def _graph_plan(self, format: str, path):  # noqa: A002 - the API's name
        if format not in ("svg", "dot", "json"):
            raise ValueError(f"format must be 'svg', 'dot' or 'json', not {format!r}")
        yield from self._flush_plan()
        answer = yield Call("GET", f"/sessions/{self.id}/graph", params={"format": format})
        picture = GraphPicture(answer if isinstance(answer, str) else json.dumps(answer))
        picture.format = format
        if path is not None:
            picture.save(path)
        return picture

    def _zero_grad_plan(self):
        yield from self._ensure_session()
        yield from self._flush_plan()
        answer = yield Call("POST", f"/sessions/{self.id}/zero_grad")
        self._grads = {k: None for k in answer.get("grads", {})}
        self._grad_objs.clear()
        self._absorb_graph(answer)

    def _put_plan(self, t: Tensor, value):
        yield from self._flush_plan()
        arr = np.asarray(value, dtype=self._need(self._meta_plan(t._id))["dtype"])
        yield Call("PUT", f"/sessions/{self.id}/tensors/{t._id}", Raw(arr))
        self._values.clear()
        self._metas.clear()


def _program_line() -> str:
    """file:line of the caller outside this package (the line of the user's program)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
            "autograd_client"):
        frame = frame.f_back
    return "?" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


class GraphPicture(str):
    """A drawing of the graph (Graphviz SVG or dot source, or JSON text); ``save(path)``
    writes it; Jupyter shows an SVG as a picture."""

    format: str = "svg"

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self)

    def _repr_svg_(self):
        return str(self) if self.format == "svg" else None


def _arity(rows: list, args: tuple, kwargs: dict):
    """How many tensors the op gives: 1, a tuple's length, or "list" (Tensor[])."""
    outs = [r["schema"].rsplit("->", 1)[-1].strip() for r in rows]
    tuples = [o for o in outs if o.startswith("(")]
    if any(o == "Tensor[]" for o in outs):
        return "list"
    if not tuples:
        return 1
    if len(tuples) < len(outs):  # max(x) vs max(x, dim): a dim argument picks the tuple
        has_dim = "dim" in kwargs or (len(args) > 1 and isinstance(args[1], int)
                                      and not isinstance(args[1], bool))
        if not has_dim:
            return 1
    return tuples[0].count(",") + 1


def _list_length(name: str, args: tuple, kwargs: dict) -> int:
    """How many tensors unbind/split/split_with_sizes/chunk give (reads the input's shape:
    at most one request)."""
    params = {"unbind": ("dim",), "chunk": ("chunks", "dim"),
              "split": ("split_size", "dim"), "split_with_sizes": ("split_sizes", "dim")}[name]
    bound = dict(zip(params, args[1:]))
    bound.update(kwargs)
    if "split_size_or_sections" in bound:
        bound["split_size"] = bound.pop("split_size_or_sections")
    n = args[0].shape[bound.get("dim", 0)]
    if name == "unbind":
        return n
    if name == "chunk":
        size = -(-n // bound["chunks"])
        return -(-n // size) if size else 0
    size = bound.get("split_size", bound.get("split_sizes"))
    if isinstance(size, (list, tuple)):
        return len(size)
    return max(1, -(-n // size)) if size else 1


def _new_float_tensor(session):
    """s.Tensor([1, 2]): torch.Tensor's constructor, always float32."""
    def __new__(cls, *data):  # noqa: N807
        if len(data) == 1 and isinstance(data[0], (list, tuple, np.ndarray, float)):
            value = data[0]
        else:
            return session.zeros(list(data)) if data else session._leaf([], None, False, True)
        return session._leaf(value, None, False, float_only=True)
    return __new__
