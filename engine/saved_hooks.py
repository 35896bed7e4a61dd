"""Hooks on saved tensors: torch.autograd.graph.saved_tensors_hooks and the per-node
``grad_fn._raw_saved_<name>.register_hooks``.

NOTE [saved tensor hooks]
While ``saved_tensors_hooks(pack, unpack)`` is open (innermost wins, per thread), every
tensor a node saves is handed to ``pack`` when saved and only what pack returns is kept;
``unpack(packed)`` must give a Tensor back each time the value is read (backward,
``grad_fn._saved_<name>``, ``ctx.saved_tensors``). As in torch, the value then has the
original's autograd identity (an input: its grad_fn, or its leaf's AccumulateGrad; an
output: the saving node) and no in-place check is made (the hooks own the value). A pack
hook that changes its input in place is refused.
"""

from __future__ import annotations

import threading

from . import grad_mode
from .errors import GradientError

PACK_INPLACE_ERROR = (
    "A saved tensor pack hook is modifying its input in place. Tensors provided as input to "
    "pack hook cannot be modified by in-place operations as this can lead to unexpected "
    "side-effects. Please open an issue if you need to perform in-place operations on the "
    "input to a pack hook.")


class _Stack(threading.local):
    hooks = ()  # (pack, unpack) pairs, innermost last
    disabled = None  # the error message while disable_saved_tensors_hooks is open
    # (self, clone) while an in-place variant (x.sin_()) computes: what it saves of self is
    # torch's ``original_self = self.clone()``, so pack sees that clone, not self
    inplace_self = None


_tls = _Stack()
# how many hook contexts are open across all threads: saving reads only this module global
# when none is (the common case), not the thread-local stack
active = 0
# allow_mutation_on_saved_tensors's check, called with a tensor about to change in place
before_mutation = None


def current():
    """The innermost (pack, unpack) of this thread, or None."""
    hooks = _tls.hooks
    return hooks[-1] if hooks else None


def stack():
    """This thread's (pack, unpack) pairs, as a value ``restore`` takes back."""
    return _tls.hooks


def restore(hooks) -> None:
    """Put back a stack taken by ``stack()``: torch runs a backward under the thread state
    it had when the backward began, so hooks contexts entered or left inside it (from an
    unpack hook, say) do not outlive it."""
    global active
    active += len(hooks) - len(_tls.hooks)
    _tls.hooks = hooks


def inplace_self(t, clone) -> None:
    """An in-place variant of ``t`` is about to compute (None: it is done): the first save
    of ``t`` packs ``clone(t)`` instead (see ``_Stack.inplace_self``)."""
    _tls.inplace_self = None if t is None else (t, clone)


def original(t):
    """What a hooked save of ``t`` packs: ``t``, or the clone of an in-place variant's self."""
    swap = _tls.inplace_self
    if swap is not None and swap[0] is t:
        _tls.inplace_self = None
        return swap[1](t)
    return t


def pack(t, hooks):
    """Run ``hooks``' pack on ``t`` (with grad mode off, as torch runs it); what the saved
    value keeps."""
    version = t._version_counter[0]
    with grad_mode.no_grad():
        packed = hooks[0](t)
    if t._version_counter[0] != version:
        raise GradientError(PACK_INPLACE_ERROR)
    return packed


def unpack(unpack_hook, packed):
    """The Tensor ``unpack_hook`` gives back for ``packed``, checked as torch does."""
    out = unpack_hook(packed)
    if not hasattr(out, "_grad_fn") or not hasattr(out, "array"):
        raise TypeError("Output of saved tensor unpack_hook expected to be a Tensor but got "
                        f"result of type {type(out).__name__}")
    return out


class saved_tensors_hooks:
    """``with saved_tensors_hooks(pack_hook, unpack_hook):`` see the note above."""

    def __init__(self, pack_hook, unpack_hook):
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self):
        global active
        if _tls.disabled is not None:
            raise GradientError(_tls.disabled)
        _tls.hooks = (*_tls.hooks, (self.pack_hook, self.unpack_hook))
        active += 1
        return self

    def __exit__(self, *exc):
        global active
        _tls.hooks = _tls.hooks[:-1]
        active -= 1
        return False


class disable_saved_tensors_hooks:
    """Opening saved_tensors_hooks inside raises ``error_message``."""

    def __init__(self, error_message: str):
        self.error_message = error_message

    def __enter__(self):
        self._prev = _tls.disabled
        _tls.disabled = self.error_message
        return self

    def __exit__(self, *exc):
        _tls.disabled = self._prev
        return False


class save_on_cpu(saved_tensors_hooks):
    """Saved tensors are kept on the CPU and moved back to their device when unpacked."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda"):
        def pack_to_cpu(t):
            return t.device, t.detach().clone().cpu()  # a copy, as torch's

        def unpack_from_cpu(packed):
            device, t = packed
            return t.to(device=device)

        super().__init__(pack_to_cpu, unpack_from_cpu)
