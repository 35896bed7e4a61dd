"""x[index] against torch: values, dtypes, the whole grad_fn graph (names, next_functions),
first- and second-order gradients, error types and texts; the JSON form of an index; and
the error texts of the shape rows (cat, split, gather, ...)."""

import warnings

import numpy as np
import pytest
import torch

import engine
from service.wire.index_form import decode_index, encode_index

warnings.filterwarnings("ignore", message=".*non-tuple sequence.*")
warnings.filterwarnings("ignore", message=".*indexing with dtype torch.uint8.*")

SHAPE = (3, 4, 5)
MASK0 = np.array([True, False, True])
MASK2D = np.array([[True, False, True, True], [False, False, True, False],
                   [True, True, False, False]])

# (index, input shape); arrays are index tensors (converted for each side)
CASES = [
    (0, SHAPE), (-1, SHAPE), (2, SHAPE), (slice(1, None), SHAPE), (slice(None), SHAPE),
    (slice(None, None, 2), SHAPE), (slice(-2, None), SHAPE), (slice(-10, 10), SHAPE),
    (slice(2, 1), SHAPE), (slice(5, None), SHAPE), (slice(0, 3, 5), SHAPE),
    (slice(None, 2 ** 70), SHAPE), ((slice(None), 1), SHAPE), ((slice(None), slice(None)), SHAPE),
    ((slice(None),), SHAPE), ((slice(0, 3), 1), SHAPE), ((slice(0, 100), 1), SHAPE),
    ((slice(-3, None), 1), SHAPE), (None, SHAPE), ((None, None), SHAPE),
    ((Ellipsis, 0), SHAPE), ((Ellipsis, None), SHAPE), ((0, Ellipsis, None), SHAPE),
    ((Ellipsis, 0, Ellipsis), SHAPE), (Ellipsis, SHAPE), ((), SHAPE), ((0, slice(1, None)), SHAPE),
    ((0, 1), SHAPE), ((0, 1, 2), SHAPE), ((slice(1, None), slice(2, None)), SHAPE),
    ((slice(1, None), None, 0), SHAPE), ((slice(1, 2), None), SHAPE),
    ((None, Ellipsis, None), SHAPE), ([0, 2], SHAPE), ([0, 0, 1], SHAPE), ([-1, 0], SHAPE),
    ([], SHAPE), ([True, False, True], SHAPE), ([[0, 1]], SHAPE), ([[0, 1], [1, 2]], SHAPE),
    ([0, slice(1, 2)], SHAPE), ([None], SHAPE), ([0] * 32, SHAPE), ([0.5, 1.0], SHAPE),
    (MASK0, SHAPE), (MASK2D, SHAPE), (np.zeros(3, dtype=bool), SHAPE),
    (MASK2D.astype(np.uint8), SHAPE), (np.array([0, 1], dtype=np.int32), SHAPE),
    (np.array([[0, 1], [2, 0]]), SHAPE), (np.zeros((0, 2), dtype=np.int64), SHAPE),
    (np.array(1), SHAPE), (np.array(True), SHAPE), (np.array(False), SHAPE),
    (np.array(1, dtype=np.uint8), SHAPE), (np.int64(1), SHAPE),
    ((slice(None), [0, 2]), SHAPE), (([0, 1], [1, 2]), SHAPE), (([0, 1], slice(None), [1, 2]), SHAPE),
    ((0, [1, 2]), SHAPE), ((slice(1, 3), [0, 1]), SHAPE), (([0, 1], slice(1, 3), [2, 3]), SHAPE),
    ((slice(None), [0, 1], [2, 3]), SHAPE), ((np.array([[0], [1]]), np.array([0, 1, 2])), SHAPE),
    (([0, 1], 0), SHAPE), ((slice(1, None), 0, [1, 2]), SHAPE), (([0, 1], None, [1, 2]), SHAPE),
    ((MASK0, slice(1, None)), SHAPE), ((MASK0, 0), SHAPE), ((MASK2D, 0), SHAPE),
    ((0, np.arange(20).reshape(4, 5) % 3 == 0), SHAPE),
    ((None, MASK0), SHAPE), ((slice(1, None), np.array([True, False, True, True])), SHAPE),
    ((slice(None), [True, False, True, True]), SHAPE), ((Ellipsis, [True, False, True, True, False]), SHAPE),
    ((MASK2D, None), SHAPE), ((MASK0, slice(None), [0, 1]), SHAPE), (([0, 1], Ellipsis, 0), SHAPE),
    ((np.array(1), slice(1, None)), SHAPE), ([np.array(1)], SHAPE), ((0, slice(None)), SHAPE),
    (True, SHAPE), (False, SHAPE), ((None, False), SHAPE), ((True, 1), SHAPE),
    ((0, 0, 0, None), SHAPE), ((0,), (4,)), (slice(1, 3), (4,)), (((0, 1),), SHAPE),
    (None, ()), (Ellipsis, ()), ((), ()), (np.array(True), ()), (True, ()), ((None, None), ()),
    (slice(None), (0, 3)), ((slice(None), 1), (0, 3)), ((slice(0, 0), 1), (0, 3)),
]


