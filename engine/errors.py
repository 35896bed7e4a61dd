"""The engine's exceptions, carrying torch 2.13's message texts.

The service maps each class to an HTTP status, so the tree is small and stable:
AutogradError
  GradientError        misuse of backward/grad (422)
    GraphFreedError    saved tensors already freed (409)
    InplaceError       a saved tensor was modified in place (409)
  OpError              bad arguments to an op: shapes, dtypes, indices (422)
    BroadcastError     shapes that do not broadcast
    ArgumentTypeError  an argument of the wrong type (a TypeError too, as torch's)
  DerivativeNotImplemented   no VJP for an op input (422)
"""

ERR_BACKWARD_TWICE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)

NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
    "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
    "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
    "instead. See github.com/pytorch/pytorch/pull/30531 for more information."
)

OVERLAP_ERROR = (
    "unsupported operation: more than one element of the written-to tensor refers to a single "
    "memory location. Please clone() the tensor before performing the operation."
)

CREATE_GRAPH_WARNING = (
    "Using backward() with create_graph=True will create a reference cycle between the "
    "parameter and its gradient which can cause a memory leak. We recommend using "
    "autograd.grad when creating the graph to avoid this. If you have to use this function, "
    "make sure to reset the .grad fields of your parameters to None after use to break the "
    "cycle and avoid the leak."
)


class AutogradError(RuntimeError):
    """Base of every error the engine raises on purpose.

    ``node`` is the graph node the error concerns, where there is one, so that callers
    (the service) can report which operation failed, not only why.
    """

    def __init__(self, message: str, node=None):
        super().__init__(message)
        self.node = node


class GradientError(AutogradError):
    """backward()/grad() called in a way torch refuses."""


class GraphFreedError(GradientError):
    def __init__(self, node=None):
        super().__init__(ERR_BACKWARD_TWICE, node)


class InplaceError(GradientError):
    """A tensor saved for backward was modified in place after it was saved."""


class OpError(AutogradError, ValueError):
    """An op was called with arguments torch refuses (shapes, dtypes, indices, types)."""


class BroadcastError(OpError):
    pass


class IndexOpError(OpError, IndexError):
    """torch raises IndexError for these (indices and dims out of range)."""


class IndexTypeError(OpError, TypeError):
    """torch raises TypeError for these (bad Python index objects)."""


class ArgumentTypeError(OpError, TypeError):
    """torch raises TypeError for these: an argument of the wrong type ("type_as(): argument
    'other' (position 1) must be Tensor, not int"). ``method_text``: the text when the op was
    called as a Tensor method, where torch counts positions after self."""

    def __init__(self, text: str, method_text: str | None = None):
        super().__init__(text)
        self.method_text = method_text


class KernelNotImplemented(OpError, NotImplementedError):
    """torch raises NotImplementedError for these: its kernel has no loop for the dtype
    ('"floor_vml_cpu" not implemented for 'Bool'')."""


class DerivativeNotImplemented(AutogradError):
    pass


class AnomalyError(GradientError):
    """Anomaly mode saw a NaN produced by a backward function."""
