"""The backward walk, after PyTorch's engine: dependency counts, per-node input buffers,
a ready queue ordered by creation (newest first), AccumulateGrad the only writer of
``.grad``, and unbroadcasting in exactly one place (``_validate``).

First-order walks (``create_graph=False``) carry raw arrays and run each VJP on them;
``create_graph=True`` walks carry Tensors with grad mode on, so the VJPs record a graph.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import sys
import threading
import warnings

import numpy as np

from . import anomaly_mode, array_cache, backend, dtypes, grad_mode, saved_hooks
from .errors import CREATE_GRAPH_WARNING, AnomalyError, GradientError
from .graph import (
    AccumulateGrad,
    anomaly_parent,
    expose,
    forward_trace_warnings,
    post_accumulate_grad_hooks,
)
from .ops import table as _table
from .ops.table import F


def execute(roots, seeds, *, keep_graph: bool, create_graph: bool, inputs=(),
            capture: bool = False):
    """Run backward from ``roots`` (edges ``(node, output_nr)``) seeded with ``seeds``.

    ``inputs`` are edges. With ``capture`` (autograd.grad) their gradients are returned and
    nothing is accumulated; otherwise, when given, only they are accumulated into.
    """
    # The cyclic GC is paused for the walk: it allocates a few containers per node (grads,
    # buffers) that refcounting frees, so collections triggered by them (which would also
    # scan the whole graph, tens of thousands of nodes) find nothing. Cycles a
    # create_graph walk may record are collected once the GC runs again.
    # The walk's arrays come from the array cache: a large gradient then reuses a freed
    # block instead of faulting in fresh pages.
    depth = _reentrant.depth
    if depth >= MAX_REENTRANT_DEPTH:  # NOTE [Deep reentrant backward]
        return _in_fresh_thread(execute, roots, seeds, keep_graph=keep_graph,
                                create_graph=create_graph, inputs=inputs, capture=capture)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    token = array_cache.use() if array_cache.enabled else None
    _reentrant.depth = depth + 1
    hooks = saved_hooks.stack()
    parent = anomaly_parent.node
    try:
        return _execute(roots, seeds, keep_graph, create_graph, inputs, capture)
    finally:
        _reentrant.depth = depth
        anomaly_parent.node = parent
        if saved_hooks.stack() is not hooks:
            saved_hooks.restore(hooks)
        if token is not None:
            array_cache.restore(token)
        if gc_was_enabled:
            gc.enable()


# NOTE [Deep reentrant backward]: a backward function may itself run a backward (a custom
# Function's backward calling .backward() or grad()), so walks nest. Each level takes a
# few Python frames, and Python's recursion limit is per thread: as torch's engine does
# past its own depth limit, a walk nested that deep runs in a fresh thread, its caller
# waiting for it (the grad mode goes along; a forward-AD level does not).
MAX_REENTRANT_DEPTH = 32


class _ReentrantDepth(threading.local):
    depth = 0  # walks running in this thread, nested


_reentrant = _ReentrantDepth()


def _in_fresh_thread(fn, *args, **kwargs):
    mode = grad_mode.is_grad_enabled()
    outcome = {}

    def run():
        try:
            with grad_mode.set_grad_enabled(mode):
                outcome["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = e

    worker = threading.Thread(target=run, name="autograd-reentrant")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class _Task(threading.local):
    # (id, deps, reach, capture, final callbacks) of the walk running on this thread
    current = None


_task = _Task()
_task_ids = itertools.count()


def current_graph_task_id() -> int:
    """torch._C._current_graph_task_id: the running walk's id, -1 outside one."""
    task = _task.current
    return -1 if task is None else task[0]


def queue_callback(callback) -> None:
    """torch.autograd.Variable._execution_engine.queue_callback: ``callback()`` runs once
    the running walk has run all its nodes, before it returns; callbacks run in the order
    queued, one queued by a callback included. Not run if the walk raises."""
    task = _task.current
    if task is None:
        raise GradientError("Final callbacks can only be installed during backward pass.")
    task[4].append(callback)


