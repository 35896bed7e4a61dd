"""Graph nodes as PyTorch shows them: one class per grad_fn name, AccumulateGrad for
leaves, and saved tensors that are freed after backward and checked for in-place edits."""

from __future__ import annotations

import collections
import itertools
import os
import re
import threading
import traceback
import weakref

from . import anomaly_mode, backend, saved_hooks
from .dtypes import legacy_type_name
from .errors import GradientError, GraphFreedError, InplaceError
from .inference import check_saved

try:
    from ._gctrack import configure as _configure_gctrack
    from ._gctrack import hide_node as _hide_node
    from ._gctrack import track as _track
    from ._gctrack import untrack as _untrack
except ImportError:  # built without a C compiler: every node stays in the GC's sight
    _track = _untrack = _hide_node = _configure_gctrack = None

_hook_ids = itertools.count()
_DETACHED_SAVED = ("Trying to use a saved tensor that has been detached in-place, i.e. with "
                   ".detach_().This is not supported, please use out-of-place `.detach()` "
                   "instead")
# every node's ``seq``, in creation order: torch's sequence_nr (the walk runs ready nodes
# newest first)
sequence_nrs = itertools.count()
_Tensor = None  # engine._tensor.Tensor, bound by engine._tensor at import (avoids a cycle)
# engine.forward_ad.reattach while a dual level is open anywhere (set with the op table's
# forward_hook, by engine/forward_ad.py), else None
reattach_tangent = None


# -- graph storage the cyclic GC does not see, as PyTorch's C++ nodes

def _hiding_wanted() -> bool:
    text = os.environ.get("AUTOGRAD_HIDE_GRAPH_FROM_GC", "1").strip().lower()
    if text not in ("1", "0", "true", "false"):
        raise ValueError("AUTOGRAD_HIDE_GRAPH_FROM_GC must be 1/true or 0/false, not "
                         f"{text!r}")
    return text in ("1", "true")


# Python starts a full collection (a walk over every tracked object of the process) whenever
# the objects surviving into its oldest generation grow by a quarter; a forward pass leaves
# a node and a few containers per op alive, so a long chain of ops spent about a third of
# its time in collections that found nothing: a graph alone is acyclic. So a node recorded
# by a forward op, and what it alone holds, are hidden from the GC (``hide``). A graph can
# only join a cycle through a tensor or a hook that refers to a newer part of it: those
# places call ``expose``, which shows the node and everything below it again (a .grad with
# a grad_fn, so create_graph backward; a tensor given a newer history by an in-place op; a
# hook on a node). A cycle made through any other Python object (a leaf's hook whose
# closure holds a tensor computed from that leaf) is freed once broken, as in torch.
hide = _untrack if _untrack is not None and _hiding_wanted() else None
# Op._record's call, once per op: the node, its edges, its saved values with their version
# counters (lists of one int) and its attrs, in one C call (engine/_gctrack.c)
hide_node = _hide_node if hide is not None else None


# NOTE [Forward traces]: in anomaly mode every node recorded keeps the Python stack that
# made it, without the engine's own frames (torch's AnomalyMetadata); when its backward
# fails, the walk warns with it ("Error detected in ...") before the error propagates.
_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class _AnomalyParent(threading.local):
    node = None  # the node whose backward this thread is running, in anomaly mode


# a node recorded while another's backward runs (create_graph) keeps that one as its
# parent, whose trace torch also shows ("Previous calculation was induced by ...")
anomaly_parent = _AnomalyParent()


def record_forward_trace(node) -> None:
    frames = [f for f in traceback.extract_stack() if not f.filename.startswith(_ENGINE_DIR)]
    node.forward_trace = "".join(traceback.format_list(frames))
    if anomaly_parent.node is not None:
        node.anomaly_parent = anomaly_parent.node


def forward_trace_warning(node) -> str:
    trace = getattr(node, "forward_trace", None)
    if not trace:
        return (f"Error detected in {node.name()}. No forward pass information available. "
                "Enable detect anomaly during forward pass for more information.")
    return f"Error detected in {node.name()}. Traceback of forward call that caused the error:\n{trace}"


