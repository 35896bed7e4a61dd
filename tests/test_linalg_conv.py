"""Linear algebra, convolution and pooling beyond the table-generated tests: routes that
depend on which operand requires grad, torch's error texts, and the saved-tensor
("backward twice") behaviour. torch is computed here, as the oracle."""

import numpy as np
import pytest
import torch
from support.harness import assert_close, node_signature

import engine
from engine.errors import OpError

TF = torch.nn.functional
EF = engine.F


def _arr(*shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).uniform(-2, 2, size=shape).astype(dtype)


def _graph(node, depth=0):
    """The whole graph below ``node`` as nested (name, children), both engines alike."""
    if node is None:
        return None
    name = node.name()
    if name.endswith("AccumulateGrad"):
        return "leaf"
    return (name, tuple(_graph(fn, depth + 1) for fn, _ in node.next_functions))


# --------------------------------------------------------------- matmul: routes by grad

MATMUL_CASES = [((2, 2, 3), (3, 4)), ((2, 3), (2, 3, 4)), ((2, 2, 3), (3,)), ((3,), (2, 3, 4)),
                ((1, 2, 3), (3, 3, 4)), ((3, 2, 3), (1, 3, 4)), ((2, 3), (1, 3, 4))]


@pytest.mark.parametrize("shapes", MATMUL_CASES)
@pytest.mark.parametrize("grad_of", ["both", "left", "right"])
def test_matmul_takes_torchs_route_for_each_requires_grad_pattern(shapes, grad_of):
    a, b = _arr(*shapes[0], seed=1), _arr(*shapes[1], seed=2)
    ra, rb = grad_of in ("both", "left"), grad_of in ("both", "right")
    ea, eb = engine.tensor(a, requires_grad=ra), engine.tensor(b, requires_grad=rb)
    ta, tb = torch.tensor(a, requires_grad=ra), torch.tensor(b, requires_grad=rb)
    ours, theirs = ea @ eb, ta @ tb
    assert_close(ours, theirs)
    assert _graph(ours.grad_fn) == _graph(theirs.grad_fn)
    seed = _arr(*theirs.shape, seed=3)
    inputs = [t for t, r in ((ea, ra), (eb, rb)) if r]
    t_inputs = [t for t, r in ((ta, ra), (tb, rb)) if r]
    for g, h in zip(engine.autograd.grad(ours, inputs, engine.tensor(seed)),
                    torch.autograd.grad(theirs, t_inputs, torch.tensor(seed))):
        assert_close(g, h)


def test_linear_through_a_non_contiguous_input_adds_the_bias_after_matmul():
    x = _arr(3, 2, 4)
    e = engine.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    w, b = _arr(5, 2, seed=1), _arr(5, seed=2)
    ours = EF.linear(e.transpose(1, 2), engine.tensor(w, requires_grad=True),
                     engine.tensor(b, requires_grad=True))
    theirs = TF.linear(t.transpose(1, 2), torch.tensor(w, requires_grad=True),
                       torch.tensor(b, requires_grad=True))
    assert_close(ours, theirs)
    assert node_signature(ours.grad_fn) == node_signature(theirs.grad_fn)


def test_addmm_with_beta_zero_ignores_nan_input():
    c = np.full((2, 4), np.nan, dtype="float32")
    a, b = _arr(2, 3), _arr(3, 4, seed=1)
    ours = EF.addmm(engine.tensor(c), engine.tensor(a), engine.tensor(b), beta=0)
    theirs = torch.addmm(torch.tensor(c), torch.tensor(a), torch.tensor(b), beta=0)
    assert_close(ours, theirs)


# --------------------------------------------------------------- error texts

def _ones_long(*shape):
    return np.ones(shape, dtype=np.int64)


