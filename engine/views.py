"""In-place ops and views, recorded as torch's autograd records them.

A view (``_view`` set: base, view op, its arguments, output index) shares its base's memory
and version counter. torch keeps, for every view, the *root* base (``view._base``), and:

* an in-place op on a view rewrites the root's history: the root gets ``CopySlices``, which
  holds the op's own node (``fn``) and takes over its edges but the first, which goes to the
  root's old history instead of the view's (torch/csrc/autograd/variable.cpp
  ``rebase_history``; functions/tensor.cpp ``CopySlices``);
* after any in-place change of the root or of one of its views, every view made before it
  is given ``AsStridedBackward0``, whose one edge is the root's history at that time
  (variable.cpp ``VariableHooks::grad_fn``: the view's own view op is not replayed).

torch regenerates a view's node when the node is asked for; here it is done at the in-place
op itself (what a later read sees is the same), so that reading ``_grad_fn`` stays a plain
attribute read on the hot paths.
"""

from __future__ import annotations

import weakref

from . import backend, graph, inference
from .errors import GradientError, GraphFreedError
from .grad_mode import is_grad_enabled
from .graph import Node
from .ops import table

_AS_STRIDED = None  # the table's _as_strided_view row (AsStridedBackward0), on first use


def root_of(t):
    while t._view is not None:
        t = t._view[0]
    return t


# NOTE [a view whose base came to require grad]: torch reads a view's requires_grad as its
# own flag, or its grad_fn, or its root base's requires_grad, when asked. So a view made
# before its base required grad (``b = a[:]; a.requires_grad_()``) requires grad too, yet
# stays a leaf with no grad_fn, and its gradient edge is none: ops on it record nodes whose
# edge for it is (None, 0), and nothing reaches ``a`` or ``b.grad``. Rather than a lookup
# on every ``requires_grad`` read (a plain attribute read on the hot paths), the change is
# pushed to the views when the root's flag changes: each leaf view that does not require
# grad of its own gets ``_requires_grad`` True and ``_acc`` THROUGH_BASE (the accumulator
# it answers is None), and loses both when the root stops requiring grad.
THROUGH_BASE = object()


def set_requires_grad(t, flag: bool) -> None:
    """``t.requires_grad_(flag)`` on a leaf, with its views (NOTE [a view whose base came to
    require grad]); the caller has made its checks."""
    if not flag and t._view is not None and root_of(t)._requires_grad:
        t._requires_grad, t._acc = True, THROUGH_BASE  # its own flag off, its base's on
        return
    t._requires_grad = flag
    if t._acc is THROUGH_BASE:
        t._acc = None
    if t._view is not None or t._views is None:
        return
    stack = [t]  # the root's views, and theirs (no recursion: a chain may be long)
    while stack:
        for ref in stack.pop()._views or ():
            v = ref()
            if v is None:
                continue
            if v._views is not None:
                stack.append(v)
            if v._grad_fn is not None:
                continue
            if flag and not v._requires_grad:
                v._requires_grad, v._acc = True, THROUGH_BASE
            elif not flag and v._acc is THROUGH_BASE:
                v._requires_grad, v._acc = False, None


def positions(view):
    """The flat positions of ``view``'s elements in its base: the view op run on an arange
    (so every view op the table has, and every index form, selects the same elements)."""
    base, op, args, k = view._view[:4]
    xp = backend.module_of(base.array)
    flat = xp.arange(base.array.size).reshape(base.array.shape)
    out = op.forward(*[flat if a is base else (a.array if isinstance(a, table._Tensor) else a)
                       for a in args])
    return out[k] if k is not None else out


def root_positions(view):
    """(root, positions of ``view``'s elements in the root, flat), through views of views."""
    where = positions(view)
    t = view._view[0]
    while t._view is not None:
        where = positions(t).reshape(-1)[where]
        t = t._view[0]
    return t, where


# --------------------------------------------------------------------------- CopySlices

