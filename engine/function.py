"""torch.autograd.Function: user-defined forward/backward pairs.

As in torch, the node recorded for ``MyFn.apply(...)`` IS the ``ctx`` the user's forward and
backward see: ``y.grad_fn.saved_tensors`` works, the node class is named ``MyFnBackward``
(no overload index) and its next_functions hold one edge per Tensor argument, in order
(Python values get no edge). Saved tensors are ``SavedTensor``s in ``node.saved``, so they
are freed after a backward without ``retain_graph`` (torch's backward-twice error), checked
for in-place edits, and counted by ``saved_tensors_info``.
"""

from __future__ import annotations

import functools
import inspect
import warnings

from . import anomaly_mode, backend, forward_ad, grad_mode, views
from . import graph as _graph
from ._tensor import Tensor
from .errors import GradientError
from .ops.delayed_error import Error
from .ops.table import F

_ACCESSED = {}  # node.saved once a clear_saved_tensors_on_access Function's were read
_ACCESSED_ONCE = ("saved_tensors can only be accessed once when "
                  "clear_saved_tensors_on_access=True is set on the autograd.Function. Either "
                  "access saved_tensors only once, or set clear_saved_tensors_on_access=False.")


class FunctionCtx:
    """What ``forward(ctx, ...)`` and ``backward(ctx, ...)`` receive (mixed into the node)."""

    _to_save = None
    _jvp_saved = None  # while jvp runs: what saved_tensors gives there (save_for_forward's)
    _non_differentiable = ()
    _dirty = ()
    materialize_grads = True
    # torch's ctx._materialize_non_diff_grads: False leaves the gradients of the outputs
    # marked non-differentiable None in backward, where materialize_grads makes the rest 0s
    _materialize_non_diff_grads = True
    _unmaterialized = frozenset()  # those outputs' indices, when it is False
    needs_input_grad = ()

    def save_for_backward(self, *tensors) -> None:
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError("save_for_backward can only save variables, but argument "
                                f"{i} is of type {type(t).__name__}")
        self._to_save = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable = tuple(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors) -> None:
        """``tensors`` (inputs) were modified in place by forward and are returned: they
        come back as themselves, with this node as their history (NOTE [Dirty inputs])."""
        self._dirty = tensors

    def save_for_forward(self, *tensors) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise AssertionError("save_for_forward expects all arguments to be tensors; "
                                     "you should save non-tensors as attributes on ctx.")
        self.saved_for_forward = tensors

    @property
    def saved_tensors(self) -> tuple:
        if self._jvp_saved is not None:
            return self._jvp_saved
        if self.saved is None:
            raise _graph.GraphFreedError(self)
        if self.saved is _ACCESSED:
            raise GradientError(_ACCESSED_ONCE)
        items = self.saved.get("saved_tensors", ())
        out = tuple(None if s is None else s.unpack(False, self) for s in items)
        if getattr(self.function, "clear_saved_tensors_on_access", False):
            self.saved = _ACCESSED
        return out

    @property
    def saved_variables(self) -> tuple:
        warnings.warn("'saved_variables' is deprecated; use 'saved_tensors'",
                      DeprecationWarning, stacklevel=2)
        return self.saved_tensors