def _ids():
    return [f"{i}-{repr(c[0])[:40]}" for i, c in enumerate(CASES)]


def _conv(index, to):
    if isinstance(index, tuple):
        return tuple(_conv(i, to) for i in index)
    if isinstance(index, list):
        return [_conv(i, to) for i in index]
    if isinstance(index, np.ndarray):
        return to(index)
    return index


def _both(index, shape, seed=0):
    data = np.random.default_rng(seed).uniform(-2, 2, size=shape).astype("float32")
    x = engine.tensor(data, requires_grad=True)
    t = torch.tensor(data, requires_grad=True)
    return x, t, _conv(index, engine.tensor), _conv(index, torch.from_numpy)


def graph_signature(root):
    """Every node reachable from ``root`` (breadth first, iteratively): its name and its
    next_functions as (name, output_nr)."""
    out, queue, seen = [], [root], set()
    while queue:
        node = queue.pop(0)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        edges = tuple((None if fn is None else fn.name(), nr) for fn, nr in node.next_functions)
        out.append((node.name(), edges))
        queue.extend(fn for fn, _ in node.next_functions)
    return out


def _np(t):
    return t.detach().numpy()


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_getitem_matches_torch(case):
    index, shape = case
    x, t, ei, ti = _both(index, shape)
    ours, theirs = x[ei], t[ti]
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(_np(ours), _np(theirs))
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
    assert graph_signature(ours.grad_fn) == graph_signature(theirs.grad_fn)
    # first order, with a seed; then second order through create_graph
    seed = np.random.default_rng(1).uniform(0.5, 1.5, size=tuple(theirs.shape)).astype("float32")
    (g,) = engine.autograd.grad(ours, x, engine.tensor(seed), create_graph=True)
    (tg,) = torch.autograd.grad(theirs, t, torch.tensor(seed), create_graph=True)
    np.testing.assert_allclose(_np(g), _np(tg), rtol=1e-6)
    if tg.requires_grad:
        v = np.random.default_rng(2).uniform(0.5, 1.5, size=shape).astype("float32")
        s, ts = (g * engine.tensor(v)).sum(), (tg * torch.tensor(v)).sum()
        if ts.requires_grad:
            (gg,) = engine.autograd.grad(s, x, allow_unused=True)
            (tgg,) = torch.autograd.grad(ts, t, allow_unused=True)
            assert (gg is None) == (tgg is None) or np.allclose(_np(tgg), 0)


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_json_form_round_trips(case):
    """decode(encode(index)) indexes exactly as the index itself (values and graph)."""
    index, shape = case
    if isinstance(index, np.ndarray) and index.size == 0 and index.ndim > 1:
        pytest.skip("nested lists cannot say the shape of an empty (0, 2) index")
    spec = encode_index(index)
    import json
    spec = json.loads(json.dumps(spec))
    decoded = decode_index(spec)
    x, t, _, ti = _both(index, shape)
    ours, theirs = x[_conv(decoded, engine.tensor)], t[ti]
    np.testing.assert_array_equal(_np(ours), _np(theirs))
    assert graph_signature(ours.grad_fn) == graph_signature(theirs.grad_fn)


def test_duplicate_indices_accumulate():
    x, t, ei, ti = _both([0, 0, 1, 0], SHAPE)
    x[ei].sum().backward()
    t[ti].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    assert x.grad.numpy()[0, 0, 0] == 3


def test_second_order_through_index_matches_finite_differences():
    """(x[idx] ** 3).sum(): the Hessian-vector product through the accumulating VJP."""
    data = np.random.default_rng(3).uniform(-1, 1, size=(4, 3))
    idx = [0, 2, 0, 3]
    v = np.random.default_rng(4).uniform(size=(4, 3))
    x = engine.tensor(data, requires_grad=True)
    (g,) = engine.autograd.grad((x[idx] ** 3).sum(), x, create_graph=True)
    (hv,) = engine.autograd.grad((g * engine.tensor(v)).sum(), x)
    counts = np.zeros(4)
    np.add.at(counts, idx, 1)
    expected = 6 * data * counts[:, None] * v
    np.testing.assert_allclose(hv.numpy(), expected, rtol=1e-10)