def will_engine_execute_node(node) -> bool:
    """Will the running walk run ``node``? (torch._C._will_engine_execute_node)"""
    task = _task.current
    if task is None:
        raise GradientError("_will_engine_execute_node should only be called during the "
                            "backward pass")
    _, deps, reach, capture, _ = task
    if capture and isinstance(node, AccumulateGrad):
        raise GradientError("A leaf node was passed to _will_engine_execute_node but we are "
                            "currently running autograd.grad(). This is currently not "
                            "supported.")
    return node in deps and (reach is None or reach.get(node, False))


def _warn_forward_traces(node) -> None:
    """NOTE [Forward traces]. A warning the filters turn into an error is written to stderr
    instead, as torch does: the backward's own error is the one that propagates."""
    for message in forward_trace_warnings(node):
        try:
            warnings.warn(message, UserWarning, stacklevel=4)
        except Warning as w:
            sys.stderr.write(f"{type(w).__name__}: {w}\n")


def _execute(roots, seeds, keep_graph, create_graph, inputs, capture):
    raw = not create_graph
    deps = _dependencies(roots)
    targets = {}
    for k, (node, nr) in enumerate(inputs):
        targets.setdefault(node, []).append((nr, k))
    reach, runs = _reachable(deps, targets) if inputs else (None, None)
    outer = _task.current
    # (deps keeps its keys: counts only drop)
    callbacks = []
    _task.current = (next(_task_ids), deps, reach, capture, callbacks)
    try:
        result = _walk(roots, seeds, keep_graph, raw, inputs, capture, deps, targets, reach,
                       runs)
        i = 0
        while i < len(callbacks):  # (a callback may queue more)
            callbacks[i]()
            i += 1
        return result
    finally:
        _task.current = outer


