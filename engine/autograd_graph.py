"""torch.autograd.graph: saved-tensor hooks, gradient edges, multi-tensor grad hooks,
allow_mutation_on_saved_tensors."""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import NamedTuple

from . import backend, engine, saved_hooks
from .errors import GradientError
from .graph import Node, RemovableHandle
from .saved_hooks import disable_saved_tensors_hooks, save_on_cpu, saved_tensors_hooks

__all__ = ["Node", "GradientEdge", "get_gradient_edge", "increment_version",
           "register_multi_grad_hook", "saved_tensors_hooks", "disable_saved_tensors_hooks",
           "save_on_cpu", "allow_mutation_on_saved_tensors"]


class GradientEdge(NamedTuple):
    """Where the gradient of a tensor is computed: (node, output_nr); backward() and grad()
    take one wherever they take a tensor."""

    node: Node
    output_nr: int
    ownership_token: Node | None = None


def get_gradient_edge(tensor) -> GradientEdge:
    if not tensor.requires_grad:
        raise GradientError("It is not possible to get the gradient edge for a Tensor that "
                            "does not require gradients")
    node, nr = tensor._edge()
    return GradientEdge(node, nr)


def increment_version(tensor) -> None:
    """Mark ``tensor`` (or each of a list) as changed in place; inference tensors have no
    counter to bump."""
    for t in (tensor,) if hasattr(tensor, "_version_counter") else tensor:
        t._version_counter[0] += 1


class _MultiHandle:
    def __init__(self, handles):
        self.handles = handles

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def register_multi_grad_hook(tensors, fn, *, mode: str = "all") -> _MultiHandle:
    """``mode="all"``: ``fn(grads)`` once every tensor of ``tensors`` the running backward
    reaches has its gradient (None for the others); ``"any"``: ``fn(grad)`` with the first.
    Each backward counts on its own."""
    if mode not in ("all", "any"):
        raise ValueError(f"Expects mode to be one of ('all', 'any') but got {mode}")
    lock = threading.Lock()
    if mode == "any":
        fired = set()

        def any_hook(grad):
            task = engine.current_graph_task_id()
            with lock:
                if task in fired:
                    return
                fired.add(task)
            fn(grad)

        return _MultiHandle(tuple(t.register_hook(any_hook) for t in tensors
                                  if t.requires_grad))
    nodes = [t._edge()[0] for t in tensors]
    counts, buffers, expected = {}, {}, {}

    def hook_for(i):
        def all_hook(grad):
            task = engine.current_graph_task_id()
            with lock:
                if task not in counts:
                    counts[task] = 0
                    buffers[task] = [None] * len(tensors)
                    expected[task] = sum(map(engine.will_engine_execute_node, nodes))
                buffers[task][i] = grad
                counts[task] += 1
                done = counts[task] == expected[task]
                if done:
                    grads = buffers.pop(task)
                    del counts[task], expected[task]
            if done:
                fn(grads)
        return all_hook

    return _MultiHandle(tuple(t.register_hook(hook_for(i)) for i, t in enumerate(tensors)))


# -- allow_mutation_on_saved_tensors

_MUTATION_BACKWARD_ERROR = ("Trying to backward outside of the 'allow_mutation_on_saved_tensors'"
                            " contextin which the graph was originally recorded.")


class _Handle:
    """What a saved tensor keeps under allow_mutation_on_saved_tensors."""


class _AllowMutationOnSavedContext:
    """Saved tensors by handle (``original``), their clones once their memory was about to
    change in place (``cloned``), and the handles by (memory, version)."""

    def __init__(self):
        self.original = weakref.WeakKeyDictionary()
        self.cloned = weakref.WeakKeyDictionary()
        # (id(tensor), memory, version) -> handle; (memory, version) -> those keys
        self.tid_to_weakhandle = weakref.WeakValueDictionary()
        self.sid_to_tid: dict[tuple, set] = {}

    def clear(self) -> None:
        self.original.clear()
        self.cloned.clear()
        self.tid_to_weakhandle.clear()
        self.sid_to_tid.clear()

    def pack(self, t) -> _Handle:
        memory = (id(backend.root_array(t.array)), t._version_counter[0])
        key = (id(t), *memory)
        self.sid_to_tid.setdefault(memory, set()).add(key)
        handle = self.tid_to_weakhandle.get(key)
        if handle is None:  # the same tensor at the same version saved again: one handle
            handle = self.tid_to_weakhandle[key] = _Handle()
            self.original[handle] = t
        return handle

    def unpack(self, handle):
        if not _mutation_enabled:
            raise AssertionError(_MUTATION_BACKWARD_ERROR)
        if handle in self.cloned:
            return self.cloned[handle]
        if handle not in self.original:
            raise AssertionError(_MUTATION_BACKWARD_ERROR)
        return self.original[handle]

    def before_mutation(self, t) -> None:
        """``t`` is about to change in place: every saved tensor on its memory, at its
        version, is cloned first, so the backward reads what was saved."""
        for key in self.sid_to_tid.get((id(backend.root_array(t.array)), t._version_counter[0]), ()):
            handle = self.tid_to_weakhandle.get(key)
            if handle is None or handle in self.cloned:
                continue
            original = self.original.pop(handle)
            self.cloned[handle] = type(original)._make(original.array.copy())



_mutation_enabled = False


@contextlib.contextmanager
def allow_mutation_on_saved_tensors():
    """Tensors saved for backward inside may be changed in place: the saved value is cloned
    before the change (the backward must run inside the same block)."""
    global _mutation_enabled
    ctx = _AllowMutationOnSavedContext()
    with saved_tensors_hooks(ctx.pack, ctx.unpack):
        if _mutation_enabled:
            raise GradientError("allow_mutation_on_saved_tensors contexts cannot be nested")
        _mutation_enabled = True
        saved_hooks.before_mutation = ctx.before_mutation
        try:
            yield ctx
        finally:
            ctx.clear()
            _mutation_enabled = False
            saved_hooks.before_mutation = None


__all__ += ["RemovableHandle"]