class FunctionNode(FunctionCtx, _graph.Node):
    """Base of every ``<Name>Backward`` class."""

    function = None  # the Function subclass

    array_module = None  # the outputs' (NumPy or CuPy): where zeros for a gradient go

    def apply(self, grads, raw: bool):
        # torch calls backward even when no output got a gradient (a hook or a node below
        # returned None): with zeros for them all, or Nones without materialize_grads
        if self.materialize_grads:
            # (a non-Tensor output, dtype None, has no gradient to make: None, as torch)
            skip = self._unmaterialized
            grads = [g if g is not None or meta[1] is None or i in skip
                     else self._zeros(meta, raw)
                     for i, (g, meta) in enumerate(zip(grads, self.out_metas))]
        wrapped = [None if g is None else (Tensor._make(g) if raw else g) for g in grads]
        result = self.function._backward_fn()(self, *wrapped)
        if not isinstance(result, tuple):
            result = (result,)
        if len(result) != len(self.arg_is_tensor):
            # torch allows trailing Nones beyond the inputs; anything else is an error
            extra = result[len(self.arg_is_tensor):]
            if len(result) < len(self.arg_is_tensor) or any(r is not None for r in extra):
                raise GradientError(f"function {self.name()} returned an incorrect number of "
                                    f"gradients (expected {len(self.arg_is_tensor)}, got "
                                    f"{len(result)})", self)
        out = []
        for g, is_tensor in zip(result, self.arg_is_tensor):
            if not is_tensor:
                continue
            if g is not None and not isinstance(g, Tensor):
                raise TypeError(f"expected Tensor or None as gradient, got "
                                f"{type(g).__name__}")
            out.append(None if g is None else (g.array if raw else g))
        return out

    def _zeros(self, meta, raw: bool):
        arr = self.array_module.zeros(meta[0], dtype=meta[1])
        return arr if raw else Tensor._make(arr)


def _next_seq() -> int:
    return next(_graph.sequence_nrs)


class FunctionMeta(type):
    """Gives each Function subclass its node class, named ``<Name>Backward``."""

    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        node_cls = type(f"{name}Backward", (FunctionNode,),
                        {"_name": f"{name}Backward", "function": cls})
        node_cls.__module__ = "engine.function"
        cls._backward_cls = node_cls