def _walk(roots, seeds, keep_graph, raw, inputs, capture, deps, targets, reach, runs):
    create_graph = not raw
    captured = [None] * len(inputs)
    # input buffers: per node, its output grads; ``owned`` marks the (node, nr) whose array
    # is a sum the walk made, so first-order sums happen in place and AccumulateGrad need
    # not copy them
    buffers, owned, ready, tie = {}, set(), [], itertools.count()
    heappush, heappop = heapq.heappush, heapq.heappop

    def deliver(node, nr, grad):
        if reach is not None and not reach[node]:
            return
        buf = buffers.get(node)
        if buf is None:
            n_out = 1 if isinstance(node, AccumulateGrad) else len(node.out_metas)
            buf = buffers[node] = [None] * n_out
        if grad is not None:
            _add_into(buf, node, nr, grad)
        n = deps[node] - 1
        deps[node] = n
        if n == 0:
            heappush(ready, (-node.seq, next(tie), node))

    def _add_into(buf, node, nr, grad):
        current = buf[nr]
        if current is None:
            buf[nr] = grad
        elif raw and ((node, nr) in owned or _exclusive(current, 4)):
            # the walk's own array (a sum it made, or a VJP's fresh result nothing else
            # refers to: buf, current, the argument and getrefcount's): add in place
            current += grad  # in place for arrays; a NumPy scalar rebinds
            buf[nr] = current
            owned.add((node, nr))
        else:
            buf[nr] = current + grad
            if raw:
                owned.add((node, nr))

    # torch never warns about inf/nan in gradients (anomaly mode is the opt-in check)
    with grad_mode.set_grad_enabled(create_graph), np.errstate(all="ignore"):
        for (node, nr), seed in zip(roots, seeds):
            deliver(node, nr, seed.array if raw else seed)
        while ready:
            node = heappop(ready)[2]
            grads = buffers.pop(node)
            is_acc = isinstance(node, AccumulateGrad)
            if is_acc:
                if node.variable._hooks:
                    grads = _tensor_pre_hooks(node, grads, raw)
            elif node.tensor_pre_hooks or node.retains_grad_hooks:
                grads = _tensor_pre_hooks(node, grads, raw)
            if targets:
                for nr, k in targets.get(node, ()):
                    captured[k] = grads[nr]
            if is_acc:
                if capture or (inputs and node not in targets):
                    pass  # grad() runs a leaf's tensor hooks only, as torch
                elif node.pre_hooks or node.post_hooks:
                    _accumulate_with_node_hooks(node, grads, raw)
                elif grads[0] is not None:
                    g = grads[0]
                    # exclusive: referred to by grads, g, accumulate's pending argument, and
                    # _exclusive's and getrefcount's arguments
                    accumulate(node.variable, g, raw,
                               owned=raw and ((node, 0) in owned or _exclusive(g, 5)))
                    g = None
                    if post_accumulate_grad_hooks:
                        _call_post_accumulate_hooks(node.variable)
                continue
            if runs is not None and node not in runs and (capture or node not in targets):
                continue  # grad()'s input's own node: nothing below it is wanted (backward()
                # runs it, hooks included, as torch does for its inputs= tensors)
            if node.pre_hooks:
                grads = _call_node_pre_hooks(node, grads, raw)
            op = node.op
            if anomaly_mode.enabled:  # the parent of the nodes this backward records
                anomaly_parent.node = node
            try:
                if op is not None:  # a table row's node (Node.apply, inlined)
                    outs = op.backward(node, grads, raw, reach)
                    if not keep_graph:
                        node.saved = None  # Node.release_variables, inlined
                else:
                    outs = node.apply(grads, raw)
                    if not keep_graph:
                        node.release_variables()
                if anomaly_mode.check_nan:
                    _check_nan(node, outs, raw)
            except Exception:
                if anomaly_mode.enabled:  # NOTE [Forward traces]
                    _warn_forward_traces(node)
                raise
            if node.post_hooks:
                _call_node_post_hooks(node, outs, grads, raw)
            metas = node.metas
            for i, ((child, nr), grad) in enumerate(zip(node.next_functions, outs)):
                if child is None:
                    continue
                if grad is not None:
                    meta = metas[i] if metas is not None else node.out_metas[0]
                    arr = grad if raw else grad.array
                    if arr.shape != meta[0] or arr.dtype != meta[1]:
                        grad = _validate(node, i, grad, meta, raw)
                if reach is not None and not reach[child]:
                    continue
                # deliver(), inlined
                buf = buffers.get(child)
                if buf is None:
                    if isinstance(child, AccumulateGrad) or len(child.out_metas) == 1:
                        buffers[child] = [grad]
                    else:
                        buf = buffers[child] = [None] * len(child.out_metas)
                        if grad is not None:
                            buf[nr] = grad
                elif grad is not None:
                    _add_into(buf, child, nr, grad)
                n = deps[child] - 1
                deps[child] = n
                if n == 0:
                    heappush(ready, (-child.seq, next(tie), child))
            outs = grad = grads = arr = None  # no stale references: they would hide exclusivity
    return captured


def reference_execute(roots, seeds, *, keep_graph: bool, create_graph: bool):
    """The walk's algorithm alone, to read ``_execute`` and ``_walk`` against (a test runs
    both on random graphs and compares the gradients): count each node's incoming edges,
    deliver the seeds, then run ready nodes newest first, each summing its output gradients
    in its input buffer before its VJP hands its inputs theirs; AccumulateGrad writes
    ``.grad``. Without what the fast walk adds for speed and for the API (in-place sums,
    inlining, hooks, ``inputs=``, anomaly checks, the graph task)."""
    raw = not create_graph
    deps = _dependencies(roots)  # node -> how many edges point at it
    buffers = {}  # node -> the gradients of its outputs that arrived so far, summed
    ready, tie = [], itertools.count()  # nodes all of whose gradients arrived

    def deliver(node, nr, grad):
        n_out = 1 if isinstance(node, AccumulateGrad) else len(node.out_metas)
        buf = buffers.setdefault(node, [None] * n_out)
        if grad is not None:
            buf[nr] = grad if buf[nr] is None else buf[nr] + grad
        deps[node] -= 1
        if deps[node] == 0:
            heapq.heappush(ready, (-node.seq, next(tie), node))

    with grad_mode.set_grad_enabled(create_graph), np.errstate(all="ignore"):
        for (node, nr), seed in zip(roots, seeds):
            deliver(node, nr, seed.array if raw else seed)
        while ready:
            node = heapq.heappop(ready)[2]
            grads = buffers.pop(node)
            if isinstance(node, AccumulateGrad):
                if grads[0] is not None:
                    accumulate(node.variable, grads[0], raw)
                continue
            outs = node.apply(grads, raw)
            if not keep_graph:
                node.release_variables()
            for i, ((child, nr), grad) in enumerate(zip(node.next_functions, outs)):
                if child is None:
                    continue
                if grad is not None:
                    metas = node.metas
                    grad = _validate(node, i, grad, node.out_metas[0] if metas is None
                                     else metas[i], raw)
                deliver(child, nr, grad)


