"""Per-op tests generated from the table: for every row and every sample, against torch
computed here: forward value, dtype, shape rule, grad_fn name and next_functions, first-
and second-order gradients; plus float64 finite differences (first and second order)
that need no torch."""

import os

import numpy as np
import pytest
import torch
from support.harness import (
    assert_close,
    call_both,
    diff_inputs,
    flat_tensors,
    node_signature,
    outputs_of,
    to_engine,
    to_torch,
    torch_fn,
)

import engine
from engine.ops import ROWS
from engine.ops.samples import Const

CASES = [(row, i) for row in ROWS.values() if row.samples is not None
         for i in range(len(row.samples(np.random.default_rng(0))))]


def _sample(row, i):
    return row.samples(np.random.default_rng(1234 + i))[i]


def _id(case):
    row, i = case
    return f"{row.qualname}-{i}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_forward_and_graph(case):
    row, i = case
    sample = _sample(row, i)
    (ours, e_args, e_kwargs), (theirs, *_) = call_both(row, sample)
    ours_out, theirs_out = outputs_of(ours), outputs_of(theirs)
    assert len(ours_out) == len(theirs_out)
    for k, (o, t) in enumerate(zip(ours_out, theirs_out)):
        assert_close(o, t, what=f"{row.qualname} forward[{k}]")
        assert o.dtype.name == str(t.dtype).removeprefix("torch."), "dtype"
        assert o.requires_grad == t.requires_grad
        assert node_signature(o.grad_fn) == node_signature(t.grad_fn)
    if row.shape is not None:
        bound = row.bind(tuple(e_args), e_kwargs) if not row.composite or True else None
        shapes = row.infer_shape(bound)
        actual = ours if not isinstance(ours, (list, tuple)) else ours
        if isinstance(actual, (list, tuple)):
            assert [tuple(s) for s in shapes] == [tuple(a.shape) for a in actual]
        else:
            assert tuple(shapes) == tuple(actual.shape)


def _seeds(outs, rng):
    return [rng.uniform(0.5, 1.5, size=tuple(o.shape)) for o in outs]


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_gradients_match_torch(case):
    row, i = case
    rng = np.random.default_rng(7)
    e_in, t_in, e_g, t_g = _grads_both(row, _sample(row, i), True, rng)
    for k, (a, b) in enumerate(zip(e_g, t_g)):
        assert (a is None) == (b is None), f"grad[{k}] defined"
        if a is not None:
            assert_close(a, b, what=f"{row.qualname} grad[{k}]")
    if not row.twice_differentiable:
        return
    pairs = [(a, b) for a, b in zip(e_g, t_g) if a is not None and b is not None and
             b.requires_grad]
    if not pairs:
        return
    vs = [rng.uniform(0.5, 1.5, size=tuple(b.shape)) for _, b in pairs]
    e_s = sum((a * engine.tensor(v.astype("float32"))).sum() for (a, _), v in zip(pairs, vs))
    t_s = sum((b * torch.tensor(v.astype("float32"))).sum() for (_, b), v in zip(pairs, vs))
    if not e_s.requires_grad or not t_s.requires_grad:
        assert e_s.requires_grad == t_s.requires_grad
        return
    e_gg = engine.autograd.grad(e_s, e_in, allow_unused=True)
    t_gg = torch.autograd.grad(t_s, t_in, allow_unused=True)
    for k, (a, b) in enumerate(zip(e_gg, t_gg)):
        if b is None:
            assert a is None or np.allclose(a.numpy(), 0), f"second-order grad[{k}]"
        elif a is None:
            assert np.allclose(b.numpy(), 0), f"second-order grad[{k}] missing"
        else:
            assert_close(a, b, rtol=1e-3, atol=1e-4, what=f"{row.qualname} gradgrad[{k}]")


# ------------------------------------------------------------------ finite differences