def forward_trace_warnings(node) -> list:
    """The failing node's warning, then one per node up its chain of parents."""
    messages = [forward_trace_warning(node)]
    parent = getattr(node, "anomaly_parent", None)
    while parent is not None:
        messages.append(f"\n\nPrevious calculation was induced by {parent.name()}. Traceback "
                        "of forward call that induced the previous calculation:\n"
                        f"{getattr(parent, 'forward_trace', None) or ''}")
        parent = getattr(parent, "anomaly_parent", None)
    return messages


def expose(node) -> None:
    """Show ``node`` and the graph below it to the cyclic GC again (each node once)."""
    if _track is None or node is None or node._gc_exposed:
        return
    stack = [node]
    while stack:
        n = stack.pop()
        if n._gc_exposed:  # and so is everything below it
            continue
        n._gc_exposed = True
        edges = n.next_functions
        _track(n, edges, *edges)
        saved = n.saved
        if saved:
            _track(saved, *saved.values())  # SavedTensors, lists of them (numbers skipped)
            for s in saved.values():
                items = s if type(s) is list else (s,)
                if type(s) is list:
                    _track(*s)
                stack.extend(x.producer_node for x in items  # (not always an edge's node)
                             if type(x) is SavedTensor and x.producer_node is not None)
        if n.attrs:
            _track(n.attrs)
        stack.extend(child for child, _ in edges if child is not None)




class RemovableHandle:
    """What register_hook returns: ``remove()`` takes the hook out again."""

    __slots__ = ("_hooks_ref", "id")

    def __init__(self, hooks: dict):
        try:
            self._hooks_ref = weakref.ref(hooks)
        except TypeError:  # (a plain dict a user gave as _backward_hooks)
            self._hooks_ref = lambda h=hooks: h
        self.id = next(_hook_ids)

    def remove(self) -> None:
        hooks = self._hooks_ref()
        if hooks is not None:
            hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class HookDict(collections.OrderedDict):
    """The hooks of a tensor, by handle id: torch's ``_backward_hooks`` OrderedDict (and
    printed as one); weakly referenced by the handles."""

    __slots__ = ()

    def __repr__(self):
        return repr(collections.OrderedDict(self))

    def add(self, fn) -> RemovableHandle:
        """Keep ``fn`` under a fresh handle's id; the handle removes it again."""
        handle = RemovableHandle(self)
        self[handle.id] = fn
        return handle


# Tensor.register_post_accumulate_grad_hook's hooks: {id(leaf): HookDict}, an entry dropped
# when its leaf dies (keyed by id: a Tensor's == is elementwise); the walk reads it only
# when not empty
post_accumulate_grad_hooks: dict = {}


def post_accumulate_hooks_of(t) -> HookDict:
    hooks = post_accumulate_grad_hooks.get(id(t))
    if hooks is None:
        hooks = post_accumulate_grad_hooks[id(t)] = HookDict()
        weakref.finalize(t, post_accumulate_grad_hooks.pop, id(t), None)
    return hooks