def _exclusive(arr, refs: int) -> bool:
    """Is ``arr`` an ndarray owning its memory that nothing but the caller's ``refs``
    references (getrefcount's own argument included) refer to? Then the walk may write
    into it: no tensor, saved value, view (a view refers to its base) or user hook
    result can see the change."""
    return (type(arr) is np.ndarray and arr.base is None and arr.flags.writeable
            and sys.getrefcount(arr) == refs)


def _dependencies(roots):
    """How many edges point at each node, for every node reached (iterative DFS)."""
    deps, stack = {}, []
    for node, _ in roots:
        c = deps.get(node)
        if c is None:
            deps[node] = 1
            stack.append(node)
        else:
            deps[node] = c + 1
    while stack:
        for child, _ in stack.pop().next_functions:
            if child is not None:
                c = deps.get(child)
                if c is None:
                    deps[child] = 1
                    stack.append(child)
                else:
                    deps[child] = c + 1
    return deps


def _reachable(nodes, targets):
    """reach[n]: n is a target or leads to one; ``runs``: the nodes with a child that
    does (the others need not run). A child is always older than its parent (edges point
    at nodes that existed when the parent was made), so one pass in creation order settles
    every node."""
    reach, runs = {}, set()
    for node in sorted(nodes, key=lambda n: -1 if isinstance(n, AccumulateGrad) else n.seq):
        below = False
        for child, _ in node.next_functions:
            if child is not None and reach.get(child, False):
                below = True
                break
        if below:
            runs.add(node)
        reach[node] = below or node in targets
    return reach, runs


def _validate(node, i, grad, meta, raw):
    """The one place a gradient is made to fit its input: sum over broadcast dims, cast."""
    shape, np_dtype = meta
    if tuple(grad.shape) != shape:
        if not _expandable(shape, tuple(grad.shape)):
            raise GradientError(f"Function {node.name()} returned an invalid gradient at index "
                                f"{i} - got {list(grad.shape)} but expected shape compatible "
                                f"with {list(shape)}", node)
        grad = F.sum_to(grad, shape)
    if raw:
        if grad.dtype != np_dtype:
            grad = grad.astype(np_dtype)
    elif grad.array.dtype != np_dtype:
        grad = grad.to(dtypes.from_numpy(np_dtype))
    return grad


def _expandable(shape, to):
    if len(shape) > len(to):
        return False
    return all(s == 1 or s == t for s, t in zip(shape[::-1], to[::-1]))


def _wrap(grad, raw):
    Tensor = _table._Tensor  # not an import: that costs microseconds per call
    return Tensor._make(grad) if raw else grad


def _run_hook(hook, grad, raw):
    """A tensor hook: a non-None return replaces the gradient (checked as torch does)."""
    value = None if grad is None else _wrap(grad, raw)
    result = hook(value)
    if result is None:
        return grad
    _check_hook_value(hook, value, result)
    return result.array if raw else result