class Function(metaclass=FunctionMeta):
    """Subclass with ``@staticmethod forward(ctx, *args)`` and ``backward(ctx, *grads)``;
    call ``MyFn.apply(*args)``."""

    def __init__(self, *args, **kwargs):
        warnings.warn(f"{type(self)} should not be instantiated. Methods on autograd "
                      "functions are all static, so you should invoke them on the class "
                      "itself. Instantiating an autograd function will raise an error in a "
                      "future version of PyTorch.", DeprecationWarning, stacklevel=2)

    def __call__(self, *args, **kwargs):
        raise GradientError("Legacy autograd function with non-static forward method is "
                            "deprecated. Please use new-style autograd function with static "
                            "forward method. (Example: https://pytorch.org/docs/stable/"
                            "autograd.html#torch.autograd.Function)")

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward "
                                  "mode AD.")

    @staticmethod
    def jvp(ctx, *tangents):
        raise NotImplementedError("You must implement the jvp function for custom "
                                  "autograd.Function to use it with forward mode AD.")

    # vjp and backward are one method under two names: a Function implements one of them
    vjp = backward

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    # torch.func's vmap of a Function is not modelled; the names torch's Function has for
    # it are, and vmap refuses as torch's default does
    generate_vmap_rule = False

    @staticmethod
    def vmap(info, in_dims, *args):
        raise NotImplementedError("To use autograd.Function with vmap, you must either "
                                  "override the vmap staticmethod or set "
                                  "generate_vmap_rule=True.")

    @classmethod
    def _backward_fn(cls):
        has_backward, has_vjp = cls.backward is not Function.backward, cls.vjp is not Function.vjp
        if has_backward and has_vjp:
            raise GradientError("Implementing both 'backward' and 'vjp' for a custom Function "
                                "is not allowed. You should only implement one of them.")
        return cls.vjp if has_vjp else cls.backward

    @classmethod
    def apply(cls, *args, **kwargs):
        if cls.setup_context is not Function.setup_context:  # forward without ctx
            return _apply_with_setup_context(cls, args, kwargs)
        if kwargs:
            args = args + tuple(kwargs.values())
        return cls._apply(args, lambda node: cls.forward(node, *args))

    @classmethod
    def _apply(cls, args, run_forward):
        """``run_forward(ctx)`` computes the outputs (under no_grad); the node records."""
        is_tensor = tuple(isinstance(a, Tensor) for a in args)
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = grad_mode.is_grad_enabled() and any(needs)
        node = cls._backward_cls()
        node.needs_input_grad = needs if record else tuple(False for _ in args)
        node.arg_is_tensor = is_tensor
        tangents = forward_ad.function_input_tangents(args)
        with grad_mode.no_grad(), forward_ad.paused():  # (its ops carry no tangents)
            raw_out = run_forward(node)
        single = not isinstance(raw_out, tuple)
        outs = (raw_out,) if single else raw_out
        inputs_by_id = {id(a): a for a in args if isinstance(a, Tensor)}
        dirty = _check_dirty(node._dirty, outs, inputs_by_id)
        fresh = []
        nondiff = set(node._non_differentiable)  # (ids)
        for o in outs:
            modified = id(o) in dirty
            if isinstance(o, Tensor) and id(o) in inputs_by_id:
                o = _input_returned(o, modified, record and id(o) not in nondiff
                                    and o.array.dtype.kind in "fc")
            if isinstance(o, Tensor) and o._view is not None and not modified:
                # NOTE [Custom Function views]
                o._view = (*o._view[:4], views.IN_CUSTOM_FUNCTION, o._view[5])
            fresh.append(o)
        node._dirty = ()
        if tangents is not None:
            _forward_tangents(cls, node, args, tangents, fresh, outs, dirty)
        if not record:
            node._to_save = None
            return fresh[0] if single else tuple(fresh)
        node.seq = _next_seq()
        if anomaly_mode.enabled:
            _graph.record_forward_trace(node)
        node.next_functions = tuple(a._edge() if a.requires_grad else (None, 0)
                                    for a in args if isinstance(a, Tensor))
        node.metas = tuple((a.array.shape, a.array.dtype)
                           for a in args if isinstance(a, Tensor))
        node.out_metas = tuple((o.array.shape, o.array.dtype) if isinstance(o, Tensor)
                               else ((), None) for o in fresh)
        node.array_module = next((backend.module_of(o.array) for o in fresh
                                  if isinstance(o, Tensor)), None)
        originals = (raw_out,) if single else raw_out
        if not node._materialize_non_diff_grads:
            node._unmaterialized = frozenset(nr for nr, orig in enumerate(originals)
                                             if id(orig) in nondiff)
        if dirty and len(fresh) > 1 and any(
                id(o) in dirty and o._view is not None and id(orig) not in nondiff
                and o.array.dtype.kind in "fc" for o, orig in zip(fresh, originals)):
            raise GradientError(_DIRTY_VIEW_OF_MANY)
        for nr, (o, orig) in enumerate(zip(fresh, originals)):
            if isinstance(o, Tensor) and id(orig) not in nondiff and o.array.dtype.kind in "fc":
                if id(o) in dirty:
                    _rebase_dirty(o, node, nr)
                else:
                    o._set_history(node, nr)
        node.saved = {"saved_tensors": _save(node, node._to_save or (), fresh, originals)}
        node._to_save = None
        return fresh[0] if single else tuple(fresh)


def _input_returned(o, modified, differentiable):
    """What the caller gets for an input a Function's forward returned, as torch
    (_wrap_outputs): a modified (dirty) one itself, else a view of it; where the output
    gets no node, an input that requires grad comes back detached instead."""
    if not differentiable and o.requires_grad:
        return o.detach()
    if modified:
        return o
    with grad_mode.no_grad(), forward_ad.paused():
        return F.alias(o)