F32 = np.float32
ERROR_CASES = [
    ("dot", lambda m, a, b: m.dot(a, b), [_arr(2, 3), _arr(3)]),
    ("dot", lambda m, a, b: m.dot(a, b), [_arr(3), _arr(4)]),
    ("dot", lambda m, a, b: m.dot(a, b), [_arr(3), _ones_long(3)]),
    ("mm", lambda m, a, b: m.mm(a, b), [_arr(2, 3), _arr(4, 5)]),
    ("mm", lambda m, a, b: m.mm(a, b), [_arr(3), _arr(3, 5)]),
    ("mm", lambda m, a, b: m.mm(a, b), [_arr(2, 3), _arr(3)]),
    ("mm", lambda m, a, b: m.mm(a, b), [_arr(2, 3), _ones_long(3, 4)]),
    ("mv", lambda m, a, b: m.mv(a, b), [_arr(2, 3), _arr(4)]),
    ("mv", lambda m, a, b: m.mv(a, b), [_arr(3), _arr(3)]),
    ("mv", lambda m, a, b: m.mv(a, b), [_arr(), _arr(3)]),
    ("mv", lambda m, a, b: m.mv(a, b), [_arr(), _arr()]),
    ("bmm", lambda m, a, b: m.bmm(a, b), [_arr(2, 2, 3), _arr(3, 3, 4)]),
    ("bmm", lambda m, a, b: m.bmm(a, b), [_arr(2, 3), _arr(2, 3, 4)]),
    ("bmm", lambda m, a, b: m.bmm(a, b), [_arr(2, 2, 3), _arr(2, 3, 4, dtype="float64")]),
    ("matmul", lambda m, a, b: m.matmul(a, b), [_arr(3), _arr(4)]),
    ("matmul", lambda m, a, b: m.matmul(a, b), [_arr(2, 3), _arr(4, 5)]),
    ("matmul", lambda m, a, b: m.matmul(a, b), [_arr(2, 3), _arr(4)]),
    ("matmul", lambda m, a, b: m.matmul(a, b), [_arr(3), _arr(4, 5)]),
    ("matmul", lambda m, a, b: m.matmul(a, b), [_arr(2, 2, 3), _arr(4, 5)]),
    ("matmul", lambda m, a, b: m.matmul(a, b), [_arr(2, 2, 3), _arr(2, 4, 5)]),
    ("matmul", lambda m, a, b: m.matmul(a, b), [_arr(2, 2, 3), _arr(3, 3, 5)]),
    ("matmul", lambda m, a, b: m.matmul(a, b), [_arr(4), _arr(2, 3, 5)]),
    ("outer", lambda m, a, b: m.outer(a, b), [_arr(2, 3), _arr(4)]),
    ("linear", lambda m, a, b, c: m.linear(a, b, c), [_arr(2, 3), _arr(4, 3), _arr(5)]),
    ("linear", lambda m, a, b: m.linear(a, b), [_arr(2, 3), _arr(4, 5)]),
    ("addmm", lambda m, a, b, c: m.addmm(a, b, c), [_arr(5), _arr(2, 3), _arr(3, 4)]),
    ("trace", lambda m, a: m.trace(a), [_arr(3)]),
    ("diag", lambda m, a: m.diag(a), [_arr(2, 2, 2)]),
    ("det", lambda m, a: m.det(a), [_arr(2, 3)]),
    ("det", lambda m, a: m.det(a), [_arr(3)]),
    ("det", lambda m, a: m.det(a), [_ones_long(2, 2)]),
    ("inverse", lambda m, a: m.inverse(a), [_arr(2, 3)]),
    ("inverse", lambda m, a: m.inverse(a), [np.zeros((3, 3), F32)]),
    ("inverse", lambda m, a: m.inverse(a), [np.zeros((2, 3, 3), F32)]),
    ("inverse", lambda m, a: m.inverse(a), [np.array([[1, 2], [2, 4]], F32)]),
    ("linalg_solve", lambda m, a, b: m.linalg_solve(a, b), [np.zeros((3, 3), F32), _arr(3)]),
    ("linalg_solve", lambda m, a, b: m.linalg_solve(a, b), [_arr(3, 3), _arr(4)]),
    ("linalg_solve", lambda m, a, b: m.linalg_solve(a, b), [_arr(3, 3), _arr(4, 2)]),
    ("linalg_solve", lambda m, a, b: m.linalg_solve(a, b, left=False), [_arr(3, 3), _arr(3)]),
    ("linalg_solve", lambda m, a, b: m.linalg_solve(a, b, left=False),
     [_arr(3, 3), _arr(3, 2)]),
    ("einsum", lambda m, a, b: m.einsum("ij,jk->ik", [a, b]), [_arr(2, 3), _arr(4, 5)]),
    ("einsum", lambda m, a: m.einsum("ijk->i", [a]), [_arr(2, 3)]),
    ("einsum", lambda m, a: m.einsum("ij->ii", [a]), [_arr(2, 3)]),
    ("einsum", lambda m, a: m.einsum("ii->i", [a]), [_arr(2, 3)]),
    ("conv2d", lambda m, a, b: m.conv2d(a, b), [_arr(1, 2, 5, 5), _arr(3, 3, 3, 3)]),
    ("conv2d", lambda m, a, b: m.conv2d(a, b), [_arr(1, 2, 2, 2), _arr(3, 2, 3, 3)]),
    ("conv2d", lambda m, a, b: m.conv2d(a, b, dilation=2), [_arr(1, 2, 4, 4), _arr(3, 2, 3, 3)]),
    ("conv2d", lambda m, a, b: m.conv2d(a, b), [_arr(5, 5), _arr(3, 2, 3, 3)]),
    ("conv2d", lambda m, a, b: m.conv2d(a, b), [_arr(1, 2, 5, 5), _arr(3, 2, 3)]),
    ("conv2d", lambda m, a, b: m.conv2d(a, b, groups=2), [_arr(1, 4, 5, 5), _arr(3, 2, 3, 3)]),
    ("conv2d", lambda m, a, b, c: m.conv2d(a, b, c), [_arr(1, 2, 5, 5), _arr(3, 2, 3, 3), _arr(4)]),
    ("conv2d", lambda m, a, b: m.conv2d(a, b, stride=0), [_arr(1, 2, 5, 5), _arr(3, 2, 3, 3)]),
    ("conv2d", lambda m, a, b: m.conv2d(a, b, padding=-1), [_arr(1, 2, 5, 5), _arr(3, 2, 3, 3)]),
    ("conv2d", lambda m, a, b: m.conv2d(a, b, dilation=0), [_arr(1, 2, 5, 5), _arr(3, 2, 3, 3)]),
    ("conv2d", lambda m, a, b: m.conv2d(a, b, padding="same", stride=2),
     [_arr(1, 2, 5, 5), _arr(3, 2, 3, 3)]),
    ("conv2d", lambda m, a, b: m.conv2d(a, b, padding="foo"), [_arr(1, 2, 5, 5), _arr(3, 2, 3, 3)]),
    ("conv2d", lambda m, a, b: m.conv2d(a, b), [_arr(1, 2, 5, 5, dtype="float64"),
                                                _arr(3, 2, 3, 3)]),
    ("conv2d", lambda m, a, b, c: m.conv2d(a, b, c), [_arr(1, 2, 5, 5), _arr(3, 2, 3, 3),
                                                      _arr(3, dtype="float64")]),
    ("conv1d", lambda m, a, b: m.conv1d(a, b), [_arr(1, 2, 5), _arr(3, 3, 3)]),
    ("conv1d", lambda m, a, b: m.conv1d(a, b, dilation=0), [_arr(1, 2, 5), _arr(3, 2, 3)]),
    # aten's convolution itself, checks in torch's order (weight rank, parameter lengths,
    # groups, padding, stride, a negative dilation, input rank, then the shapes)
    *(("convolution", lambda m, a, b, _k=k: m.convolution(a, b, None, *_k), arrays)
      for k, arrays in [
          (([1], [0], [1], False, [0], 1), [_arr(), _arr()]),
          (([1], [-1], [1], False, [0], 0), [_arr(1, 1, 4), _arr(2, 1)]),
          (([1, 1], [0], [1], False, [0], 1), [_arr(1, 1), _arr(2, 1, 3)]),
          (([1], [-1], [1], False, [0], 0), [_arr(1, 1, 4), _arr(2, 1, 3)]),
          (([0], [-1], [1], False, [0], 1), [_arr(1, 1, 4), _arr(2, 1, 3)]),
          (([1], [0], [-1], False, [0], 1), [_arr(1, 1, 4), _arr(2, 1, 3)]),
          (([1], [0], [0], False, [0], 1), [_arr(1, 1), _arr(2, 1, 3)]),
          (([1], [0], [0], False, [0], 3), [_arr(1, 1, 4), _arr(2, 1, 3)]),
          (([1], [0], [0], False, [0], 1), [_arr(1, 1, 4), _arr(2, 1, 3)]),
          (([1], [0], [1], False, [0], 1), [_arr(), _arr(2, 1, 3)]),
      ]),
    ("conv1d", lambda m, a, b: m.conv1d(a, b), [_arr(5), _arr(3, 2, 3)]),
    ("max_pool2d", lambda m, a: m.max_pool2d(a, 3, padding=2), [_arr(1, 2, 5, 5)]),
    ("max_pool2d", lambda m, a: m.max_pool2d(a, 0), [_arr(1, 2, 5, 5)]),
    ("max_pool2d", lambda m, a: m.max_pool2d(a, 3), [_arr(1, 2, 2, 2)]),
    ("max_pool2d", lambda m, a: m.max_pool2d(a, 3), [_arr(5)]),
    ("max_pool2d", lambda m, a: m.max_pool2d(a, 2, dilation=0), [_arr(1, 2, 5, 5)]),
    ("max_pool2d", lambda m, a: m.max_pool2d(a, (2, 2, 2)), [_arr(1, 2, 5, 5)]),
    ("avg_pool2d", lambda m, a: m.avg_pool2d(a, 3, padding=2), [_arr(1, 2, 5, 5)]),
    ("avg_pool2d", lambda m, a: m.avg_pool2d(a, 3), [_arr(1, 2, 2, 2)]),
    ("avg_pool2d", lambda m, a: m.avg_pool2d(a, 2), [_arr()]),
    ("avg_pool2d", lambda m, a: m.avg_pool2d(a, 2), [_arr(2, 3)]),
    ("avg_pool2d", lambda m, a: m.avg_pool2d(a, 2, divisor_override=0), [_arr(1, 2, 5, 5)]),
]