class CopySlices(Node):
    """The root's node after an in-place op on one of its views: ``fn`` (the op's node, as
    recorded on the view) computes the gradient of the view's elements; the others pass
    through. Edges: the root's old history, then ``fn``'s edges but its first."""

    _name = "torch::autograd::CopySlices"

    def __init__(self, root, where, fn):
        self.seq = next(graph.sequence_nrs)
        self.fn = fn  # only this node leads to fn: show it to the GC now (graph.expose)
        graph.expose(fn)
        self.where = where
        meta = (root.array.shape, root.array.dtype)
        own = fn.metas if fn.metas is not None else (fn.out_metas[0],) * len(fn.next_functions)
        self.next_functions = ((root._edge() if root._requires_grad else (None, 0)),
                               *fn.next_functions[1:])
        self.metas = (meta, *own[1:])
        self.out_metas = (meta,)

    def apply(self, grads, raw: bool):
        fn = self.fn
        if fn is None:  # torch drops fn after a backward without retain_graph
            raise GraphFreedError(self)
        grad = grads[0]
        if grad is None:
            return [None] * len(self.next_functions)
        F = table.F
        if raw:
            xp = backend.module_of(grad)
            result = xp.array(grad, copy=True)
            flat = result.reshape(-1)
            res = fn.apply([flat[self.where]], raw)
            if res[0] is not None:
                flat[self.where] = res[0]
        else:
            # a clone of the slice, as torch's (so a create_graph backward shows its nodes)
            res = fn.apply([F.clone(F.index(F.reshape(grad, (-1,)), self.where))], raw)
            if res[0] is not None:
                result = F._copy_into(grad, self.where, res[0])
        return [result if res[0] is not None else None, *res[1:]]

    def release_variables(self) -> None:
        if self.fn is not None:
            self.fn.release_variables()
        self.fn = None


# --------------------------------------------------------------------------- in place

def rebase_history(view, result, bump_version=True, written=()):
    """``view`` is overwritten in place by ``result`` (the op computed out of place on the
    view): write it into the root's memory and give the root CopySlices. (A Function's
    dirty input, NOTE [Dirty inputs], has its new values and version already.)"""
    base, op, args, k, made_in_grad_mode, _ = view._view
    root, where = root_positions(view)
    if (k is None and not made_in_grad_mode and is_grad_enabled()
            and root._requires_grad):
        if made_in_grad_mode is None:  # NOTE [inference tensors]
            raise GradientError(inference.VIEW_INPLACE_ERROR)
        raise GradientError("A view was created in no_grad mode and is being modified inplace "
                            "with grad mode enabled." + _NO_GRAD_ADVICE)
    if _multi_output(view) and result._grad_fn is not None:  # split, unbind...: refused
        name = op.grad_fn[:op.grad_fn.rfind("Backward")]
        first = (f"Output {k or 0} of {name} is a view and is being modified inplace."
                 if view._requires_grad else "A view was created in no_grad mode and is "
                 "being modified inplace with grad mode enabled.")
        raise GradientError(first + " This view is the output of a function that returns "
                            "multiple views. Such functions do not allow the output views "
                            "to be modified inplace. You should replace the inplace "
                            "operation by an out-of-place one.")
    if root._grad_fn is None and root._requires_grad and is_grad_enabled():
        raise GradientError("a view of a leaf Variable that requires grad is being used "
                            "in an in-place operation.")
    if bump_version:
        # only the part written (``written``, a basic index into the view): where elements
        # share memory (an expanded view), the others must not write their old values back
        values = table.ROWS["_copy_into"].forward(root.array, where[written],
                                                  result.array[written])
        if backend.writeable(root.array):
            root.array[...] = values
        else:  # a read-only array (an expanded leaf): the root gets new memory
            root.array = values
        root._version_counter[0] += 1
    fn = result._grad_fn
    if fn is not None:
        node = CopySlices(root, where, fn)
        set_history(root, node, 0)
    regenerate(root)
    if fn is not None:
        own_saved_outputs(fn, view)
    return view