def _numeric_vjp(f, xs, seed, eps=1e-6):
    """seed . J by central differences, for each input array."""
    out = []
    for x in xs:
        g = np.zeros_like(x)
        it = np.nditer(x, flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            old = x[idx]
            x[idx] = old + eps
            plus = f()
            x[idx] = old - eps
            minus = f()
            x[idx] = old
            g[idx] = sum(float(np.sum(s * (p - m))) for s, p, m in zip(seed, plus, minus)) / (
                2 * eps)
        out.append(g)
    return out


def _engine_outputs(row, sample, arrays):
    """Evaluate the op on float64 copies whose values come from ``arrays``."""
    k = iter(range(len(arrays)))

    def conv(v):
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            return engine.tensor(arrays[next(k)], requires_grad=True)
        if isinstance(v, list) and v and isinstance(v[0], np.ndarray) and v[0].dtype.kind == "f":
            return [conv(x) for x in v]
        if isinstance(v, Const) and v.array.dtype.kind == "f":  # (a class weight): float64 too
            return engine.tensor(v.array.astype("float64"))
        return to_engine(v, "float64")
    args = [conv(a) for a in sample.args]
    kwargs = {key: conv(v) for key, v in sample.kwargs.items()}
    return getattr(engine.F, row.name)(*args, **kwargs), args, kwargs


def _float_arrays(sample):
    out = []
    for v in list(sample.args) + list(sample.kwargs.values()):
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            out.append(v.astype("float64").copy())
        elif isinstance(v, list):
            out.extend(x.astype("float64").copy() for x in v
                       if isinstance(x, np.ndarray) and x.dtype.kind == "f")
    return out


FD_CASES = [c for c in CASES if c[0].vjp or c[0].composite]


@pytest.mark.parametrize("case", FD_CASES, ids=[_id(c) for c in FD_CASES])
def test_finite_differences(case):
    row, i = case
    sample = _sample(row, i)
    if not sample.gradcheck:
        pytest.skip("sample sits on a kink")
    arrays = _float_arrays(sample)
    if not arrays:
        pytest.skip("no float inputs")
    result, args, kwargs = _engine_outputs(row, sample, arrays)
    outs = [o for o in outputs_of(result) if o.requires_grad]
    if not outs:
        pytest.skip("nothing differentiable")
    rng = np.random.default_rng(3)
    seed = [rng.uniform(0.5, 1.5, size=tuple(o.shape)) for o in outs]
    inputs = diff_inputs(args, kwargs)

    def f():
        with engine.no_grad():
            res = _engine_outputs(row, sample, arrays)[0]
        return [o.detach().numpy() for o in outputs_of(res)][:len(seed)]  # (type_as: x itself)

    grads = engine.autograd.grad(outs, inputs, [engine.tensor(s) for s in seed],
                                 create_graph=True, allow_unused=True)
    numeric = _numeric_vjp(f, arrays, seed)
    for k, (g, n) in enumerate(zip(grads, numeric)):
        got = np.zeros_like(n) if g is None else g.detach().numpy()
        np.testing.assert_allclose(got, n, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{row.qualname} d/dx[{k}]")
    if not row.twice_differentiable:
        return
    # second order: d/dx of (v . grad(x)) against finite differences of grad itself
    vs = [rng.uniform(0.5, 1.5, size=a.shape) for a in arrays]
    live = [(g, v) for g, v in zip(grads, vs) if g is not None and g.requires_grad]
    if not live:
        return
    s = sum((g * engine.tensor(v)).sum() for g, v in live)
    second = engine.autograd.grad(s, inputs, allow_unused=True)

    def first_order():
        res, a2, k2 = _engine_outputs(row, sample, arrays)
        o2 = [o for o in outputs_of(res) if o.requires_grad]
        g2 = engine.autograd.grad(o2, diff_inputs(a2, k2), [engine.tensor(x) for x in seed],
                                  allow_unused=True)
        return [np.zeros(a.shape) if g is None else g.numpy() for g, a in zip(g2, arrays)]

    numeric2 = _numeric_vjp(first_order, arrays, vs)
    for k, (g, n) in enumerate(zip(second, numeric2)):
        got = np.zeros_like(n) if g is None else g.numpy()
        np.testing.assert_allclose(got, n, rtol=1e-4, atol=1e-5,
                                   err_msg=f"{row.qualname} d2/dx2[{k}]")


# ------------------------------------------------------------------ create_graph graphs

GRAPH_CASES = [c for c in CASES if c[0].vjp or c[0].composite]


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_zero_dim_gradients_from_arithmetic_match_torch(case):
    """A 0-d output times 3, differentiated: NumPy's arithmetic on 0-d arrays gives scalars,
    so the row's backward receives a NumPy scalar as its gradient, and must take it as
    torch's takes a 0-d tensor."""
    row, i = case
    (ours, e_args, e_kwargs), (theirs, t_args, t_kwargs) = call_both(row, _sample(row, i))
    e_in, t_in = diff_inputs(e_args, e_kwargs), diff_inputs(t_args, t_kwargs)
    pairs = [(o * 3, t * 3) for o, t in zip(outputs_of(ours), outputs_of(theirs))
             if t.requires_grad and t.dim() == 0]
    if not e_in or not pairs:
        pytest.skip("no differentiable 0-d output")
    e_g = engine.autograd.grad([o for o, _ in pairs], e_in, allow_unused=True)
    t_g = torch.autograd.grad([t for _, t in pairs], t_in, allow_unused=True)
    for k, (a, b) in enumerate(zip(e_g, t_g)):
        assert (a is None) == (b is None), f"grad[{k}] defined"
        if a is not None:
            assert_close(a, b, what=f"{row.qualname} grad[{k}]")


def _grads_both(row, sample, create_graph, rng=None):
    """The gradients of the sample's differentiable outputs with respect to its inputs,
    for the same random seeds (drawn from ``rng``), in both libraries."""
    (ours, e_args, e_kwargs), (theirs, t_args, t_kwargs) = call_both(row, sample)
    e_in, t_in = diff_inputs(e_args, e_kwargs), diff_inputs(t_args, t_kwargs)
    e_out = [o for o in outputs_of(ours) if o.requires_grad]
    t_out = [o for o in outputs_of(theirs) if o.requires_grad]
    if not e_in or not t_out:
        pytest.skip("nothing differentiable")
    seeds = _seeds(t_out, np.random.default_rng(7) if rng is None else rng)
    e_g = engine.autograd.grad(e_out, e_in, [engine.tensor(s.astype("float32")) for s in seeds],
                               create_graph=create_graph, allow_unused=True)
    t_g = torch.autograd.grad(t_out, t_in, [torch.tensor(s.astype("float32")) for s in seeds],
                              create_graph=create_graph, allow_unused=True)
    return e_in, t_in, e_g, t_g


def _next_order(e_in, t_in, e_g, t_g, rng):
    """d/dx of sum(v * g) over the gradients that require grad, in both engines."""
    pairs = [(a, b) for a, b in zip(e_g, t_g) if b is not None and b.requires_grad]
    if not pairs:
        return None
    vs = [rng.uniform(0.5, 1.5, size=tuple(b.shape)).astype("float32") for _, b in pairs]
    e_s = sum((a * engine.tensor(v)).sum() for (a, _), v in zip(pairs, vs))
    t_s = sum((b * torch.tensor(v)).sum() for (_, b), v in zip(pairs, vs))
    if not t_s.requires_grad:
        return None
    try:
        t_next = torch.autograd.grad(t_s, t_in, create_graph=True, allow_unused=True)
    except RuntimeError:  # torch has no derivative here: neither may we
        with pytest.raises(Exception):
            engine.autograd.grad(e_s, e_in, create_graph=True, allow_unused=True)
        return None
    return engine.autograd.grad(e_s, e_in, create_graph=True, allow_unused=True), t_next


@pytest.mark.parametrize("case", GRAPH_CASES, ids=[_id(c) for c in GRAPH_CASES])
def test_create_graph_grad_fn_matches_torch(case):
    """The first-order gradients built with create_graph=True have torch's grad_fn and
    next_functions (torch writes them with its own *_backward ops and Scalar overloads);
    the second and third orders built on them have torch's values."""
    row, i = case
    sample = _sample(row, i)
    e_in, t_in, e_g, t_g = _grads_both(row, sample, create_graph=True)
    for k, (a, b) in enumerate(zip(e_g, t_g)):
        assert (a is None) == (b is None), f"grad[{k}] defined"
        if a is not None:
            assert node_signature(a.grad_fn) == node_signature(b.grad_fn), f"grad[{k}]"
    if not row.twice_differentiable:
        return
    rng = np.random.default_rng(11)
    for order in (2, 3):
        got = _next_order(e_in, t_in, e_g, t_g, rng)
        if got is None:
            return
        e_g, t_g = got
        for k, (a, b) in enumerate(zip(e_g, t_g)):
            if b is None or a is None:
                other = a if b is None else b
                assert other is None or np.allclose(other.detach().numpy(), 0), (
                    f"order {order} grad[{k}]")
            else:
                assert_close(a, b, rtol=1e-3, atol=1e-4,
                             what=f"{row.qualname} order {order} grad[{k}]")


# as_strided gathers its elements into a new array (the _strided_positions rule): it is not
# a view of its input's memory, as torch's is; every other row shares memory as torch does.
GATHERED_NOT_VIEWED = {"as_strided"}


def _shares(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return bool(a.numel() and b.numel() and
                    a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr())
    return bool(a.numel() and b.numel() and np.shares_memory(a.array, b.array))


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_outputs_share_memory_with_inputs_as_torch(case):
    """An output aliases an input exactly where torch's does: a view shares its base's
    memory, and an op that copies in torch (flip) never hands back a view of its input,
    which a later in-place change of the input would rewrite."""
    row, i = case
    if row.name in GATHERED_NOT_VIEWED:
        pytest.xfail("as_strided is a gather here, not a view of its input's memory")
    (ours, e_args, e_kwargs), (theirs, t_args, t_kwargs) = call_both(row, _sample(row, i))
    e_in = [a for a in [*e_args, *e_kwargs.values()] if isinstance(a, engine.Tensor)]
    t_in = [a for a in [*t_args, *t_kwargs.values()] if isinstance(a, torch.Tensor)]
    for k, (o, t) in enumerate(zip(outputs_of(ours), outputs_of(theirs))):
        for j, (a, b) in enumerate(zip(e_in, t_in)):
            assert _shares(o, a) == _shares(t, b), f"{row.qualname}: output {k}, input {j}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_graph_is_freed_by_reference_counting(case):
    """No reference cycle in a recorded graph (a node saving its own output included, as
    torch's SavedVariable avoids): dropping the outputs frees every node at once, with the
    cyclic GC off, and so the arrays they saved."""
    import gc
    import weakref
    row, i = case
    sample = _sample(row, i)
    gc.collect()
    gc.disable()
    try:
        (out, args, kwargs), _ = call_both(row, sample)
        nodes, stack = [], [o.grad_fn for o in outputs_of(out) if o.grad_fn is not None]
        while stack:
            fn = stack.pop()
            nodes.append(weakref.ref(fn))
            stack.extend(f for f, _ in fn.next_functions
                         if f is not None and type(f).__name__ != "AccumulateGrad")
        fn = stack = None
        del out, args, kwargs
        alive = [r().name() for r in nodes if r() is not None]
        assert not alive, f"{row.qualname}: kept alive by a cycle: {alive}"
    finally:
        gc.enable()


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_graph_is_hidden_from_the_cyclic_gc(case):
    """The node an op records, its edges and what it saved are out of the cyclic GC's sight,
    as torch's C++ nodes are (engine/graph.py); ``expose`` shows them again."""
    import gc

    from engine import graph
    if graph.hide is None:
        if os.environ.get("CI"):
            pytest.fail("engine._gctrack was not built (it needs a C compiler)")
        pytest.skip("engine._gctrack not built")
    row, i = case
    (out, _, _), _ = call_both(row, _sample(row, i))
    nodes = {o.grad_fn for o in outputs_of(out) if o.grad_fn is not None}

    def held(node):  # what a node alone holds: tracked before hiding
        saved = [s for v in (node.saved or {}).values()
                 for s in (v if type(v) is list else [v]) if type(s) is graph.SavedTensor]
        return [node.next_functions, *(e for e in node.next_functions if e[0] is not None),
                *saved]

    for node in nodes:
        assert not gc.is_tracked(node), row.qualname
        assert not any(gc.is_tracked(h) for h in held(node)), row.qualname
        graph.expose(node)
        assert gc.is_tracked(node) and all(gc.is_tracked(h) for h in held(node))


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_keyword_binding_is_inspects(case):
    """Op.bind's fast keyword path binds exactly as inspect.Signature.bind does, for the
    sample's arguments given positionally and then by keyword, trailing ones first."""
    row, i = case
    if row.varargs:
        return
    sample = _sample(row, i)
    args, kwargs = list(sample.args), dict(sample.kwargs)
    positional = [p for p in row.params if not p.kwarg_only]
    while True:
        bound = row.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        got = row.bind(tuple(args), kwargs)
        assert len(got) == len(bound.arguments)
        assert all(a is b for a, b in zip(got, bound.arguments.values()))
        if not args:
            break
        name = positional[len(args) - 1].name
        kwargs[name] = args.pop()


def _call_variant(row, sample, lib, convert):
    """The row's first output on the sample's arguments made by ``convert(value, lib)``, or
    the exception the call raised (torch and the engine alike), with the arguments."""
    args = [convert(a, lib) for a in sample.args]
    kwargs = {k: convert(v, lib) for k, v in sample.kwargs.items()}
    fn = torch_fn(row) if lib is torch else getattr(engine.F, row.name)
    try:
        out = fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the outcome is what is compared
        return e, args, kwargs
    if isinstance(out, (list, tuple)):
        out = out[0] if out else tuple(out)  # (no outputs: unbind of an empty dim)
    return out, args, kwargs


def _in_both(outcome, case):
    """outcome(*case, lib) in torch and in the engine: (torch's, ours)."""
    return outcome(*case, torch), outcome(*case, engine)


def _same_refusal(theirs, ours) -> bool:
    """Where torch raised, the engine raised the same text (True: nothing more to compare);
    where torch answered, the engine did too."""
    if isinstance(theirs, Exception):
        assert isinstance(ours, Exception), f"torch raised {theirs!r}, the engine gave {ours}"
        assert str(ours) == str(theirs)
        return True
    assert not isinstance(ours, Exception), f"torch gave {theirs}, the engine raised {ours!r}"
    return False


# Integer and bool inputs: the first sample of each public row with its floating arrays made
# int64 (scaled, rounded) or bool, against torch: the same dtype and values, or the same
# error text (a NotImplementedError where torch's kernel has no loop for the dtype).
INT_BOOL_CASES = [(row, kind) for row in ROWS.values()
                  if row.samples is not None and not row.creation and
                  not row.name.startswith("_") for kind in ("int", "bool")]


def _int_bool(value, lib, kind):
    if isinstance(value, Const):
        return lib.tensor(value.array)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return lib.tensor(np.round(value * 3).astype(np.int64) if kind == "int" else value > 0.5)
    if isinstance(value, list) and value and isinstance(value[0], (np.ndarray, Const)):
        return [_int_bool(v, lib, kind) for v in value]
    return value


def _outcome(row, kind, lib):
    sample = row.samples(np.random.default_rng(0))[0]
    return _call_variant(row, sample, lib, lambda v, lib: _int_bool(v, lib, kind))[0]


@pytest.mark.parametrize("case", INT_BOOL_CASES, ids=[_id(c) for c in INT_BOOL_CASES])
def test_integer_and_bool_inputs_match_torch(case):
    theirs, ours = _in_both(_outcome, case)
    if _same_refusal(theirs, ours):
        assert isinstance(ours, NotImplementedError) == isinstance(theirs, NotImplementedError)
        return
    assert str(ours.dtype) == str(theirs.dtype)
    np.testing.assert_allclose(np.asarray(ours.tolist(), dtype=float),
                               np.asarray(theirs.tolist(), dtype=float),
                               rtol=1e-4, atol=1e-5, equal_nan=True)


# Mixed float32 / float64 inputs: the first two samples of each public row with two or more
# floating arrays, given dtypes alternately, against torch: the result's dtype and values
# and the gradients' dtypes, or the same error text.
MIXED_CASES = [(row, i, order) for row in ROWS.values()
               if row.samples is not None and not row.creation and not row.name.startswith("_")
               for i in range(min(2, len(row.samples(np.random.default_rng(0)))))
               for order in (("float64", "float32"), ("float32", "float64"))]


def _mixed(value, lib, order, count):
    if isinstance(value, Const):
        return lib.tensor(value.array)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        count[0] += 1
        return lib.tensor(value.astype(order[(count[0] - 1) % 2]), requires_grad=True)
    if isinstance(value, list) and value and isinstance(value[0], (np.ndarray, Const)):
        return [_mixed(v, lib, order, count) for v in value]
    return value


def _mixed_outcome(row, i, lib, order):
    sample = row.samples(np.random.default_rng(0))[i]
    count = [0]
    out, args, kwargs = _call_variant(row, sample, lib,
                                      lambda v, lib: _mixed(v, lib, order, count))
    if count[0] < 2 or isinstance(out, Exception):
        return None if count[0] < 2 else out
    grads = ()
    if out.requires_grad:
        leaves = [t for t in flat_tensors(list(args) + list(kwargs.values()))
                  if t.requires_grad]
        grads = lib.autograd.grad(out.sum(), leaves, allow_unused=True)
    return (str(out.dtype), np.asarray(out.detach().tolist(), dtype=float),
            [None if g is None else str(g.dtype) for g in grads])


@pytest.mark.parametrize("case", MIXED_CASES,
                         ids=[f"{r.qualname}-{i}-{o[0]}" for r, i, o in MIXED_CASES])
def test_mixed_float_dtypes_match_torch(case):
    row, i, order = case
    theirs = _mixed_outcome(row, i, torch, order)
    if theirs is None:
        return  # fewer than two floating inputs: nothing mixed
    ours = _mixed_outcome(row, i, engine, order)
    if _same_refusal(theirs, ours):
        return
    assert ours[0] == theirs[0]  # the engine's dtypes print as torch's: "torch.float64"
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-4, atol=1e-5, equal_nan=True)
    assert ours[2] == theirs[2]


# Non-contiguous inputs: every sample with a 2-D floating array, each such array given as
# the transpose of a row-major leaf (a strided view), against torch: values, grad_fn name
# and the leaves' gradients.
def _has_matrix(sample):
    return any(getattr(getattr(a, "array", a), "ndim", 0) == 2
               for a in list(sample.args) + list(sample.kwargs.values())
               if isinstance(a, (np.ndarray, Const)))


STRIDED_CASES = [c for c in CASES if not c[0].creation and not c[0].name.startswith("_")
                 and _has_matrix(_sample(*c))]


def _strided(value, lib, leaves):
    if isinstance(value, Const) or isinstance(value, np.ndarray) and value.dtype.kind == "f":
        arr = value.array if isinstance(value, Const) else value.astype("float32")
        floating = isinstance(value, np.ndarray)
        if arr.ndim != 2:
            leaf = lib.tensor(arr, requires_grad=floating)
            view = leaf
        else:
            leaf = lib.tensor(np.ascontiguousarray(arr.T), requires_grad=floating)
            view = leaf.t()
        if floating:
            leaves.append(leaf)
        return view
    if isinstance(value, list) and value and isinstance(value[0], (np.ndarray, Const)):
        return [_strided(v, lib, leaves) for v in value]
    return value


def _strided_outcome(row, i, lib):
    leaves = []
    out, _, _ = _call_variant(row, _sample(row, i), lib,
                              lambda v, lib: _strided(v, lib, leaves))
    if isinstance(out, (Exception, tuple)):
        return out
    grads = []
    if out.requires_grad and leaves:
        grads = [None if g is None else _values(g)
                 for g in lib.autograd.grad(out.sum(), leaves, allow_unused=True)]
    return (_values(out), out.grad_fn.name() if out.grad_fn else None, grads)


def _values(t):
    # torch answers some zero gradients (sgn's) with a ZeroTensor, which has no storage
    if isinstance(t, torch.Tensor) and t._is_zerotensor():
        return np.zeros(tuple(t.shape))
    return np.array(t.detach().tolist(), dtype=float)


@pytest.mark.parametrize("case", STRIDED_CASES, ids=[_id(c) for c in STRIDED_CASES])
def test_strided_inputs_match_torch(case):
    theirs, ours = _in_both(_strided_outcome, case)
    if _same_refusal(theirs, ours):
        return
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-4, atol=1e-5, equal_nan=True)
    assert ours[1] == theirs[1]
    assert len(ours[2]) == len(theirs[2])
    for g, h in zip(ours[2], theirs[2]):
        assert (g is None) == (h is None)
        if g is not None:
            np.testing.assert_allclose(g, h, rtol=1e-3, atol=1e-4, equal_nan=True)


# Degenerate shapes: the first sample of each public row with every array made 0-dim (its
# first element) or empty (no rows), against torch: dtype, shape, values, grad_fn and the
# leaves' gradients, or the same error text.
DEGENERATE_CASES = [(row, mode) for row in ROWS.values()
                    if row.samples is not None and not row.creation
                    and not row.name.startswith("_") for mode in ("0d", "empty")]


def _degenerate(value, lib, mode, leaves):
    if isinstance(value, Const) or isinstance(value, np.ndarray) and value.dtype.kind == "f":
        arr = value.array if isinstance(value, Const) else value.astype("float32")
        arr = (arr.reshape(-1)[:1].reshape(()) if mode == "0d" else
               arr.reshape(-1)[:0].reshape((0,) + arr.shape[1:]) if arr.ndim else arr)
        t = lib.tensor(arr, requires_grad=isinstance(value, np.ndarray))
        if t.requires_grad:
            leaves.append(t)
        return t
    if isinstance(value, list) and value and isinstance(value[0], (np.ndarray, Const)):
        return [_degenerate(v, lib, mode, leaves) for v in value]
    return value


def _degenerate_outcome(row, mode, lib):
    leaves = []
    out, _, _ = _call_variant(row, _sample(row, 0), lib,
                              lambda v, lib: _degenerate(v, lib, mode, leaves))
    if isinstance(out, (Exception, tuple)):
        return out
    grads = []
    if out.requires_grad and leaves:
        grads = [None if g is None else (tuple(g.shape), _values(g))
                 for g in lib.autograd.grad(out.sum(), leaves, allow_unused=True)]
    return (str(out.dtype), tuple(out.shape), _values(out),
            out.grad_fn.name() if out.grad_fn else None, grads)


@pytest.mark.parametrize("case", DEGENERATE_CASES, ids=[_id(c) for c in DEGENERATE_CASES])
def test_degenerate_shapes_match_torch(case):
    theirs, ours = _in_both(_degenerate_outcome, case)
    if _same_refusal(theirs, ours):
        return
    if theirs == () or ours == ():
        assert ours == theirs  # no outputs at all, a tuple as torch's
        return
    assert ours[:2] == theirs[:2] and ours[3] == theirs[3]
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-4, atol=1e-5, equal_nan=True)
    assert len(ours[4]) == len(theirs[4])
    for g, h in zip(ours[4], theirs[4]):
        assert (g is None) == (h is None)
        if g is not None:
            assert g[0] == h[0]
            np.testing.assert_allclose(g[1], h[1], rtol=1e-3, atol=1e-4, equal_nan=True)