def _forward_tangents(cls, node, args, tangents, fresh, outs, dirty) -> None:
    """Forward AD through a custom Function: its jvp's results become the outputs'
    tangents, checked as torch checks them."""
    input_tangents = {id(a): t for a, t in zip(args, tangents) if isinstance(a, Tensor)}
    # a dirty input's own tangent (not the zeros made for one without) and its version:
    # the jvp must modify it in place and return it
    own = {id(a): (t, t._version_counter[0]) for a, t in zip(args, tangents)
           if id(a) in dirty and forward_ad.current_tangent(a) is not None}
    # in jvp, saved_tensors are the ones saved for forward (none without save_for_forward)
    node._jvp_saved = tuple(getattr(node, "saved_for_forward", ()))
    try:
        with grad_mode.no_grad(), forward_ad.paused():
            result = cls.jvp(node, *tangents)
    finally:
        node._jvp_saved = None
    result = result if isinstance(result, tuple) else (result,)
    nondiff = set(node._non_differentiable)
    for i, (o, orig, t) in enumerate(zip(fresh, outs, result)):
        if t is None:
            continue
        if not (isinstance(o, Tensor) and o.dtype.is_floating_point
                and id(orig) not in nondiff):
            raise GradientError(f"Function's jvp returned a gradient at position {i}, but  "
                                "the corresponding forward output is not a differentiable "
                                "Tensor.You should return None at that position instead.")
        if id(orig) in own:
            _check_dirty_tangent(t, *own[id(orig)])
        given = None if id(orig) in dirty else input_tangents.get(id(orig))
        # an input returned as-is: torch wants a view of the input's tangent (a tensor
        # whose base is that tangent's base), never the tangent object itself
        if given is not None and (t._view is None
                                  or views.root_of(t) is not views.root_of(given)):
            raise GradientError("A custom Function's forward is returning a view (or an "
                                "input as-is) but the jvp is not returning a view.")
        if given is None and id(orig) not in dirty and o._view is not None:
            _check_view_tangent(o, t, args, input_tangents)
        forward_ad.set_tangent(o, t)


def _check_view_tangent(out, t, args, input_tangents) -> None:
    """An output that is a view of an input (of the same base as it): torch wants the jvp's
    tangent to be a view too, of the input's tangent (of its base, where that tangent is
    itself a view)."""
    root = views.root_of(out)
    for a in args:
        if isinstance(a, Tensor) and views.root_of(a) is root:
            given = input_tangents[id(a)]
            break
    else:
        return
    if t._view is None:
        raise GradientError("A custom Function's forward is returning a view (or an input "
                            "as-is) but the jvp is not returning a view.")
    if given._view is not None:
        if views.root_of(t) is not views.root_of(given):
            raise GradientError("A custom Function is returning a view but the jvp is not "
                                "returning a view of the same base as the given grad input.")
    elif views.root_of(t) is not given:
        raise GradientError("A custom Function is returning a view but the jvp is not "
                            "returning a view of the given grad input.")


def _check_dirty_tangent(returned, own, version_before) -> None:
    # (torch reads the version of what the jvp returned, against the tangent's before)
    if returned._version_counter[0] == version_before:
        raise GradientError("An inplace custom Function is not modifying the forward mode "
                            "gradients inplace. If the forward is modifying an input "
                            "inplace, then the jvp function must modify the corresponding "
                            "gradient inplace.")
    if returned is not own:
        raise GradientError("An inplace custom Function is not returning the forward mode "
                            "gradients as-is. If the forward is modifying an input inplace, "
                            "then the jvp function must modify the gradient inplace and "
                            "return it as-is.")


def _apply_with_setup_context(cls, args, kwargs):
    """The setup_context style: ``forward(*inputs)`` computes, then ``setup_context(ctx,
    inputs, output)`` saves; ``inputs`` holds every argument of forward, defaults
    included, in forward's order (as torch binds them)."""
    bound = inspect.signature(cls.forward).bind(*args, **kwargs)
    bound.apply_defaults()
    inputs = tuple(bound.arguments.values())

    def run_forward(ctx):
        output = cls.forward(*inputs)
        cls.setup_context(ctx, inputs, output)
        return output

    return cls._apply(inputs, run_forward)


