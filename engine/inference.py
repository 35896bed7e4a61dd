"""Inference tensors: what ``torch.inference_mode`` makes.

NOTE [inference tensors]
torch's inference tensors have no version counter and no autograd metadata. Here an
inference tensor is one whose version counter is an ``InferenceVersion`` (a list, so code
that bumps counters works unchanged): every output of an op run in inference mode gets a
fresh one, and a view shares its base's counter, so a view of an inference tensor is one
too while a view of a normal tensor stays normal, as in torch. Outside inference mode:
- an op whose Tensor inputs are all inference tensors records nothing (torch skips the
  autograd kernel: only a normal input brings it);
- saving one for backward raises, and so does an in-place change of one, or asking one
  to require grad;
- a view made in inference mode of a normal tensor is refused a history, as one made in
  no_grad mode (engine/views.py), with inference mode's words.
"""

from __future__ import annotations

from . import grad_mode
from .errors import GradientError

SAVE_ERROR = ("Inference tensors cannot be saved for backward. Please do not use Tensors "
              "created in inference mode in computation tracked by autograd. To work around "
              "this, you can make a clone to get a normal tensor and use it in autograd, or "
              "use `torch.no_grad()` instead of `torch.inference_mode()`.")
INPLACE_ERROR = ("Inplace update to inference tensor outside InferenceMode is not allowed."
                 "You can make a clone to get a normal tensor before doing inplace update."
                 "See https://github.com/pytorch/rfcs/pull/17 for more details.")
VIEW_ADVICE = (" Given that this use case is ambiguous and error-prone, it is forbidden. You "
                "can clarify your code by moving both the view and the inplace either both "
                "inside the inference_mode block (if you don't want the inplace to be "
                "tracked) or both outside (if you want the inplace to be tracked).")
VIEW_INPLACE_ERROR = ("A view was created in inference mode and is being modified inplace in "
                      "normal mode." + VIEW_ADVICE)
VIEW_REBASED_ERROR = ("A view was created in inference mode and its base or another view of "
                      "its base has been modified inplace in normal mode." + VIEW_ADVICE)
REQUIRES_GRAD_ERROR = ("Setting requires_grad=True on inference tensor outside InferenceMode "
                       "is not allowed.")


class InferenceVersion(list):
    """The version counter of an inference tensor (see the note above)."""

    __slots__ = ()


def is_inference(t) -> bool:
    return type(t._version_counter) is InferenceVersion


def mark_output(t) -> None:
    """``t`` came out of an op run in inference mode: a new tensor is an inference tensor;
    a view of a normal tensor stays normal and, as torch's, requires grad as its base does
    (without a grad_fn)."""
    if t._view is None:
        t._version_counter = InferenceVersion([0])
    elif type(t._version_counter) is not InferenceVersion:
        t._requires_grad = t._view[0]._requires_grad


def is_inference_view(t) -> bool:
    """A view made in inference mode of a normal tensor: it requires grad as its base does
    without a grad_fn, and is not a leaf for in-place ops (views.py refuses it instead)."""
    return t._view is not None and t._view[4] is None


def mark(t) -> None:
    """``t`` (a new tensor, not a view) was made in inference mode."""
    t._version_counter = InferenceVersion([0])


def records(inputs) -> bool:
    """Outside inference mode, does an op on ``inputs`` ((position, Tensor) pairs) record?
    Only where some input is a normal tensor."""
    return any(type(t._version_counter) is not InferenceVersion for _, t in inputs)


def check_saved(t) -> None:
    if type(t._version_counter) is InferenceVersion:
        raise GradientError(SAVE_ERROR)


def check_inplace(t, result) -> None:
    """torch refuses an in-place change of an inference tensor outside inference mode
    after its kernel ran: the values are written, then the error raised."""
    if type(t._version_counter) is InferenceVersion and not grad_mode._state.inference:
        if t.array.flags.writeable and t.array.shape == result.array.shape:
            t.array[...] = result.array
        raise GradientError(INPLACE_ERROR)


def check_requires_grad(t, value) -> None:
    if value and type(t._version_counter) is InferenceVersion and not grad_mode._state.inference:
        raise GradientError(REQUIRES_GRAD_ERROR)