# nll_loss's backward kernels, given shapes torch refuses: torch's checks, in its order
_NLL_BAD = {
    "input 0-d": ((), (), (), None, 1),
    "input 3-d": ((), (2, 3, 4), (2,), None, 1),
    "target 2-d": ((), (3, 4), (3, 1), None, 1),
    "batch mismatch": ((), (3, 4), (2,), None, 1),
    "weight size": ((), (3, 4), (3,), (3,), 1),
    "none, 0-d grad": ((), (3, 4), (3,), None, 0),
    "none, grad size": ((2,), (3, 4), (3,), None, 0),
    "none, 2-d grad": ((3, 1), (3, 4), (3,), None, 0),
    "mean, grad size": ((3,), (3, 4), (3,), None, 1),
    "mean, (1, 1) grad": ((1, 1), (3, 4), (3,), None, 1),
    "1-d input, 1-d target": ((), (4,), (1,), None, 1),
    "1-d input, none, 2 grads": ((2,), (4,), (), None, 0),
}
_NLL2D_BAD = {
    "input 0-d": ((), (), (), None, 1),
    "target 0-d": ((), (2, 3, 2, 2), (), None, 1),
    "input 3-d": ((), (2, 3, 4), (2, 2, 2), None, 1),
    "size mismatch": ((), (2, 3, 2, 2), (2, 2, 3), None, 1),
    "weight size": ((), (2, 3, 2, 2), (2, 2, 2), (2,), 1),
    "none, 0-d grad": ((), (2, 3, 2, 2), (2, 2, 2), None, 0),
    "none, 2-d grad": ((2, 2), (2, 3, 2, 2), (2, 2, 2), None, 0),
    "none, grad size": ((2, 2, 3), (2, 3, 2, 2), (2, 2, 2), None, 0),
    "mean, grad size": ((3,), (2, 3, 2, 2), (2, 2, 2), None, 1),
}
_NLL_BAD_CASES = [("nll_loss_backward", k, v) for k, v in _NLL_BAD.items()] + [
    ("nll_loss2d_backward", k, v) for k, v in _NLL2D_BAD.items()]