class InplaceFunction(Function):
    """torch.autograd.function.InplaceFunction: kept for old code, as torch keeps it."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace


# NOTE [Dirty inputs]: an input a Function's forward modified in place (ctx.mark_dirty) is
# returned as itself, as an in-place op's result: its version counter moves once more, it
# is refused when it is a leaf that requires grad, and with grad mode on its history
# becomes the Function's node, through CopySlices on its base when it is a view
# (engine/views.py). torch, like the engine, takes the node's first input to be the one
# the view stands for there.

_DIRTY_VIEW_OF_MANY = (
    "If your Function modifies inplace an input that is a view of another Tensor, your "
    "Function cannot return more than one Tensor. This is not supported by the current "
    "autograd engine. You should either make sure the input is not a view (using .clone() "
    "for example) or make your Function only return one Tensor (potentially splitting it "
    "into two Functions: one doing the inplace that returns a single Tensor and a second one "
    "that does the other operations). You can ask on the forum https://discuss.pytorch.org/ "
    "if you need help to do this change.")


def _check_dirty(dirty, outs, inputs_by_id) -> set:
    """The ids of the dirty inputs, each checked and its version counter moved (one that
    is not an input is warned about, as torch does, and treated as the others)."""
    if not dirty:
        return set()
    if any(id(t) not in inputs_by_id for t in dirty):
        warnings.warn("ctx.mark_dirty() received a tensor that was not an input. Only input "
                      "Tensors that have been mutated should be passed to ctx.mark_dirty().",
                      UserWarning, stacklevel=4)
    returned = {id(o) for o in outs}
    if any(id(t) not in returned for t in dirty):
        raise GradientError("Some elements marked as dirty during the forward method were not "
                            "returned as output. The inputs that are modified inplace must all "
                            "be outputs of the Function.")
    for t in dirty:
        if grad_mode.is_grad_enabled() and t._grad_fn is None and t._requires_grad:
            raise GradientError("a leaf Variable that requires grad has been used in an "
                                "in-place operation.")
        t._version_counter[0] += 1
    return {id(t) for t in dirty}


def _rebase_dirty(t, node, nr) -> None:
    """``t``, modified in place by the Function, now comes out of ``node``."""
    if t._view is not None:
        views.rebase_history(t, Tensor._make_with_history(t.array, node, nr),
                             bump_version=False)
        return
    views.set_history(t, node, nr)
    if t._views:
        views.regenerate(t)


def _save(node, tensors, outs, originals) -> list:
    """Inputs are kept as they are; an output is saved as the node's output (no cycle)."""
    out_nr = {id(orig): nr for nr, orig in enumerate(originals)}
    saved = []
    for t in tensors:
        if t is None:
            saved.append(None)
        elif id(t) in out_nr and outs[out_nr[id(t)]].grad_fn is node:
            nr = out_nr[id(t)]
            saved.append(_graph.SavedTensor(outs[nr], output_nr=nr))
        else:
            saved.append(_graph.SavedTensor(t))
    return saved


def once_differentiable(fn):
    """Runs ``backward`` without recording; under create_graph its results lead to
    an Error node, so a second differentiation raises torch's error."""

    @functools.wraps(fn)
    def wrapper(ctx, *grads):
        with grad_mode.no_grad():
            result = fn(ctx, *grads)
        if not grad_mode.is_grad_enabled():
            return result
        if not any(isinstance(g, Tensor) and g.requires_grad for g in grads):
            return result
        single = not isinstance(result, tuple)
        items = (result,) if single else result
        # as torch: one Error node, its inputs the results detached into fresh leaves that
        # require grad (so that the node's outputs have a history at all)
        leaves = [None if r is None else r.detach().requires_grad_(True) for r in items]
        node = Error()
        node.seq = _next_seq()
        node.next_functions = tuple((None, 0) if x is None else x._edge() for x in leaves)
        node.metas = node.out_metas = tuple(
            ((), None) if x is None else (x.array.shape, x.array.dtype) for x in leaves)
        wrapped = tuple(None if x is None else Tensor._make_with_history(x.array, node, i)
                        for i, x in enumerate(leaves))
        return wrapped[0] if single else wrapped

    return wrapper

