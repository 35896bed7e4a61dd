"""torch.autograd's entry points: backward(), grad(), grad modes, anomaly mode.

torch.autograd's other names (functional, Function, gradcheck, forward_ad) are modules
above this one, which use backward() and grad(): engine/__init__.py binds them here (see
NOTE [Upward bindings] there)."""

from __future__ import annotations

import warnings

import numpy as np

from . import anomaly_mode as _anomaly
from . import engine as _engine
from . import grad_mode  # noqa: F401  (torch.autograd.grad_mode)
from ._tensor import Size, Tensor
from .autograd_graph import GradientEdge
from .errors import GradientError
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    is_multithreading_enabled,
    no_grad,
    set_grad_enabled,
    set_multithreading_enabled,
)
from .graph import AccumulateGrad
from .graph import RawSavedTensor as SavedTensor  # noqa: F401  (torch.autograd.SavedTensor)
from .ops.table import F

__all__ = ["backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "inference_mode", "is_inference_mode_enabled",
           "set_multithreading_enabled", "is_multithreading_enabled", "detect_anomaly",
           "set_detect_anomaly", "functional", "Variable"]


def _as_tuple(value) -> tuple:
    if isinstance(value, (Tensor, GradientEdge)):
        return (value,)
    return tuple(value)


def _grads_tuple(grads, n: int) -> tuple:
    """torch's _tensor_or_tensors_to_tuple."""
    if grads is None:
        return (None,) * n
    if isinstance(grads, Tensor):
        return (grads,)
    return tuple(grads)


def _make_grads(outputs, grads, is_grads_batched=False) -> list:
    """The seeds of a backward: checked, and ones for one-element roots (torch's rules)."""
    new = []
    for i, (out, g) in enumerate(zip(outputs, grads)):
        if isinstance(g, Tensor):
            first = g if not is_grads_batched else Tensor._make(g.array[0])
            if first.shape != out.shape:
                if is_grads_batched:
                    raise GradientError(
                        "If `is_grads_batched=True`, we interpret the first dimension of each "
                        "grad_output as the batch dimension. The sizes of the remaining "
                        "dimensions are expected to match the shape of corresponding output, "
                        f"but a mismatch was detected: grad_output[{i}] has a shape of "
                        # torch 2.13 prints the seed's shape without its first two dims
                        f"{Size(g.shape[2:])!r} and output[{i}] has a shape of "
                        f"{Size(out.shape)!r}. If you only want some tensors in `grad_output` "
                        "to be considered batched, consider using vmap.")
                raise GradientError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                    f"{g.shape!r} and output[{i}] has a shape of "
                                    f"{out.shape!r}.")
            new.append(g)
        elif g is None:
            if out.requires_grad:
                if out.numel() != 1:
                    raise GradientError("grad can be implicitly created only for scalar "
                                        "outputs")
                seed = out.array.copy()  # ones_like, without its wrapper's ~0.7 us
                seed.fill(1)
                new.append(Tensor._make(seed))
            else:
                new.append(None)
        else:
            raise TypeError(f"gradients can be either Tensors or None, but got "
                            f"{type(g).__name__}")
    return new


def _edge_outputs(outputs) -> tuple:
    """GradientEdge outputs as stand-in tensors: no values, the edge's shape and history."""
    return tuple(_edge_output(o) if isinstance(o, GradientEdge) else o for o in outputs)


def _edge_output(edge) -> Tensor:
    node, nr = edge.node, edge.output_nr
    shape, np_dtype = node.metas[0] if isinstance(node, AccumulateGrad) else node.out_metas[nr]
    values = np.broadcast_to(np.zeros((), dtype=np_dtype), shape)  # (allocates nothing)
    return Tensor._make_with_history(values, node, nr)


def _root_edges(tensors) -> list:
    edges = []
    for i, t in enumerate(tensors):
        if not t.requires_grad:
            raise GradientError(f"element {i} of tensors does not require grad and does not "
                                "have a grad_fn")
        edges.append(t._edge())
    return edges


def _input_edges(inputs) -> list:
    edges = []
    for t in inputs:
        if isinstance(t, GradientEdge):
            edges.append((t.node, t.output_nr))
            continue
        if not isinstance(t, Tensor):
            raise GradientError("all inputs have to be Tensors or GradientEdges, but got "
                                f"{type(t).__name__}")
        if not t.requires_grad:
            raise GradientError("One of the differentiated Tensors does not require grad")
        edges.append(t._edge())
    return edges