class _TorchNS:
    """torch's functions under the engine's row names."""
    linalg_solve = staticmethod(torch.linalg.solve)

    def __getattr__(self, name):
        for space in (torch, TF):
            if hasattr(space, name):
                return getattr(space, name)
        raise AttributeError(name)


@pytest.mark.parametrize("case", ERROR_CASES, ids=[f"{c[0]}-{i}" for i, c in
                                                   enumerate(ERROR_CASES)])
def test_error_text_is_torchs(case):
    _, fn, arrays = case
    with pytest.raises(Exception) as theirs:
        fn(_TorchNS(), *[torch.tensor(a) for a in arrays])
    with pytest.raises(OpError) as ours:
        fn(EF, *[engine.tensor(a) for a in arrays])
    assert str(ours.value) == str(theirs.value)
    assert isinstance(ours.value, IndexError) == isinstance(theirs.value, IndexError)


def test_shape_rules_refuse_what_the_forward_refuses_without_computing():
    from engine.ops import ROWS
    with pytest.raises(OpError, match="mat1 and mat2 shapes cannot be multiplied"):
        ROWS["mm"].shape((2, 3), (4, 5))
    with pytest.raises(OpError, match="Kernel size can't be greater"):
        ROWS["conv2d"].shape((1, 2, 2, 2), (3, 2, 3, 3))
    assert ROWS["conv2d"].shape((1, 2, 10**6, 10**6), (3, 2, 3, 3), None, 2, 1) == (
        1, 3, 500000, 500000)