def _check_hook_value(hook, value, result) -> None:
    """torch's checks of a gradient a hook returned in place of ``value`` (check_result's,
    python_hook.cpp): not for a None one, a Tensor of its dtype and size."""
    Tensor = _table._Tensor  # not an import: that costs microseconds per call
    if value is None:
        raise GradientError("can't replace a None gradient with a non-None value")
    if not isinstance(result, Tensor):
        raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")
    name = getattr(hook, "__name__", "<unknown>")
    if result.dtype is not value.dtype:
        raise GradientError(f"hook '{name}' has changed the type of value (was "
                            f"{dtypes.legacy_type_name(value.array.dtype)} got "
                            f"{dtypes.legacy_type_name(result.array.dtype)})")
    if result.shape != value.shape:
        raise GradientError(f"hook '{name}' has changed the size of value")


def _check_hook_values(hook, values, result) -> None:
    """A node hook's result replaces the tuple ``values``: a tuple of as many, each checked
    (a None in it drops that gradient, as torch)."""
    if not isinstance(result, tuple):
        raise TypeError(f"expected tuple, but hook returned '{type(result).__name__}'")
    if len(result) != len(values):
        raise GradientError(f"hook '{getattr(hook, '__name__', '<unknown>')}' has returned an "
                            f"incorrect number of values (got {len(result)}, but expected "
                            f"{len(values)})")
    for value, r in zip(values, result):
        if r is not None:
            _check_hook_value(hook, value, r)


def _tensor_pre_hooks(node, grads, raw):
    """Tensor.register_hook hooks, then retain_grad (torch runs it last). A hook is called
    with None for an output of a node that runs without a gradient for it (torch's)."""
    if isinstance(node, AccumulateGrad):
        hooks = node.variable._hooks
        if hooks:
            for hook in list(hooks.values()):
                grads[0] = _run_hook(hook, grads[0], raw)
        return grads
    if node.tensor_pre_hooks:
        for nr, hooks in node.tensor_pre_hooks.items():
            for hook in list(hooks.values()):
                grads[nr] = _run_hook(hook, grads[nr], raw)
    if node.retains_grad_hooks:
        for nr in node.retains_grad_hooks:
            if grads[nr] is not None:
                _retain(node, nr, grads[nr], raw)
    return grads


def _retain(node, nr, grad, raw):
    """torch's retain_grad hook: a clone the first time, then ``grad + new`` out of place
    (unlike a leaf's AccumulateGrad, a ``.grad`` read earlier is never changed)."""
    Tensor = _table._Tensor  # not an import: that costs microseconds per call
    tensor = node.retains_grad_hooks[nr]()
    if tensor is None:
        return
    current = tensor._grad
    if raw:
        tensor._grad = Tensor._make(grad.copy() if current is None else current.array + grad)
    else:
        tensor._grad = F.clone(grad) if current is None else current + grad
        expose(tensor._grad._grad_fn)  # a create_graph .grad may lead back to the tensor


def accumulate(variable, grad, raw, owned=False):
    """AccumulateGrad: the only writer of ``.grad``."""
    Tensor = _table._Tensor  # not an import: that costs microseconds per call
    if not variable._requires_grad:  # detached in place since the graph was recorded
        return
    current = variable._grad
    if raw:
        if current is None:  # never alias a seed, a saved tensor or a sibling's grad
            leaf = variable.array
            if leaf.flags.c_contiguous:  # (the common case: _in_leaf_layout's row-major)
                grad = _row_major(grad, owned)
            else:
                grad = _in_leaf_layout(grad, leaf, owned)
            variable._grad = Tensor._make(grad)
        elif backend.writeable(current.array) and current.array.shape == grad.shape:
            current.array += grad  # in place, as torch does when grad mode is off
            current._version_counter[0] += 1
        else:
            variable._grad = Tensor._make(current.array + grad)
    else:
        if current is None:  # torch shows CopyBackwards
            variable._grad = F.copy(Tensor._make(_in_leaf_layout(
                grad.array, variable.array, False)), grad)
        else:
            variable._grad = current + grad
        expose(variable._grad._grad_fn)  # leads back to the leaf: a cycle the GC must see