def test_backward_twice_like_torch():
    """IndexBackward0 saves the indices (freed): twice errors; SelectBackward0 saves none."""
    for index, twice_ok in [([0, 2], False), (MASK0, False), (0, True), (slice(1, None), True),
                            (None, True)]:
        x, t, ei, ti = _both(index, SHAPE)
        for a, idx in ((x, ei), (t, ti)):
            y = a[idx].sum()
            y.backward()
            if twice_ok:
                y.backward()
            else:
                with pytest.raises(RuntimeError, match="backward through the graph a second"):
                    y.backward()


ERROR_CASES = [
    (3, SHAPE), (-4, SHAPE), ((0, 0, 0, 0), SHAPE), (1.5, SHAPE), ([0, 3], SHAPE),
    (slice(None, None, -1), SHAPE), (slice(None, None, 0), SHAPE), ((0, slice(None, None, -1)), SHAPE),
    (slice(1.0, None), SHAPE), (np.array([True, False]), SHAPE), ((slice(None), np.array([True, False])), SHAPE),
    (np.array([0.0, 1.0]), SHAPE), (np.array(1.0), SHAPE), ("a", SHAPE), ({}, SHAPE),
    (([0, 1], [0, 1, 2]), SHAPE), ((0, 0, 0, None, 0), SHAPE), (([0], [0], [0], [0]), SHAPE),
    ((None, 5), SHAPE), ((Ellipsis, 7), SHAPE), ((slice(None), None, 9), SHAPE), ((1, 1, 9), SHAPE),
    ((True, 5), SHAPE), ((MASK0, 9), SHAPE), ((None, [0, 3]), SHAPE), ((slice(None), [0, 4]), SHAPE),
    ((0, [0, 4]), SHAPE), (([0], [7]), SHAPE), ((0, 0, 0, Ellipsis, 0), SHAPE),
    (np.ones((3, 5), dtype=bool), SHAPE), (MASK2D[:0], SHAPE), ([[True, False, True, True]] * 3, SHAPE),
    (0, ()), (1, ()), (-1, ()), ((1,), ()), ((None, 0), ()), (slice(None), ()), ([], ()),
    (np.array([True, False]), ()),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[f"{i}-{repr(c[0])[:30]}"
                                                   for i, c in enumerate(ERROR_CASES)])
def test_index_errors_match_torch(case):
    index, shape = case
    x, t, ei, ti = _both(index, shape)
    with pytest.raises(Exception) as theirs:
        t[ti]
    with pytest.raises(Exception) as ours:
        x[ei]
    assert str(ours.value) == str(theirs.value)
    assert isinstance(ours.value, type(theirs.value)), (type(ours.value), type(theirs.value))


# ------------------------------------------------------------------ the JSON form itself

def test_decode_index_items():
    spec = [0, {"slice": [1, None, None]}, None, "...", [0, 2], [[True, False]], "w", True,
            [[0, 1], [1, 0]], []]
    got = decode_index(spec)
    assert isinstance(got, tuple) and len(got) == len(spec)
    assert got[0] == 0 and got[1] == slice(1, None, None) and got[2] is None
    assert got[3] is Ellipsis and got[6] == "w" and got[7] is True
    assert got[4].dtype == np.int64 and got[4].tolist() == [0, 2]
    assert got[5].dtype == np.bool_ and got[5].shape == (1, 2)
    assert got[8].shape == (2, 2) and got[9].dtype == np.int64 and got[9].shape == (0,)
    # a non-list is one item, not a tuple (x[:] differs from x[(slice(None),)] in torch)
    assert decode_index({"slice": [None, None, 2]}) == slice(None, None, 2)
    assert decode_index(3) == 3 and decode_index(None) is None
    assert decode_index("...") is Ellipsis and decode_index("name") == "name"


@pytest.mark.parametrize("bad", [1.5, {"slice": [1, 2]}, {"slice": [1.0, None, None]},
                                 {"slice": [True, None, None]}, {"step": 1}, [[0, 1], [2]],
                                 [[0, True]], [[0.5]], [["a"]]])
def test_decode_index_refuses_clearly(bad):
    with pytest.raises(engine.errors.OpError):
        decode_index([bad])