class Node:
    """A backward function: ``grad_fn`` of a non-leaf tensor."""

    # No __slots__: class-level defaults make a new node cost one allocation, which matters
    # at one node per op. Recording sets seq, next_functions, saved and out_metas; metas,
    # param_edge_counts and attrs only when they differ from these defaults.
    op = None
    _name = "Node"
    tensor_pre_hooks = None  # {output_nr: HookDict}: Tensor.register_hook
    retains_grad_hooks = None  # {output_nr: weakref to the tensor}
    pre_hooks = None
    post_hooks = None
    attrs = {}  # noqa: RUF012  (never mutated: recording assigns a fresh dict)
    saved = {}  # noqa: RUF012
    metas = None  # (shape, dtype) per edge; None: each is out_metas[0] (the common case)
    param_edge_counts = None  # edges per differentiable parameter; None: one each
    _gc_exposed = False  # True: this node and all below it are in the cyclic GC's sight

    def name(self) -> str:
        return self._name

    def __repr__(self):
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    @property
    def metadata(self) -> dict:
        """torch's Node.metadata: a dict that stays with the node (made on first use)."""
        kept = self.__dict__.get("_metadata")
        if kept is None:
            kept = self._metadata = {}
        return kept

    def _sequence_nr(self) -> int:
        """The order the node was made in (torch's; AccumulateGrad's is UINT64_MAX)."""
        return 2**64 - 1 if self.seq == float("inf") else self.seq

    # -- saved tensors

    def unpack(self, n: str, raw: bool):
        attrs = self.attrs
        if n in attrs:
            return attrs[n]
        if self.saved is None:
            raise GraphFreedError(self)
        s = self.saved[n]
        if type(s) is SavedTensor:
            return s.unpack(raw, self)
        if type(s) is list:
            return [x.unpack(raw, self) for x in s]
        return s  # a Python number (or None) in a Tensor position

    def release_variables(self) -> None:
        self.saved = None

    def saved_tensors_info(self) -> list[tuple[str, tuple, str, int]]:
        """(name, shape, dtype, bytes) of each tensor this node holds for backward."""
        out = []
        for n, s in (self.saved or {}).items():
            for k, x in enumerate(s if type(s) is list else [s]):
                if type(x) is SavedTensor and x.array is not None:
                    label = n if type(s) is not list else f"{n}[{k}]"
                    out.append((label, tuple(x.array.shape), str(x.array.dtype),
                                int(x.array.nbytes)))
        return out

    # -- the backward computation

    def apply(self, grads, raw: bool):
        return self.op.backward(self, grads, raw)

    def __call__(self, *grads):
        """``grad_fn(*grad_outputs)``: this node's backward on its own, as a function (a
        graph recorded when grad mode is on): a tensor per edge, or the one tensor."""
        if len(grads) != len(self.out_metas):
            raise TypeError(f"expected {len(self.out_metas)} arguments, got {len(grads)} "
                            "instead")
        outs = self.apply(list(grads), raw=False)
        return outs[0] if len(outs) == 1 else tuple(outs)

    # -- hooks on the node itself (torch.autograd.graph.Node API)

    def register_hook(self, fn) -> RemovableHandle:
        expose(self)  # the hook may refer to a tensor made from this node
        if self.post_hooks is None:
            self.post_hooks = HookDict()
        return self.post_hooks.add(fn)

    def register_prehook(self, fn) -> RemovableHandle:
        expose(self)  # the hook may refer to a tensor made from this node
        if self.pre_hooks is None:
            self.pre_hooks = HookDict()
        return self.pre_hooks.add(fn)

    def _add_tensor_pre_hook(self, output_nr: int, fn) -> RemovableHandle:
        expose(self)  # the hook may refer to a tensor made from this node
        if self.tensor_pre_hooks is None:
            self.tensor_pre_hooks = {}
        return self.tensor_pre_hooks.setdefault(output_nr, HookDict()).add(fn)


class RawSavedTensor:
    """``grad_fn._raw_saved_<name>``: one saved tensor of a node, whose hooks may be set
    (NOTE [saved tensor hooks] in engine/saved_hooks.py). torch.autograd.SavedTensor, named
    so; only a node makes one (from Python, torch's error)."""

    __slots__ = ("_node", "_key")

    def __init__(self, *args, **kwargs):
        if args or kwargs:  # (torch's binding takes no arguments at all)
            given = ", ".join(map(repr, args))
            if kwargs:
                given += "; kwargs: " + ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            raise TypeError("__init__(): incompatible constructor arguments. The following "
                            "argument types are supported:\n    1. "
                            "torch._C._autograd.SavedTensor()\n\nInvoked with: " + given)
        raise GradientError("Trying to create a SavedTensor object from Python is forbidden.")

    @classmethod
    def _of(cls, node, key):
        raw = object.__new__(cls)
        raw._node, raw._key = node, key
        return raw

    def register_hooks(self, *hooks) -> None:
        if len(hooks) != 2 or not all(callable(h) for h in hooks):
            raise TypeError("register_hooks(): incompatible function arguments. The following "
                            "argument types are supported:")
        node = self._node
        if node.saved is None:
            raise GradientError(
                "Calling register_hooks on a saved tensor after it has been freed. Saved "
                "intermediate values of the graph are freed when you call .backward() or "
                "autograd.grad(). Specify retain_graph=True if you need to backward through "
                "the graph a second time or if you need to access saved variables after "
                "calling backward.")
        s = node.saved[self._key]
        if s.hooked is not None:
            raise GradientError("Calling register_hooks on a saved tensor whose hooks have "
                                "already been set. Hint: only one pair of hooks is allowed at "
                                "a time.")
        s.set_hooks(s.unpack(False, node), hooks)

    def unpack(self):
        return self._node.unpack(self._key, raw=False)