def _multi_output(view) -> bool:
    """Is ``view`` an output of a function that returns several views (split, unbind), or
    a view of one? As torch's creation meta, a view inherits its base's unless its own
    creation is special; the nearest special one along the chain decides."""
    t = view
    while t._view is not None:
        if t._view[3] is not None:
            return True
        if t._view[4] is not True:  # made in no_grad, inference mode, a custom Function
            return False
        t = t._view[0]
    return False


def check_inplace_on_view(view, result) -> None:
    """torch's refusals of an in-place op on ``view`` in grad mode, before it runs: a view
    made in no_grad mode, or a view of one (the mode is inherited along the chain), a
    custom Function's view output or a view of one, and a view of a leaf that requires
    grad (a view made before its base required grad included: torch's view then requires
    grad through its base)."""
    root, no_grad_at, custom_at, multi_output = view, None, None, False
    in_inference = False  # (made in inference mode up the chain: inherited over all others)
    while root._view is not None:
        made_in_grad_mode, k = root._view[4], root._view[3]
        in_inference = in_inference or made_in_grad_mode is None
        # (the nearest of the two along the chain is the one torch's view inherits)
        if made_in_grad_mode is IN_CUSTOM_FUNCTION:
            if custom_at is None and no_grad_at is None:
                custom_at = root
        elif not made_in_grad_mode and no_grad_at is None and custom_at is None:
            no_grad_at = root
        multi_output = multi_output or k is not None
        root = root._view[0]
    if not (result._grad_fn is not None or view._requires_grad or root._requires_grad):
        return
    if in_inference:
        if no_grad_at is None:
            no_grad_at = custom_at
    elif custom_at is not None and view._grad_fn is not None:
        raise GradientError(f"Output {view._output_nr} of {_stem(view._grad_fn.name())} is a "
                            "view and is being modified inplace." + _CUSTOM_FUNCTION_ADVICE)
    elif custom_at is not None:  # torch names no node where the view has none
        raise GradientError("A view was created in no_grad mode and is being modified "
                            "inplace with grad mode enabled." + _CUSTOM_FUNCTION_ADVICE)
    # torch names the view's node only where torch gave it one: a view of a no_grad
    # view made while nothing required grad has none (its base came to require it later)
    named = (view._requires_grad and view._acc is not THROUGH_BASE) or (
        view._view[4] and view._view[5])
    if no_grad_at is view or (no_grad_at is not None and not named):
        if in_inference:
            raise GradientError(inference.VIEW_INPLACE_ERROR)
        raise GradientError("A view was created in no_grad mode and is being modified "
                            "inplace with grad mode enabled." + _NO_GRAD_ADVICE)
    if no_grad_at is not None:
        op, k = view._view[1], view._view[3]
        first = f"Output {k or 0} of {_stem(op.grad_fn)} is a view of a view which was created"
        raise GradientError(first + (
            " in inference mode and is being modified inplace in normal mode."
            + inference.VIEW_ADVICE if in_inference else
            " in no_grad mode and is being modified inplace with grad mode enabled."
            + _NO_GRAD_ADVICE))
    if not multi_output and root._grad_fn is None and root._requires_grad:
        raise GradientError("a view of a leaf Variable that requires grad is being used "
                            "in an in-place operation.")


def in_custom_function(view) -> bool:
    """Is ``view`` a custom Function's view output, or a view of one? (NOTE [Custom
    Function views]; the nearest special creation along the chain is the one inherited)"""
    t = view
    while t._view is not None:
        made = t._view[4]
        if made is IN_CUSTOM_FUNCTION:
            return True
        if made is not True:
            return False
        t = t._view[0]
    return False


def _stem(name) -> str:
    """A node's name as torch's view messages show it: SliceBackward0 -> Slice."""
    name = name or ""
    return name[:name.rfind("Backward")] if "Backward" in name else name


def set_history(t, node, output_nr) -> None:
    """``t`` (modified in place) now comes out of ``node``."""
    old, old_nr = t._grad_fn, t._output_nr
    t._grad_fn = node
    t._output_nr = output_nr
    t._requires_grad = True
    graph.expose(node)  # what saved t (an older node) now leads to a newer one
    if t._retains_grad:
        _move_retained_grad(t, old, old_nr)