# --------------------------------------------------------------- backward twice

TWICE = {
    "mm": (lambda m, a, b: m.mm(a, b), [(2, 3), (3, 4)]),
    "matmul": (lambda m, a, b: m.matmul(a, b), [(2, 2, 3), (3, 4)]),
    "addmm": (lambda m, c, a, b: m.addmm(c, a, b), [(4,), (2, 3), (3, 4)]),
    "trace": (lambda m, a: m.trace(a), [(3, 3)]),
    "diag": (lambda m, a: m.diag(a), [(3, 3)]),
    "det": (lambda m, a: m.det(a), [(3, 3)]),
    "einsum": (lambda m, a, b: m.einsum("ij,jk->ik", [a, b]), [(2, 3), (3, 4)]),
    "conv2d": (lambda m, a, b: m.conv2d(a, b), [(1, 2, 5, 5), (3, 2, 3, 3)]),
    "conv2d-bias-only": (lambda m, a, w, b: m.conv2d(a.detach(), w.detach(), b),
                         [(1, 2, 5, 5), (3, 2, 3, 3), (3,)]),
    "max_pool2d": (lambda m, a: m.max_pool2d(a, 2), [(1, 2, 4, 4)]),
    "avg_pool2d": (lambda m, a: m.avg_pool2d(a, 2), [(1, 2, 4, 4)]),
}


def _twice(ns, mod, fn, shapes):
    ts = [mod.tensor(_arr(*s, seed=i), requires_grad=True) for i, s in enumerate(shapes)]
    out = fn(ns, *ts).sum()
    out.backward()
    try:
        out.backward()
    except RuntimeError:
        return "error"
    return "ok"


@pytest.mark.parametrize("name", sorted(TWICE))
def test_backward_twice_behaves_as_torch(name):
    fn, shapes = TWICE[name]
    assert _twice(EF, engine, fn, shapes) == _twice(_TorchNS(), torch, fn, shapes)


# --------------------------------------------------------------- integer inputs