RawSavedTensor.__name__ = RawSavedTensor.__qualname__ = "SavedTensor"


def node_class(grad_fn: str) -> type:
    """A Node subclass whose class name is the grad_fn name torch shows.

    ``grad_fn`` may be qualified (``torch::autograd::CopyBackwards``): ``name()`` returns it
    whole, the class is named by its last part, as in torch.
    """
    cls = type(grad_fn.rsplit("::", 1)[-1], (Node,), {"_name": grad_fn})
    cls.__module__ = "engine.graph"
    return cls


def add_saved_attributes(cls, op, attrs=()) -> None:
    """torch's ``grad_fn._saved_<name>`` and ``grad_fn._raw_saved_<name>`` on the node class
    of the row ``op``, for each name its VJPs declare (torch's ``self`` is the schema's
    ``input``), and ``_saved_<name>`` for each of ``attrs``, values some nodes of the class
    keep beside those (views.py's geometry). Properties, not a ``Node.__getattr__``, whose
    mere presence makes every attribute read of every node slower (the walk reads several
    per node)."""
    declared = set()
    for params in op.vjp_params.values():
        declared.update(params)
    declared -= {"grad", "grads"}
    for name in declared | ({"self"} if "input" in declared else set()):
        key = "input" if name == "self" and "self" not in declared else name
        setattr(cls, f"_saved_{name}", property(_saved_getter(key, True)))
        setattr(cls, f"_raw_saved_{name}", property(_raw_saved_getter(name, key)))
    for name in set(attrs) - declared:
        setattr(cls, f"_saved_{name}", property(_saved_getter(name, False)))


def _saved_getter(key, declared):
    def get(node):
        """What the node keeps for its backward: None where declared but not needed,
        torch's backward-twice error once freed."""
        if key in node.attrs:
            return node.attrs[key]
        if not declared:
            raise AttributeError(f"'{type(node).__name__}' object has no attribute "
                                 f"'_saved_{key}'")
        if node.saved is None:
            raise GraphFreedError(node)
        return node.unpack(key, raw=False) if key in node.saved else None
    return get


def _raw_saved_getter(name, key):
    def get(node):
        """The saved tensor itself, whose hooks may be set (RawSavedTensor)."""
        k = key if node.saved is not None and key in node.saved else name
        if node.saved is not None and type(node.saved.get(k)) is SavedTensor:
            return RawSavedTensor._of(node, k)
        raise AttributeError(f"'{type(node).__name__}' object has no attribute '_saved_{name}'")
    return get


class AccumulateGrad(Node):
    """The node behind every leaf that requires grad: the only writer of ``.grad``."""

    _name = "torch::autograd::AccumulateGrad"

    def __init__(self, variable):
        self.variable = variable
        self.seq = float("inf")  # torch runs AccumulateGrad first once ready
        self.next_functions = ()
        self.metas = ((variable.array.shape, variable.array.dtype),)