def test_encode_index_forms():
    assert encode_index((0, slice(1, None), None, Ellipsis)) == [
        0, {"slice": [1, None, None]}, None, "..."]
    assert encode_index(slice(None)) == {"slice": [None, None, None]}
    assert encode_index([0, 2]) == [[0, 2]]  # one index list, not a tuple of ints
    assert encode_index([0, slice(1, 2)]) == [0, {"slice": [1, 2, None]}]  # torch: a tuple
    assert encode_index(engine.tensor([True, False])) == [[True, False]]
    assert encode_index((engine.tensor(1), "w")) == [1, "w"]
    assert encode_index(np.int64(2)) == 2 and encode_index(True) is True
    with pytest.raises(engine.errors.OpError):
        encode_index(np.array([0.5]))


# ------------------------------------------------------------------ error texts of the rows

def _err_both(fn_e, fn_t):
    with pytest.raises(Exception) as theirs:
        fn_t()
    with pytest.raises(Exception) as ours:
        fn_e()
    assert str(ours.value) == str(theirs.value)
    assert isinstance(ours.value, engine.errors.OpError)


ROW_ERRORS = {
    "flatten order": lambda m, x: m.flatten(x, 2, 1),
    "flatten oor": lambda m, x: m.flatten(x, 0, 3),
    "squeeze dup": lambda m, x: m.squeeze(x, (1, 1)),
    "squeeze oor": lambda m, x: m.squeeze(x, 5),
    "unsqueeze oor": lambda m, x: m.unsqueeze(x, 4),
    "transpose oor": lambda m, x: m.transpose(x, 0, 3),
    "t 3d": lambda m, x: m.t(x),
    "broadcast_to": lambda m, x: m.broadcast_to(x, (3, 3, 4)),
    "cat empty": lambda m, x: m.cat([]),
    "cat sizes": lambda m, x: m.cat([x, m.ones(2, 4, 4)], 2),
    "cat ndim": lambda m, x: m.cat([x, m.ones(2, 4)], 0),
    "cat oor": lambda m, x: m.cat([x, x], 3),
    "cat 0d": lambda m, x: m.cat([m.ones(()), m.ones(())]),
    "stack empty": lambda m, x: m.stack([]),
    "stack sizes": lambda m, x: m.stack([x, m.ones(2, 4, 4)], 1),
    "stack oor": lambda m, x: m.stack([x, x], 4),
    "split 0": lambda m, x: m.split(x, 0, 2),
    "split neg": lambda m, x: m.split(x, -1, 2),
    "split sum": lambda m, x: m.split(x, [1, 2], 2),
    "split neg sizes": lambda m, x: m.split(x, [5, -1], 2),
    "split 0d": lambda m, x: m.split(m.ones(()), 1),
    "chunk 0": lambda m, x: m.chunk(x, 0, 2),
    "chunk 0d": lambda m, x: m.chunk(m.ones(()), 1),
    "unbind 0d": lambda m, x: m.unbind(m.ones(())),
    "select oor": lambda m, x: m.select(x, 1, 3),
    "select neg": lambda m, x: m.select(x, 0, -3),
    "select 0d": lambda m, x: m.select(m.ones(()), 0, 0),
    "narrow len": lambda m, x: m.narrow(x, 2, 0, -1),
    "narrow start": lambda m, x: m.narrow(x, 2, 5, 0),
    "narrow sum": lambda m, x: m.narrow(x, 2, 3, 2),
    "narrow 0d": lambda m, x: m.narrow(m.ones(()), 0, 0, 1),
    "gather ndim": lambda m, x: m.gather(x, 2, m.tensor([[5]])),
    "gather oob": lambda m, x: m.gather(x, 2, m.tensor([[[5]]])),
    "gather neg": lambda m, x: m.gather(x, 2, m.tensor([[[-1]]])),
    "gather size": lambda m, x: m.gather(x, 2, m.zeros(3, 3, 1, dtype=m.int64)),
    "gather dtype": lambda m, x: m.gather(x, 2, m.tensor([[[0.0]]])),
    "index_select dtype": lambda m, x: m.index_select(x, 1, m.tensor([0.0])),
    "index_select oob": lambda m, x: m.index_select(x, 1, m.tensor([3])),
    "index_select 2d": lambda m, x: m.index_select(x, 1, m.tensor([[0]])),
    "index_select scalar": lambda m, x: m.index_select(m.ones(()), 0, m.tensor([0, 0])),
    "permute long": lambda m, x: x.permute(0, 1, 2, 3),
    "permute long, out of range": lambda m, x: m.ones(3).permute(0, 1),
    "permute 0d": lambda m, x: m.ones(()).permute(0, 1),
    "permute dup": lambda m, x: x.permute(0, 0, 1),
    "permute range": lambda m, x: x.permute(0, 1, 3),
    "flip dup": lambda m, x: m.flip(x, (0, 0)),
    "roll align": lambda m, x: m.roll(x, (1, 2), (0,)),
    "roll no dims": lambda m, x: m.roll(x, (1, 2)),
    "roll empty": lambda m, x: m.roll(x, ()),
    "repeat few": lambda m, x: x.repeat(2, 1),
    "repeat neg": lambda m, x: x.repeat(-1, 1, 1),
    "pad odd": lambda m, x: m.nn.functional.pad(x, (1,)),
    "pad long": lambda m, x: m.nn.functional.pad(x, (1, 1) * 4),
    "pad crop": lambda m, x: m.nn.functional.pad(x, (-3, -2)),
    "pad mode": lambda m, x: m.nn.functional.pad(x, (1, 1), mode="foo"),
}


