"""torch's DelayedError: the ``Error`` node a gradient comes out of where torch will not
differentiate it again (a once_differentiable backward under create_graph, a derivative
that torch gives no second order); differentiating through it raises. Below Function and
the op rows (scatter_reduce's prod) that use it."""

from __future__ import annotations

from .. import graph as _graph
from ..errors import GradientError
from . import table

ONCE_DIFFERENTIABLE = ("trying to differentiate twice a function that was marked with "
                       "@once_differentiable")


class Error(_graph.Node):
    """torch's DelayedError node (shown as ``Error``); its backward raises ``message``."""

    _name = "torch::autograd::Error"
    message = ONCE_DIFFERENTIABLE

    def apply(self, grads, raw: bool):
        raise GradientError(self.message, self)


def delayed_error(t, message: str):
    """torch's DelayedError(message) applied to ``t`` (a gradient computed under
    create_graph that torch will not differentiate again): ``t``'s values behind an Error
    node whose edge is ``t``'s history; differentiating through it raises ``message``."""
    node = Error()
    node.message = message
    node.seq = next(_graph.sequence_nrs)
    node.next_functions = (t._edge(),)
    node.metas = node.out_metas = ((t.array.shape, t.array.dtype),)
    return table._Tensor._make_with_history(t.array, node, 0)