def _in_leaf_layout(grad, leaf, owned):
    """torch's layout contract for a new .grad: the leaf's strides where the leaf is
    non-overlapping and dense (channels-last, transposed), else row-major. ``grad`` itself
    when it is ``owned`` and already so, else a copy laid out so."""
    strides = _dense_strides(leaf) if backend.module_of(leaf) is np else None
    if strides is None:
        return _row_major(grad, owned)
    strides = tuple(s // leaf.itemsize * grad.itemsize for s in strides)
    if owned and grad.strides == strides:
        return grad
    out = np.lib.stride_tricks.as_strided(np.empty(leaf.size, grad.dtype), leaf.shape, strides)
    out[...] = grad
    return out


def _row_major(grad, owned):
    """``grad`` row-major: itself where it is ``owned`` and already so, else a copy (not
    ascontiguousarray alone: it makes a 0-d array 1-d)."""
    if not owned:
        return grad.copy()
    return grad if grad.flags.c_contiguous else backend.ascontiguousarray(grad)


def _dense_strides(a):
    """``a``'s strides if it is non-overlapping and dense (some order of its dimensions is
    row-major), else None."""
    if any(s < 0 for s in a.strides):
        return None
    order = sorted(range(a.ndim), key=lambda d: -a.strides[d])
    return a.strides if a.transpose(order).flags.c_contiguous else None


def _call_post_accumulate_hooks(variable):
    """Tensor.register_post_accumulate_grad_hook: ``hook(tensor)`` once its .grad is
    updated (backward only: autograd.grad accumulates nothing)."""
    Tensor = _table._Tensor  # not an import: that costs microseconds per call
    for hook in list(post_accumulate_grad_hooks.get(id(variable), {}).values()):
        result = hook(variable)
        if result is not None:
            if not isinstance(result, Tensor):
                raise TypeError(f"expected Variable, but hook returned "
                                f"'{type(result).__name__}'")
            raise GradientError("Tensor post accumulate grad hooks should return None.")


def _accumulate_with_node_hooks(node, grads, raw):
    """AccumulateGrad with hooks on the node itself: pre-hooks see (and may replace) the
    gradient, post-hooks get ``((), (grad,))`` after it is accumulated, as torch's."""
    if node.pre_hooks:
        grads = _call_node_pre_hooks(node, grads, raw)
    if grads[0] is not None:
        # a gradient nothing else refers to (a fresh one a pre-hook returned, say) becomes
        # .grad itself, as torch steals it: the post-hooks then see what .grad sees
        # (referred to by grads, accumulate's pending argument, and _exclusive's and
        # getrefcount's arguments)
        accumulate(node.variable, grads[0], raw, owned=raw and _exclusive(grads[0], 4))
        if post_accumulate_grad_hooks:  # torch runs the tensor's before the node's
            _call_post_accumulate_hooks(node.variable)
    if node.post_hooks:
        _call_node_post_hooks(node, [], grads, raw)


def _call_node_pre_hooks(node, grads, raw):
    for hook in list(node.pre_hooks.values()):
        values = tuple(_wrap(g, raw) if g is not None else None for g in grads)
        result = hook(values)
        if result is not None and result is not values:
            _check_hook_values(hook, values, result)
            grads = [None if g is None else (g.array if raw else g) for g in result]
    return grads


def _call_node_post_hooks(node, outs, grads, raw):
    wrapped_in = tuple(_wrap(g, raw) if g is not None else None for g in outs)
    wrapped_out = tuple(_wrap(g, raw) if g is not None else None for g in grads)
    for hook in list(node.post_hooks.values()):
        result = hook(wrapped_in, wrapped_out)
        if result is not None and result is not wrapped_in:
            _check_hook_values(hook, wrapped_in, result)
            wrapped_in = result  # the next hook sees it (torch's _call_hooks)
            outs[:] = [None if g is None else (g.array if raw else g) for g in result]


def _check_nan(node, outs, raw):
    for i, g in enumerate(outs):
        if g is not None and np.isnan(g if raw else g.array).any():
            raise AnomalyError(f"Function '{node.name()}' returned nan values in its {i}th "
                               "output.", node)


def warn_create_graph():
    warnings.warn(CREATE_GRAPH_WARNING, UserWarning, stacklevel=4)