@pytest.mark.parametrize("case", _NLL_BAD_CASES, ids=[f"{n}-{k}" for n, k, _ in _NLL_BAD_CASES])
def test_nll_backward_kernels_refuse_bad_shapes_as_torch(case):
    name, _, (grad_shape, input_shape, target_shape, weight_shape, reduction) = case
    rng = np.random.default_rng(0)
    grad = rng.random(grad_shape).astype(np.float32)
    x = rng.random(input_shape).astype(np.float32)
    target = np.zeros(target_shape, dtype=np.int64)
    weight = None if weight_shape is None else rng.random(weight_shape).astype(np.float32)

    def run(lib, call):
        w = None if weight is None else lib.tensor(weight)
        try:
            call(lib.tensor(grad), lib.tensor(x), lib.tensor(target), w)
        except Exception as e:  # noqa: BLE001 (both engines' errors are compared)
            return e
        return None

    theirs = run(torch, lambda g, x, t, w: getattr(torch.ops.aten, name)(
        g, x, t, w, reduction, -100, torch.tensor(1.0)))
    ours = run(engine, lambda g, x, t, w: getattr(engine.F, name)(g, x, t, w, reduction, -100))
    assert theirs is not None, "torch accepts it: not a refusal case"
    assert ours is not None and str(ours) == str(theirs).splitlines()[0]
    assert isinstance(ours, IndexError) == isinstance(theirs, IndexError)