def _check_lengths(tensors, grads):
    if len(tensors) != len(grads):
        raise GradientError(f"got {len(tensors)} tensors and {len(grads)} gradients")


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
             grad_variables=None, inputs=None) -> None:
    """Accumulate into ``.grad`` of the leaves (or of ``inputs``) the vector-Jacobian
    product of ``tensors`` with ``grad_tensors``."""
    if grad_variables is not None:
        if grad_tensors is not None:
            raise GradientError("`grad_tensors` and `grad_variables` (deprecated) arguments "
                                "both passed to `backward()`. Please only use `grad_tensors`.")
        grad_tensors = grad_variables
    inputs_tuple = () if inputs is None else (
        tuple(inputs.values()) if type(inputs) is dict else _as_tuple(inputs))
    if inputs is not None and not inputs_tuple:
        raise GradientError("`inputs` argument to `backward()` cannot be empty.")
    tensors = _edge_outputs(_as_tuple(tensors))
    grads = _make_grads(tensors, _grads_tuple(grad_tensors, len(tensors)))
    if retain_graph is None:
        retain_graph = create_graph
    _check_lengths(tensors, _grads_tuple(grad_tensors, len(tensors)))
    if not tensors:
        return
    roots = _root_edges(tensors)
    input_edges = _input_edges(inputs_tuple) if inputs_tuple else ()
    if create_graph:  # torch warns for every backward() that accumulates, inputs= or not
        _engine.warn_create_graph()
    captured = _engine.execute(roots, grads, keep_graph=retain_graph,
                               create_graph=create_graph, inputs=input_edges)
    for t, g in zip(inputs_tuple, captured):  # non-leaf inputs accumulate like retain_grad
        if isinstance(t, Tensor) and t.grad_fn is not None and g is not None:
            _engine.accumulate(t, g, raw=not create_graph)
            t._retains_grad = True


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False,
         materialize_grads=False):
    """The vector-Jacobian product of ``outputs`` with ``grad_outputs``, for ``inputs``;
    nothing is accumulated into ``.grad``."""
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when "
                         "materialize_grads=True, but got: allow_unused=False.")
    if allow_unused is None:
        allow_unused = materialize_grads
    as_dict = type(inputs) is dict
    keys = list(inputs.keys()) if as_dict else None
    outputs = _edge_outputs(_as_tuple(outputs))
    inputs_tuple = tuple(inputs.values()) if as_dict else _as_tuple(inputs)
    if not inputs_tuple:
        raise GradientError("`inputs` argument to `grad()` cannot be empty.")
    grads = _make_grads(outputs, _grads_tuple(grad_outputs, len(outputs)), is_grads_batched)
    if retain_graph is None:
        retain_graph = create_graph
    _check_lengths(outputs, _grads_tuple(grad_outputs, len(outputs)))
    roots = _root_edges(outputs)
    input_edges = _input_edges(inputs_tuple)
    if is_grads_batched:
        result = _batched(roots, grads, input_edges, retain_graph, create_graph)
    else:
        captured = _engine.execute(roots, grads, keep_graph=retain_graph,
                                   create_graph=create_graph, inputs=input_edges, capture=True)
        result = [None if g is None else (Tensor._make(g) if not create_graph else g)
                  for g in captured]
    for i, g in enumerate(result):
        if g is None:
            if materialize_grads:
                if not isinstance(inputs_tuple[i], Tensor):  # an edge has no shape to fill
                    raise GradientError("materialize_grads cannot be used when the given "
                                        "input is a GradientEdge")
                result[i] = F.zeros_like(inputs_tuple[i]).requires_grad_(create_graph)
            elif not allow_unused:
                raise GradientError(f"The differentiated Tensor at index {i} appears to not "
                                    "have been used in the graph. Set allow_unused=True if "
                                    "this is the desired behavior.")
    if as_dict:
        return dict(zip(keys, result))
    return tuple(result)


def _batched(roots, grads, input_edges, retain_graph, create_graph):
    """is_grads_batched: one VJP per row of the seeds, stacked (torch vmaps this)."""
    batch = next(g.shape[0] for g in grads if g is not None)
    rows = []
    for b in range(batch):
        seeds = [None if g is None else g[b] for g in grads]
        keep = retain_graph or b < batch - 1
        captured = _engine.execute(roots, seeds, keep_graph=keep, create_graph=create_graph,
                                   inputs=input_edges, capture=True)
        rows.append([None if g is None else (Tensor._make(g) if not create_graph else g)
                     for g in captured])
    return [None if rows[0][k] is None else F.stack([r[k] for r in rows])
            for k in range(len(input_edges))]


def Variable(data, requires_grad: bool = False, volatile: bool = False) -> Tensor:
    """torch.autograd.Variable (deprecated wrapper): a new leaf sharing ``data``'s values."""
    out = data.detach()
    if requires_grad:
        out.requires_grad_(True)
    return out


class _EngineBase:
    """torch.autograd.Variable._execution_engine (torch._C._EngineBase): the entry point
    torch's own autograd code reaches the engine through."""

    queue_callback = staticmethod(_engine.queue_callback)


Variable._execution_engine = _EngineBase()


class set_detect_anomaly:
    """Anomaly mode on or off, at once (a plain call) and undone on leaving a ``with``.

    On: in-place errors carry torch's anomaly-mode hint; with ``check_nan`` a backward
    function that returns NaN raises, naming the node."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self.prev = (_anomaly.enabled, _anomaly.check_nan)
        _anomaly.enabled = bool(mode)
        _anomaly.check_nan = bool(mode) and check_nan

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _anomaly.enabled, _anomaly.check_nan = self.prev


class detect_anomaly:
    """Anomaly mode on inside a ``with`` (torch warns that it is slow when made)."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan
        self.prev = (_anomaly.enabled, _anomaly.check_nan)
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the "
                      "runtime and should only be enabled for debugging.", stacklevel=2)

    def __enter__(self):
        self.prev = (_anomaly.enabled, _anomaly.check_nan)
        _anomaly.enabled, _anomaly.check_nan = True, bool(self.check_nan)

    def __exit__(self, *exc):
        _anomaly.enabled, _anomaly.check_nan = self.prev


def is_anomaly_enabled() -> bool:
    return _anomaly.enabled


def is_anomaly_check_nan_enabled() -> bool:
    return _anomaly.check_nan


from . import autograd_graph as graph  # noqa: E402,F401  (torch.autograd.graph)

# torch.autograd's names whose modules sit above this one (they call backward() and grad()):
# bound by engine/__init__.py, see NOTE [Upward bindings] there
function = functional = forward_ad = None
Function = FunctionCtx = once_differentiable = None
gradcheck = gradgradcheck = None