@pytest.mark.parametrize("name", list(ROW_ERRORS))
def test_row_errors_match_torch(name):
    fn = ROW_ERRORS[name]
    data = np.random.default_rng(0).uniform(size=(2, 3, 4)).astype("float32")
    x, t = engine.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    with pytest.raises(Exception) as theirs:
        fn(torch, t)
    with pytest.raises(engine.errors.OpError) as ours:
        fn(_EngineNS, x)
    assert str(ours.value) == str(theirs.value)


class _EngineNS:
    """torch-like names over engine.F for the table above."""

    def __getattr__(self, name):
        return getattr(engine.F, name)


_EngineNS = _EngineNS()
_EngineNS.ones = lambda *s: engine.F.ones(*s) if s != ((),) else engine.tensor(1.0)
_EngineNS.zeros = lambda *s, dtype=None: engine.F.zeros(*s, dtype=dtype)
_EngineNS.tensor = engine.tensor
_EngineNS.int64 = engine.int64 if hasattr(engine, "int64") else "int64"
_EngineNS.nn = type("nn", (), {"functional": engine.F})()


# ------------------------------------------------------------------ behaviours beside the table

def test_flatten_same_dim_returns_self():
    x = engine.tensor(np.ones((2, 3)), requires_grad=True)
    t = torch.ones(2, 3, requires_grad=True)
    assert (x.flatten(1, 1) is x) == (t.flatten(1, 1) is t)
    assert engine.tensor(np.ones(3), requires_grad=True).flatten().grad_fn is None


def test_multi_output_rows_number_their_outputs():
    data = np.random.default_rng(0).uniform(size=(2, 5)).astype("float32")
    x, t = engine.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    for name, args in [("split", (2, 1)), ("split", ([1, 4], 1)), ("chunk", (3, 1)),
                       ("unbind", (1,)), ("split_with_sizes", ([2, 3], 1))]:
        ours, theirs = getattr(x, name)(*args), getattr(t, name)(*args)
        assert [(o.grad_fn.name(), o.output_nr) for o in ours] == [
            (o.grad_fn.name(), o.output_nr) for o in theirs]
        # a gradient for one output only: the others count as zeros
        ours[1].sum().backward()
        theirs[1].sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
        x.grad = None
        t.grad = None


def test_integer_tensors_index_without_a_graph():
    data = np.arange(12).reshape(3, 4)
    x, t = engine.tensor(data), torch.tensor(data)
    for index in [[0, 2], (slice(1, None), None, 0), (Ellipsis, 1)]:
        ours, theirs = x[index], t[index]
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert ours.dtype.name == "int64" and ours.grad_fn is None
    np.testing.assert_array_equal(x[x > 5].numpy(), t[t > 5].numpy())


def test_iteration_unbinds():
    x = engine.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)
    assert [r.grad_fn.name() for r in rows] == ["UnbindBackward0"] * 3
    assert [r.output_nr for r in rows] == [0, 1, 2]