@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy", "binary_cross_entropy",
                                "binary_cross_entropy_with_logits"])
@pytest.mark.parametrize("dtypes", [("float64", "float32"), ("float32", "float64")])
def test_loss_weight_of_another_dtype_as_torch(fn, dtypes):
    """A class weight whose dtype differs from the input's: torch's nll_loss kernels refuse
    it (no promotion), the binary cross-entropies promote."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 0.9, (3, 4)).astype(dtypes[0])
    w = rng.uniform(0.5, 2.0, (4,)).astype(dtypes[1])
    target = np.array([0, 3, 1]) if "nll" in fn or "cross_entropy" == fn else (
        rng.uniform(size=(3, 4)) > 0.5).astype(dtypes[0])

    def run(lib, F):
        inp = lib.tensor(x, requires_grad=True)
        try:
            loss = getattr(F, fn)(inp, lib.tensor(target), weight=lib.tensor(w))
            loss.backward()
        except Exception as e:  # noqa: BLE001 (both engines' errors are compared)
            return str(e)
        return str(loss.dtype), float(loss), inp.grad.numpy()

    theirs, ours = run(torch, torch.nn.functional), run(engine, engine.F)
    if isinstance(theirs, str):
        assert ours == theirs
    else:
        assert ours[0] == theirs[0]
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5)
        np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-4, atol=1e-6)


TENSOR_LIST_ROWS = [r for r in ROWS.values() if r.returns == "Tensor[]" and r.samples is not None]


@pytest.mark.parametrize("row", TENSOR_LIST_ROWS, ids=[r.qualname for r in TENSOR_LIST_ROWS])
def test_tensor_list_results_are_tuples_as_torch(row):
    """torch.split, unbind, chunk...: a tuple of tensors (only torch.ops.aten gives a list),
    as a function and as a Tensor method."""
    sample = _sample(row, 0)
    for lib in (torch, engine):
        args = [to_torch(a) if lib is torch else to_engine(a) for a in sample.args]
        kwargs = {k: to_torch(v) if lib is torch else to_engine(v)
                  for k, v in sample.kwargs.items()}
        out = (torch_fn(row) if lib is torch else getattr(engine.F, row.name))(*args, **kwargs)
        assert type(out) is tuple, (lib.__name__, type(out))
        method = getattr(args[0], row.name, None)
        if method is not None:
            assert type(method(*args[1:], **kwargs)) is tuple, lib.__name__