@pytest.mark.parametrize("kwargs", [{"kernel_size": 3, "stride": 2, "padding": 1},
                                    {"kernel_size": 2},
                                    {"kernel_size": 3, "stride": 2, "padding": 1,
                                     "count_include_pad": False, "ceil_mode": True}])
@pytest.mark.parametrize("pool", ["avg_pool2d", "max_pool2d"])
def test_integer_pooling_matches_torch(pool, kwargs):
    if pool == "max_pool2d":
        kwargs = {k: v for k, v in kwargs.items() if k != "count_include_pad"}
    x = np.random.default_rng(4).integers(-5, 5, (1, 2, 5, 5))
    ours = getattr(EF, pool)(engine.tensor(x), **kwargs)
    theirs = getattr(TF, pool)(torch.tensor(x), **kwargs)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())  # C++ truncating division
    assert ours.dtype.name == "int64"


def test_integer_conv_and_mm_match_torch():
    x = np.random.default_rng(5).integers(-5, 5, (1, 2, 5, 5))
    w = np.random.default_rng(6).integers(-3, 3, (3, 2, 3, 3))
    np.testing.assert_array_equal(EF.conv2d(engine.tensor(x), engine.tensor(w)).numpy(),
                                  TF.conv2d(torch.tensor(x), torch.tensor(w)).numpy())
    np.testing.assert_array_equal(EF.mm(engine.tensor(x[0, 0]), engine.tensor(x[0, 1])).numpy(),
                                  torch.mm(torch.tensor(x[0, 0]), torch.tensor(x[0, 1])).numpy())


# --------------------------------------------------------------- det of a singular matrix

@pytest.mark.parametrize("matrix", [
    [[1.0, 2, 3], [2, 4, 6], [1, 0, 1]],  # rank 2: the adjugate is not zero
    [[1.0, 2], [2, 4]],
    [[[1.0, 2], [2, 4]], [[1, 0], [0, 2]]],  # a batch with one singular member
    [[0.0, 0, 0], [0, 0, 0], [0, 0, 0]],
])
def test_det_gradient_of_a_singular_matrix_is_the_cofactor_matrix(matrix):
    a = np.array(matrix)
    e, t = engine.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (ge,) = engine.autograd.grad(EF.det(e).sum(), e, create_graph=True)
    (gt,) = torch.autograd.grad(torch.det(t).sum(), t, create_graph=True)
    assert_close(ge, gt)
    (gge,) = engine.autograd.grad((ge * ge).sum(), e)
    (ggt,) = torch.autograd.grad((gt * gt).sum(), t)
    if not torch.isnan(ggt).any():  # torch's SVD form gives NaN at A = 0; ours stays exact
        assert_close(gge, ggt)


@pytest.mark.parametrize("fn", ["convolution", "conv2d", "conv1d"])
@pytest.mark.parametrize("batch", [1, 2])  # 2: torch's oneDNN kernel, with its own texts
@pytest.mark.parametrize("dtypes", [("float32", "float32", "float64"),
                                    ("float64", "float64", "float32"),
                                    ("float32", "float64", "float32"),
                                    ("float64", "float32", "float64")])
def test_convolution_of_mixed_dtypes_as_torch(fn, batch, dtypes):
    """Input, weight and bias of differing dtypes: aten's convolution refuses a weight of
    another dtype (in its oneDNN kernel's words for a float32 batch) and casts a bias except
    in that kernel; conv1d/conv2d refuse a bias of another dtype first."""
    rng = np.random.default_rng(0)
    spatial = (5, 5) if fn != "conv1d" else (5,)
    x = rng.random((batch, 2, *spatial)).astype(dtypes[0])
    w = rng.random((3, 2, *(3,) * len(spatial))).astype(dtypes[1])
    b = rng.random(3).astype(dtypes[2])

    def run(lib, F):
        xt, wt, bt = (lib.tensor(a, requires_grad=True) for a in (x, w, b))
        try:
            if fn == "convolution":
                conv = torch.ops.aten.convolution if lib is torch else engine.convolution
                out = conv(xt, wt, bt, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
            else:
                out = getattr(F, fn)(xt, wt, bt)
            out.sum().backward()
        except Exception as e:  # noqa: BLE001 (both engines' errors are compared)
            return str(e)
        return (str(out.dtype), str(bt.grad.dtype), out.detach().numpy(), bt.grad.numpy())

    theirs, ours = run(torch, TF), run(engine, EF)
    if isinstance(theirs, str):
        assert ours == theirs
        return
    assert ours[:2] == theirs[:2]
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours[3], theirs[3], rtol=1e-5)