class SavedTensor:
    """A tensor saved for backward.

    Inputs keep the Tensor itself; outputs keep only the array and are rebuilt with
    ``grad_fn`` = the saving node on unpack, which the node passes in: a node never refers
    to itself through what it saved (as torch's SavedVariable), so a graph nobody runs
    backward through is freed by reference counting, not left to the cyclic GC.
    """

    __slots__ = ("tensor", "array", "output_nr", "version", "saved_version", "producer_node",
                 "hooked")

    def __init__(self, t, output_nr=None, hooks=None):
        """``output_nr``: ``t`` is that output of the node saving it (else an input).
        ``hooks``: (pack, unpack) for this value (else the thread's saved_tensors_hooks)."""
        if type(t._version_counter) is not list:
            check_saved(t)  # NOTE [inference tensors]
        self.version = t._version_counter
        self.saved_version = t._version_counter[0]
        self.array = t.array
        self.hooked = None
        if output_nr is None:
            self.tensor = t
            # who made the input when it was saved (for the in-place error's wording)
            self.producer_node, self.output_nr = t._grad_fn, t._output_nr
        else:  # producer None: the saving node itself
            self.tensor, self.producer_node, self.output_nr = None, None, output_nr
        if hooks is not None or saved_hooks.active and saved_hooks.current() is not None:
            self.set_hooks(t, hooks or saved_hooks.current())

    def set_hooks(self, t, hooks) -> None:
        """Keep only what ``hooks``' pack makes of ``t`` (NOTE [saved tensor hooks])."""
        if self.tensor is not None:  # an input: an in-place variant's self is its clone
            t = saved_hooks.original(t)
        packed = saved_hooks.pack(t, hooks)
        if self.tensor is None:  # an output: unpacked with the saving node as grad_fn
            identity = None
        else:  # an input: its node, or its leaf's AccumulateGrad (shared, so .grad is t's)
            identity = (t._grad_fn, t._output_nr, t._requires_grad,
                        t._acc if t._grad_fn is None else None)
        self.hooked = (packed, hooks[1], identity)
        self.tensor = self.array = self.producer_node = None

    def _unpack_hooked(self, raw: bool, owner):
        packed, unpack_hook, identity = self.hooked
        value = saved_hooks.unpack(unpack_hook, packed)
        if raw:
            return value.array
        if identity is None:
            return _Tensor._make_with_history(value.array, owner, self.output_nr)
        grad_fn, output_nr, requires_grad, acc = identity
        t = _Tensor._make(value.array)
        if grad_fn is not None:
            t._set_history(grad_fn, output_nr)
        else:
            t._requires_grad = requires_grad
            t._acc = acc
        return t

    def unpack(self, raw: bool, owner):
        """The saved value, for ``owner``, the node that saved it."""
        if self.hooked is not None:
            return self._unpack_hooked(raw, owner)
        if self.producer_node is not None and self.tensor is not None and (
                self.tensor._grad_fn is None):  # a non-leaf input, detached in place since
            raise GradientError(_DETACHED_SAVED)
        if self.version[0] != self.saved_version:
            raise InplaceError(self._inplace_message(owner),
                               owner if self.tensor is None else None)
        if self.tensor is not None:
            return self.tensor.array if raw else self.tensor
        if raw:
            return self.array
        t = _Tensor._make_with_history(self.array, owner, self.output_nr)
        t._version_counter = self.version  # the output itself, as torch's unpack gives
        if reattach_tangent is not None:  # forward-over-reverse: the output's tangent
            reattach_tangent(t, self.array)
        return t

    def _inplace_message(self, owner) -> str:
        arr = self.array
        shape = "[" + ", ".join(str(d) for d in arr.shape) + "]"
        where = ""
        node = self.producer_node
        if node is None and self.tensor is None:
            node = owner
        nr = self.output_nr if node is not None else 0
        if self.tensor is not None and self.tensor._grad_fn is not None:
            if node is None:
                nr = self.tensor._output_nr
            node = self.tensor._grad_fn  # a saved input: torch names its grad_fn now
        if node is not None:
            # torch drops "Backward0" and keeps any other number: "Tanh", "Div2" (DivBackward2),
            # "torch::autograd::CopyBackwards" as it is
            base = node.name()
            m = re.fullmatch(r"(.*)Backward(\d+)", base)
            stem = base if m is None else m[1] + ("" if m[2] == "0" else m[2])
            where = f", which is output {nr} of {stem},"
        hint = ("Hint: the backtrace further above shows the operation that failed to compute "
                "its gradient. The variable in question was changed in there or anywhere "
                "later. Good luck!" if anomaly_mode.enabled else
                "Hint: enable anomaly detection to find the operation that failed to compute "
                "its gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).")
        return ("one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{legacy_type_name(arr.dtype)} {shape}]{where} is at "
                f"version {self.version[0]}; expected version {self.saved_version} instead. "
                + hint)


def zeros_for(meta, like, raw: bool):
    """Zeros standing for an undefined gradient of a multi-output node."""
    shape, np_dtype = meta
    xp = backend.module_of(like if raw else like.array)
    arr = xp.zeros(shape, dtype=np_dtype)
    if raw:
        return arr
    return _Tensor._make(arr)


if _configure_gctrack is not None:
    _configure_gctrack(SavedTensor)  # the class hide_node looks for among saved values