def _random_index(rng):
    """A random mix of ints, slices, None, Ellipsis, lists, masks, 0-d and 2-D index arrays
    and bools, as a tuple or as one object."""
    items = []
    for _ in range(int(rng.integers(1, 5))):
        kind = rng.integers(0, 9)
        if kind == 0:
            items.append(int(rng.integers(-3, 3)))
        elif kind == 1:
            a, b = (int(v) if v is not None else None for v in rng.choice(
                [None, -4, -1, 0, 1, 2, 6], size=2))
            items.append(slice(a, b, int(rng.choice([1, 1, 2, 3]))))
        elif kind == 2:
            items.append(None)
        elif kind == 3:
            items.append(Ellipsis)
        elif kind == 4:
            items.append([int(v) for v in rng.integers(-2, 2, size=int(rng.integers(0, 4)))])
        elif kind == 5:
            shape = tuple(int(n) for n in rng.integers(0, 4, size=int(rng.integers(0, 3))))
            items.append(rng.integers(0, 2, size=shape).astype(bool))
        elif kind == 6:
            items.append(np.array(rng.integers(-2, 3)))
        elif kind == 7:
            items.append(rng.integers(-2, 2, size=(2, 2)))
        else:
            items.append(bool(rng.integers(0, 2)))
    return tuple(items) if rng.integers(0, 3) else items[0]


@pytest.mark.parametrize("block", range(4))
def test_fuzz_against_torch(block):
    """Random indices on random shapes (zero sizes included): the same result, graph and
    gradient as torch, or the same error type and text."""
    checked = 0
    for seed in range(block * 500, block * 500 + 500):
        rng = np.random.default_rng(seed)
        shape = tuple(int(n) for n in rng.integers(0, 4, size=int(rng.integers(0, 4))))
        data = rng.uniform(size=shape).astype("float32")
        index = _random_index(rng)
        x, t = engine.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        try:
            theirs = t[_conv(index, torch.from_numpy)]
        except Exception as e:  # noqa: BLE001
            with pytest.raises(type(e)) as ours:
                x[_conv(index, engine.tensor)]
            assert str(ours.value) == str(e), (seed, index)
            continue
        ours = x[_conv(index, engine.tensor)]
        np.testing.assert_array_equal(_np(ours), _np(theirs), err_msg=repr((seed, index)))
        assert graph_signature(ours.grad_fn) == graph_signature(theirs.grad_fn), (seed, index)
        if theirs.numel():
            ours.sum().backward()
            theirs.sum().backward()
            np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy(),
                                          err_msg=repr((seed, index)))
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("name", ["gather", "index_select", "cat", "select", "pad", "repeat",
                                  "split", "flip"])
def test_saved_values_like_torch(name):
    """Rows that save an index tensor refuse a second backward, as torch's do; the others
    save only sizes and may go twice."""
    calls = {
        "gather": lambda m, x: m.gather(x, 1, m.tensor([[0], [1], [0]])),
        "index_select": lambda m, x: m.index_select(x, 1, m.tensor([0, 0])),
        "cat": lambda m, x: m.cat([x, x]),
        "select": lambda m, x: m.select(x, 0, 1),
        "pad": lambda m, x: m.constant_pad_nd(x, (1, 1)),
        "repeat": lambda m, x: x.repeat(2, 1),
        "split": lambda m, x: m.split(x, 1)[0],
        "flip": lambda m, x: m.flip(x, (0,)),
    }
    data = np.random.default_rng(0).uniform(size=(3, 4)).astype("float32")
    outcomes = []
    for m, lib in ((torch, torch), (_EngineNS, engine)):
        x = lib.tensor(data, requires_grad=True)
        y = calls[name](m, x).sum()
        y.backward()
        try:
            y.backward()
            outcomes.append("ok")
        except RuntimeError as e:
            outcomes.append(str(e)[:60])
    assert outcomes[0] == outcomes[1]


# select_backward / slice_backward write grad_output into a part of zeros, as torch's copy_:
# a grad that does not broadcast to that part gets torch's error text
_WRITE_INTO = [((3, 4), (0,)), ((4,), (2, 4)), ((2, 4), (3, 4)), ((4,), (0, 4)),
               ((3, 4), (1, 4)), ((3, 4), (4,)), ((3, 4), (1,))]


@pytest.mark.parametrize("name, args", [("select_backward", (0, 1)),
                                        ("slice_backward", (0, 0, 2, 1))])
@pytest.mark.parametrize("sizes, grad_shape", _WRITE_INTO)
def test_backward_kernels_broadcast_grad_as_torch(name, args, sizes, grad_shape):
    def run(fn, lib):
        try:
            return fn(lib.zeros(grad_shape), sizes, *args).shape
        except Exception as e:  # noqa: BLE001 (both engines' errors are compared)
            return str(e)
    assert run(getattr(engine.F, name), engine) == run(getattr(torch.ops.aten, name), torch)
