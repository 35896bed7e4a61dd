"""torch.autograd.forward_ad: dual tensors and forward-mode JVP rules.

Tangents ride along op calls: while a dual level is open, the op table calls ``propagate``
after each op on Tensors; an op with a tangent on any input runs its row's ``jvp`` rule
(engine/ops/table.py: "linear", "elementwise", "transpose" or a function) on the primals
and tangents, and the result gets the output tangent. A row without a rule raises torch's
NotImplementedError, never a silent zero. Rules run on plain Tensors, without history, so
nested levels (forward-over-forward) are not supported; forward-over-reverse is: a
create_graph backward inside a level runs ops on Tensors that carry tangents, and saved
outputs rebuilt for it get theirs back (``reattach``).

Levels are per thread. Tangents are kept per level in a dict keyed by id() (Tensors have __slots__ and no weak
references), holding the tensor so the id stays valid; leaving the level drops them all,
so ``unpack_dual`` then gives ``tangent=None`` as in torch.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import weakref
from collections import namedtuple

from . import backend, grad_mode
from . import graph as _graph
from ._tensor import Tensor
from .autograd import grad as _grad
from .errors import OVERLAP_ERROR
from .ops import table as _table
from .ops.table import F

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])

class _Levels(threading.local):
    """This thread's open levels, innermost last: {id(tensor): (tensor, tangent)}. Per
    thread (as grad mode is), so that one request's dual level never touches another's
    ops in a threaded server."""

    def __init__(self):
        self.stack: list[dict] = []
        self.paused = 0  # > 0 while a rule runs: its own ops carry no tangents


_levels_of_thread = _Levels()
_open_levels = 0  # in all threads: the table's hook is set while any is open
_open_lock = threading.Lock()


def _here() -> list[dict]:
    return _levels_of_thread.stack


def _active() -> bool:
    """A level is open in this thread, no rule of it is running, and inference mode is off
    (torch's inference mode leaves forward AD out, as it does autograd)."""
    state = _levels_of_thread
    return bool(state.stack) and not state.paused and not grad_mode._state.inference


@contextlib.contextmanager
def _paused():
    """Run plain ops (a rule's, the tangents' own): this thread's hook steps aside; other
    threads' levels are not touched."""
    state = _levels_of_thread
    state.paused += 1
    try:
        yield
    finally:
        state.paused -= 1


def enter_dual_level() -> int:
    global _open_levels
    levels = _here()
    if levels:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    levels.append({})
    with _open_lock:
        _open_levels += 1
        _table.forward_hook = propagate
        _graph.reattach_tangent = reattach
    return len(levels) - 1


def _refuse_dual_out(name, tensors) -> None:
    """torch's out= variants have no forward derivative: one given a dual tensor (as an
    input or as ``out``) is refused, in no_grad too."""
    if _active() and any(_tangent(t) is not None for t in tensors):
        raise NotImplementedError(f"Trying to use forward AD with {name}_out that does not "
                                  "support it because it is an out= function")


_table.refuse_dual_out = _refuse_dual_out


def exit_dual_level(*, level=None) -> None:
    global _open_levels
    levels = _here()
    if level is not None and level != len(levels) - 1:
        raise RuntimeError("Trying to exit a forward AD level that was not the last one that "
                           "was created. This is not supported.")
    if not levels:
        raise RuntimeError("Dual level must be a positive number.")
    levels.pop()
    with _open_lock:
        _open_levels -= 1
        if _open_levels == 0:
            _table.forward_hook = None
            _graph.reattach_tangent = None


def __getattr__(name):
    # torch.autograd.forward_ad._current_level: -1 outside a level. Levels are this
    # thread's here (a service request's level never shows in another), so it is read
    # when asked rather than kept in a module global
    if name == "_current_level":
        return len(_here()) - 1
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class dual_level:
    """``with dual_level():`` opens a level for make_dual / unpack_dual."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()


def make_dual(tensor: Tensor, tangent: Tensor, *, level=None) -> Tensor:
    """A view of ``tensor`` (ViewBackward0 when it requires grad) whose tangent is
    ``tangent`` itself, not a copy: an in-place op on the dual writes into it, as torch's."""
    if not _here():
        raise RuntimeError("Trying to create a dual Tensor for forward AD but no level "
                           "exists, make sure to enter_dual_level() first.")
    if level is not None and level != len(_here()) - 1:
        raise RuntimeError("Invalid level given to _make_dual")
    if not tensor.dtype.is_floating_point:
        raise ValueError("Expected primal to be floating point or complex, but got: "
                         f"torch.{tensor.dtype.name}")
    if not tangent.dtype.is_floating_point:
        raise ValueError("Expected tangent to be floating point or complex, but got: "
                         f"torch.{tangent.dtype.name}")
    _check_tangent_size(tensor, tangent)
    if grad_mode._state.inference:  # an alias without a tangent (see _active)
        with _paused():
            return F.view(tensor, tuple(tensor.shape))
    if _tangent(tangent) is not None:
        raise RuntimeError("Setting a forward grad that itself has a forward gradient at the "
                           f"same level{len(_here()) - 1} is not supported.")
    if not _same_layout(tensor, tangent):
        tangent = _copy_in_the_layout_of(tensor, tangent)
    with _paused():
        dual = F.view(tensor, tuple(tensor.shape))
    _mark_dual_view(dual)
    _here()[-1][id(dual)] = (dual, tangent)  # (torch keeps a tangent's own dtype too)
    return dual


def _same_layout(primal, tangent) -> bool:
    """torch keeps the tangent itself only when it is laid out as the primal is (its
    has_same_meta): the same storage size and offset, and the same strides (where a
    dimension has more than one element)."""
    if (primal.untyped_storage().nbytes() // primal.element_size()
            != tangent.untyped_storage().nbytes() // tangent.element_size()
            or primal.storage_offset() != tangent.storage_offset()):
        return False
    return all(a == b or n in (0, 1) for a, b, n in
               zip(primal.stride(), tangent.stride(), primal.shape))


def _copy_in_the_layout_of(primal, tangent) -> Tensor:
    """A copy of ``tangent`` (in its dtype) laid out as the primal: new memory of the
    primal's storage size, at its offset, with its strides (not a view of anything)."""
    if any(st == 0 and n > 1 for st, n in zip(primal.stride(), primal.shape)):
        raise RuntimeError(OVERLAP_ERROR)  # torch's copy_ into the primal's layout refuses
    xp = backend.module_of(tangent.array)
    itemsize = tangent.array.itemsize
    memory = xp.zeros(primal.untyped_storage().nbytes() // primal.element_size(),
                      dtype=tangent.array.dtype)
    out = xp.lib.stride_tricks.as_strided(memory[primal.storage_offset():], primal.shape,
                                          tuple(s * itemsize for s in primal.stride()))
    out[...] = tangent.array
    return Tensor._make(out)


def _tangent(t):
    levels = _here()
    if not levels or not isinstance(t, Tensor) or grad_mode._state.inference:
        return None
    entry = levels[-1].get(id(t))
    return entry[1] if entry is not None and entry[0] is t else None


def _check_tangent_size(tensor, tangent) -> None:
    if tangent.shape != tensor.shape:
        raise RuntimeError("Trying to set a forward gradient that has a different size than "
                           "that of the original Tensor, this is not supported. Tensor is of "
                           f"size {list(tensor.shape)} while the given forward gradient is "
                           f"of size {list(tangent.shape)}.")


# -- custom Functions (engine/function.py): their forward runs without tangents, their jvp
#    gives the outputs theirs

def function_input_tangents(args):
    """What a custom Function's jvp receives: each Tensor argument's tangent (zeros for a
    floating one without), None for the others; None when no level is open or no
    argument has a tangent."""
    if not _active():
        return None
    found = [_tangent(a) for a in args]
    if all(t is None for t in found):
        return None
    with _paused(), grad_mode.no_grad():
        return [t if t is not None or not isinstance(a, Tensor) or not
                a.dtype.is_floating_point else F.zeros_like(Tensor._make(a.array))
                for a, t in zip(args, found)]


def paused():
    """Ops run without tangents meanwhile (a custom Function's forward, its jvp)."""
    return _paused()


def set_tangent(tensor, tangent) -> None:
    """``tensor`` (a custom Function's output) gets ``tangent``, its jvp's result."""
    _check_tangent_size(tensor, tangent)
    _here()[-1][id(tensor)] = (tensor, tangent)


def current_tangent(t):
    """``t``'s tangent at the open level, or None (what repr shows as ``tangent=``)."""
    return _tangent(t)


def unpack_dual(tensor: Tensor, *, level=None) -> UnpackedDualTensor:
    tangent = _tangent(tensor)
    if tangent is None:
        return UnpackedDualTensor(tensor, None)
    with _paused():  # a view of the dual (its autograd history kept) without a tangent
        primal = F._fw_primal(tensor)
    _mark_dual_view(primal)
    return UnpackedDualTensor(primal, tangent)


# NOTE [Dual views]: make_dual's result is a view of its primal, and unpack_dual's primal a
# view of its dual: they share memory, version counter and autograd history, but not
# tangents. An in-place op on such a view does not give its base a tangent (nor on its
# base, the view), as torch's non-forward-differentiable views.
# (by id, with weak references: a WeakSet would compare tensors with their elementwise ==)
_dual_views: dict[int, weakref.ref] = {}


def _mark_dual_view(t) -> None:
    key = id(t)
    _dual_views[key] = weakref.ref(t, lambda _, key=key: _dual_views.pop(key, None))


def _is_dual_view(t) -> bool:
    ref = _dual_views.get(id(t))
    return ref is not None and ref() is t


# ------------------------------------------------------------------------ propagation

def _not_implemented(name: str, op=None) -> NotImplementedError:
    if op is not None and op.grad_fn == "torch::autograd::NotImplemented":
        # derivatives.yaml says "not_implemented" for it: torch's shorter text
        return NotImplementedError(f"Trying to use forward AD with aten::{name} that does "
                                   "not support it.")
    return NotImplementedError(
        f"Trying to use forward AD with {name} that does not support it because it "
        "has not been implemented yet.\nPlease file an issue to PyTorch at https://github"
        ".com/pytorch/pytorch/issues/new?template=feature-request.yml so that we can "
        "prioritize its implementation or submit a PR adding the implementation to "
        "derivatives.yaml")


def _input_tangents(op, args) -> dict:
    """{position: tangent} for Tensor arguments with one; a Tensor[] argument gets a list
    (None where an element has none)."""
    found = {}
    for i in op.tensor_params:
        a = args[i]
        if isinstance(a, Tensor):
            t = _tangent(a)
            if t is not None:
                found[i] = t
        elif type(a) in (list, tuple):
            ts = [_tangent(x) for x in a]
            if any(t is not None for t in ts):
                found[i] = ts
    return found


# NOTE [tangents have history]: torch computes a tangent with differentiable ops, in the
# grad mode of the call: a rule's ops record on the primals (their history, the results'
# too) and on the tangents, so a tangent requires grad, with a grad_fn, where a tangent it
# came from does or its primal does (sin's tangent t * cos(x) is MulBackward0), and a
# backward through it reaches both. The ops themselves carry no tangents (_paused: nested
# levels are not supported).
def propagate(op, args, out):
    """After ``op(*args)`` made ``out``: its tangent, when an input has one."""
    if not _active():
        return out
    tangents = _input_tangents(op, args)
    if not tangents:
        return out
    outs = tuple(out) if op.multi_output else (out,)
    if not any(isinstance(o, Tensor) and o.dtype.is_floating_point for o in outs):
        return out  # comparisons, argmax...: no derivative to carry, as in torch
    if op.jvp is None or any(i not in op.diff_params for i in tangents) or (
            op.jvp in ("elementwise", "transpose") and any(
                op.params[i].name not in op.vjp for i in tangents)):
        raise _not_implemented(op.name, op)
    with _paused():  # NOTE [tangents have history]
        result = _run_rule(op, args, tangents, outs)
    if not op.multi_output:
        result = (result,)
    for o, t in zip(outs, result):
        if t is None or not isinstance(o, Tensor) or not o.dtype.is_floating_point:
            continue
        if t.shape != o.shape:  # a tangent on a broadcast input only
            t = F.expand(t, tuple(o.shape)).contiguous()
        if t.dtype is not o.dtype:
            t = t.to(o.dtype)
        level = _here()[-1]
        level[id(o)] = (o, t)
        level[("array", id(o.array))] = (o.array, t)  # for reattach
    return out


def reattach(tensor, array) -> None:
    """A saved output, rebuilt from its array for a create_graph backward, gets the
    tangent its original had, so a backward inside a dual level carries tangents
    (forward-over-reverse: hessian(outer_jacobian_strategy="forward-mode"))."""
    levels = _here()
    if _active():
        entry = levels[-1].get(("array", id(array)))
        if entry is not None and entry[0] is array:
            levels[-1][id(tensor)] = (tensor, entry[1])


def _plain(a):
    """A primal as the rules see it: a Tensor without history (lists element-wise)."""
    if isinstance(a, Tensor):
        return Tensor._make(a.array)
    if type(a) in (list, tuple) and a and isinstance(a[0], Tensor):
        return [Tensor._make(x.array) for x in a]
    return a


def _zeros_for(primal):
    """The tangent of an argument that has none (torch's efficient zero tensor)."""
    if isinstance(primal, Tensor):
        return F.zeros_like(primal)
    if isinstance(primal, list):
        return [F.zeros_like(x) for x in primal]
    return None if primal is None else 0.0


def _full_tangent(primal, t):
    """``t`` with zeros where it has none (lists element-wise)."""
    if t is None:
        return _zeros_for(primal)
    if isinstance(t, list):
        return [F.zeros_like(x) if u is None else u for x, u in zip(primal, t)]
    return t


class _Values:
    """What a rule's parameter names ask for: ``<arg>_t`` (tangents), arguments,
    ``result``/``resultN``, ``<arg>_shape``/``<arg>_dtype``, ``grad``/``grads``."""

    def __init__(self, op, args, tangents, outs):
        self.op, self.args, self.outs = op, args, outs
        self.primals = args  # with their history: NOTE [tangents have history]
        self.tangents = {op.params[i].name: t for i, t in tangents.items()}
        self.extra = {}

    def get(self, name):
        if name in self.extra:
            return self.extra[name]
        op = self.op
        i = op.index.get(name)
        if i is not None:
            return self.primals[i]
        if name.endswith("_t") and name[:-2] in op.index:
            base = name[:-2]
            return _full_tangent(self.primals[op.index[base]], self.tangents.get(base))
        if name == "result" or (name.startswith("result") and name[6:].isdigit()):
            return self.outs[0 if name == "result" else int(name[6:])]
        return op._attr(name, self.args)

    def call(self, fn, params):
        return fn(*[self.get(n) for n in params])


def _params(fn):
    return tuple(inspect.signature(fn).parameters)


def _run_rule(op, args, tangents, outs):
    rule = op.jvp
    values = _Values(op, args, tangents, outs)
    if callable(rule):
        return values.call(rule, _params(rule))
    if rule == "linear":
        new = list(values.primals)
        for i in op.diff_params:
            new[i] = values.get(op.params[i].name + "_t")
        return op(*new)
    if rule == "elementwise":
        return _elementwise(op, values)
    if rule == "transpose":
        return _transpose(op, values, outs)
    raise ValueError(f"{op.qualname}: unknown jvp rule {rule!r}")


def _elementwise(op, values):
    """auto_element_wise: the Jacobian is diagonal (after broadcasting), so J t is the VJP
    with ``grad`` = t, summed over the inputs that have a tangent."""
    total = None
    for name, t in values.tangents.items():
        values.extra = {"grad": t, "grads": [t]}
        part = values.call(op.vjp[name], op.vjp_params[name])
        total = part if total is None else total + part
    values.extra = {}
    return total


def _transpose(op, values, outs):
    """J t from the VJP, which is linear in ``grad``: with u a zero seed that requires
    grad, <VJP(u), t> = <u, J t>, so J t = d<VJP(u), t>/du (one small backward)."""
    seeds = [F.zeros_like(Tensor._make(o.array)).requires_grad_(True)
             if isinstance(o, Tensor) and o.dtype.is_floating_point else None for o in outs]
    # NOTE [tangents have history]: kept where a primal or a tangent requires grad (the
    # seeds themselves do, and would make every answer seem to)
    keep = grad_mode.is_grad_enabled() and any(
        isinstance(a, Tensor) and a._requires_grad for a in (
            *values.args, *(x for t in values.tangents.values()
                            for x in (t if isinstance(t, list) else (t,)))))
    with grad_mode.enable_grad():
        grads = [s if s is not None else F.zeros_like(Tensor._make(o.array))
                 for s, o in zip(seeds, outs)]
        values.extra = {"grad": grads[0], "grads": grads}
        total = None
        for name, t in values.tangents.items():
            g = values.call(op.vjp[name], op.vjp_params[name])
            pairs = zip(g, t) if isinstance(t, list) else ((g, t),)
            for gi, ti in pairs:
                if gi is None or ti is None:  # no gradient flows (norm with p=0)
                    continue
                part = (gi * ti).sum()  # a broadcast input: the sum undoes the broadcast
                total = part if total is None else total + part
        values.extra = {}
        wrt = [s for s in seeds if s is not None]
        if total is None or not total.requires_grad:
            jt = [None] * len(wrt)
        else:
            jt = list(_grad(total, wrt, allow_unused=True, create_graph=keep))
    it = iter(jt)
    res = []
    for s in seeds:
        if s is None:
            res.append(None)
            continue
        j = next(it)
        res.append(F.zeros_like(s.detach()) if j is None else j if keep else j.detach())
    return tuple(res) if op.multi_output else res[0]


def detach_(t) -> None:
    """``t.detach_()``: it keeps no tangent at the open level."""
    levels = _here()
    entry = levels[-1].get(id(t)) if levels else None
    if entry is not None and entry[0] is t:
        del levels[-1][id(t)]


def inplace(self, result) -> None:
    """``self`` is being overwritten in place with ``result``: it takes result's tangent,
    written into its bases up the view chain (zeros elsewhere when a base had none), and
    every view of the root gets its slice of the root's new tangent, as torch's views of
    a tangent share its memory."""
    if not _active():
        return
    t = _tangent(result)
    root = self
    while root._view is not None and not _is_dual_view(root):  # NOTE [Dual views]
        root = root._view[0]
    if t is None and _tangent(self) is None and _tangent(root) is None:
        return
    with _paused(), grad_mode.no_grad():  # plain ops on tangents
        if t is None:  # overwritten by a value without a tangent: torch's is zero
            t = F.zeros_like(Tensor._make(result.array))
        cur = self
        while cur is not root:
            base = cur._view[0]
            bt = _tangent(base)
            if bt is None:
                bt = F.zeros_like(Tensor._make(base.array))
            t = F._copy_into(bt, _positions(cur), t)
            cur = base
        old = _tangent(cur)
        if (old is not None and old.array.shape == t.array.shape
                and old.array.dtype == t.array.dtype and backend.writeable(old.array)):
            old.array[...] = t.array  # torch writes into the tangent the user gave
            old._version_counter[0] += 1
        else:
            _here()[-1][id(cur)] = (cur, t)
        _refresh_views(cur)


def _positions(view):
    """The flat positions of ``view``'s elements in its base (as engine/views.py finds
    them): the view op run on an arange."""
    base, op, args, k = view._view[:4]
    xp = backend.module_of(base.array)
    flat = xp.arange(base.array.size).reshape(base.array.shape)
    positions = op.forward(*[flat if a is base else (a.array if isinstance(a, Tensor) else a)
                             for a in args])
    return positions[k] if k is not None else positions


def _refresh_views(root) -> None:
    """Each live view of ``root`` (and of its views, iteratively) gets its view op applied
    to its base's tangent."""
    stack = [root]
    while stack:
        base = stack.pop()
        bt = _tangent(base)
        for ref in list(base._views or ()):
            view = ref()
            if (view is None or view._view is None or view._view[0] is not base
                    or _is_dual_view(view)):  # NOTE [Dual views]
                continue
            _, op, args, k = view._view[:4]
            made = op(*[bt if a is base else a for a in args])
            _here()[-1][id(view)] = (view, made[k] if k is not None else made)
            stack.append(view)