def _move_retained_grad(t, old, old_nr) -> None:
    """A retained grad follows the tensor to its new node, as in torch (hooks registered
    on the tensor stay with the old node, also as in torch)."""
    if old is not None and old.retains_grad_hooks:
        old.retains_grad_hooks.pop(old_nr, None)
    node = t._grad_fn
    if node.retains_grad_hooks is None:
        node.retains_grad_hooks = {}
    node.retains_grad_hooks[t._output_nr] = weakref.ref(t)


def own_saved_outputs(node, t) -> None:
    """The outputs ``node`` saved (``result``) are ``t`` now: they follow its version
    counter from here, so a later in-place change of ``t`` is caught (torch saves ``self``,
    the output of an in-place op, itself). A view's error then names its node now."""
    for s in (node.saved or {}).values():
        if type(s) is graph.SavedTensor and s.tensor is None:  # an output of node
            s.array = t.array
            s.version = t._version_counter
            s.saved_version = t._version_counter[0]
            if t._view is not None:
                # (None: node itself, which must not refer to itself through saved)
                s.producer_node = None if t._grad_fn is node else t._grad_fn
                s.output_nr = t._output_nr


def save_original_self(node, t) -> None:
    """An in-place op whose formula reads ``self`` saves a clone of the original (torch's
    ``original_self = self.clone()``): what it saved is about to be overwritten. Only
    ``self``: ``y.mul_(y)`` still saves ``other``, y itself, and its backward fails."""
    saved, op = node.saved, node.op
    if not saved or op is None:
        return
    name = op.params[0].name
    s = saved.get(name)
    if type(s) is graph.SavedTensor and s.tensor is t:
        saved[name] = graph.SavedTensor(table.F.clone(t))


# --------------------------------------------------------------------------- views' nodes

def regenerate(root) -> None:
    """Every live view of ``root`` (views of views included) gets AsStridedBackward0 onto
    the root's history, as torch's views do once their version counter moved; views of a
    root that does not require grad, and that had no node, stay without."""
    global _AS_STRIDED
    if table._grad_state.inference:  # nothing is recorded there (NOTE [inference tensors])
        return
    if _AS_STRIDED is None:
        _AS_STRIDED = table.ROWS["_as_strided_view"]
        graph.add_saved_attributes(_AS_STRIDED.node_class, _AS_STRIDED, _GEOMETRY)
    stack = [root]
    while stack:
        base = stack.pop()
        for ref in list(base._views or ()):
            view = ref()
            if view is None or view._view is None or view._view[0] is not base:
                continue
            stack.append(view)
            if view._grad_fn is None and not root._requires_grad:
                continue
            refusal = _refusal(view)
            if refusal is not None:
                view._grad_fn = RefusedView(view, refusal)
                view._output_nr = 0
                view._requires_grad = True
                continue
            old, old_nr = view._grad_fn, view._output_nr
            _, where = root_positions(view)
            node = _AS_STRIDED._record((root, where), (view,))
            graph.expose(node)  # as set_history: an existing tensor, a newer node
            node.attrs = {**node.attrs, **_geometry(view.array, root.array)}
            view._output_nr = 0
            if view._retains_grad:
                _move_retained_grad(view, old, old_nr)


_GEOMETRY = ("size", "stride", "storage_offset")  # _geometry's names


def _geometry(arr, root) -> dict:
    """What torch's AsStridedBackward0 keeps of the view (``_saved_size``, ``_saved_stride``,
    ``_saved_storage_offset``), in elements from the root's first one."""
    itemsize = arr.itemsize
    try:
        offset = (arr.__array_interface__["data"][0] - root.__array_interface__["data"][0])
    except AttributeError:  # CuPy
        offset = arr.data.ptr - root.data.ptr
    return {"size": tuple(arr.shape), "stride": tuple(st // itemsize for st in arr.strides),
            "storage_offset": offset // itemsize}


# --------------------------------------------------------------------------- refused views
# torch gives no new history to a view made in no_grad mode, or by a function returning
# several views (unbind, split, chunk...), once its base changed in place: asking for its
# grad_fn (requires_grad, is_leaf, using it in an op) raises (variable.cpp
# handle_view_on_rebase). Here the view's grad_fn raises when read, and a graph built on it
# when it is walked.

# NOTE [Custom Function views]: a custom Function's output that is a view (of an input,
# or an input returned as-is, which torch makes a view of it) is marked so, in the view's
# creation field (``_view[4]``, otherwise its grad mode: True, False, None for inference);
# so are views of it. An in-place op on one, or on its base once it has a node, is refused:
# the view+inplace rebase would replace the Function's own backward.
IN_CUSTOM_FUNCTION = "in custom Function"

_CUSTOM_FUNCTION_ADVICE = (
    " This view was created inside a custom Function (or because an input was returned "
    "as-is) and the autograd logic to handle view+inplace would override the custom backward "
    "associated with the custom Function, leading to incorrect gradients. This behavior is "
    "forbidden. You can fix this by cloning the output of the custom Function.")

_NO_GRAD_ADVICE = (" Given that this use case is ambiguous and error-prone, it is forbidden. "
                   "You can clarify your code by moving both the view and the inplace either "
                   "both inside the no_grad block (if you don't want the inplace to be "
                   "tracked) or both outside (if you want the inplace to be tracked).")


def _refusal(view):
    """torch's message for ``view`` once its base changed in place, or None."""
    _, op, _, k, made_in_grad_mode, _ = view._view
    t = view
    while t._view is not None and t._view[4] is True:  # a view of a special one inherits
        t = t._view[0]
    nearest = True if t._view is None else t._view[4]
    u = t
    while u._view is not None and u._view[4] is not None:  # inference mode wins over all
        u = u._view[0]
    if u._view is not None:  # NOTE [inference tensors]
        if made_in_grad_mode is not None and view._grad_fn is not None:
            return (f"Output {view._output_nr} of {_stem(view._grad_fn.name())} is a view of "
                    "a view which was created in inference mode and its base or another view "
                    "of its base has been modified inplace in normal mode."
                    + inference.VIEW_ADVICE)
        return inference.VIEW_REBASED_ERROR
    if nearest is IN_CUSTOM_FUNCTION:
        if view._grad_fn is not None:
            return (f"Output {view._output_nr} of {_stem(view._grad_fn.name())} is a view and "
                    "its base or another view of its base has been modified inplace."
                    + _CUSTOM_FUNCTION_ADVICE)
        return ("A view was created in no_grad mode and its base or another view of its base "
                "has been modified inplace with grad mode enabled." + _CUSTOM_FUNCTION_ADVICE)
    if not nearest:
        first = ("A view" if view._grad_fn is None or not made_in_grad_mode else
                 f"Output {view._output_nr} of {_stem(view._grad_fn.name())} is a view of a "
                 "view which")
        return (first + " was created in no_grad mode and its base or another view of its "
                "base has been modified inplace with grad mode enabled." + _NO_GRAD_ADVICE)
    t = view
    while t._view is not None and t._view[3] is None:
        t = t._view[0]
    if t._view is None:
        return None
    name = op.grad_fn or ""
    name = name[:name.rfind("Backward")] if "Backward" in name else name
    return (f"Output {k or 0} of {name} is a view and its base or another view of its base "
            "has been modified inplace. This view is the output of a function that returns "
            "multiple views. Such functions do not allow the output views to be modified "
            "inplace. You should replace the inplace operation by an out-of-place one.")


class RefusedView(Node):
    """The grad_fn of a view torch refuses to give a history (see above)."""

    _name = "RefusedView"

    def __init__(self, view, message):
        self.seq = next(graph.sequence_nrs)
        self.message = message
        self.next_functions = ()
        self.out_metas = ((view.array.shape, view.array.dtype),)

    def apply(self, grads, raw: bool):
        raise GradientError(self.message)
