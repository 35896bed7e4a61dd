"""Forward-mode AD (autograd.forward_ad) vs torch.autograd.forward_ad computed in the test.

Generated from the op table: every row with a ``jvp`` rule, on each of its samples, with a
random tangent on every floating Tensor argument (float64), against torch's forward AD on
the same primals and tangents (where torch has none for the op, against central
differences). Rows without a rule must raise torch's NotImplementedError. Then
compositions, in-place ops and the errors."""

import sys

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as tfw
from support.harness import to_engine, to_torch, torch_fn
from support.made_up_derivatives import TorchWrongJvpCube, temporary_op

import engine
from engine.autograd import forward_ad as fw
from engine.ops import ROWS
from engine.ops.samples import Const

JVP_CASES = [(row, i) for row in ROWS.values() if row.jvp is not None and row.samples
             for i in range(len(row.samples(np.random.default_rng(0))))]
NO_JVP = [row for row in ROWS.values() if row.jvp is None and not row.composite
          and not row.creation and row.grad_fn and row.vjp]


def _sample(row, i):
    """The row's sample, every floating array (targets, weights too) in float64."""
    sample = row.samples(np.random.default_rng(4321 + i))[i]

    def wide(v):
        if isinstance(v, Const) and v.array.dtype.kind == "f":
            return Const(v.array.astype("float64"))
        if isinstance(v, list):
            return [wide(x) for x in v]
        return v
    sample.args = tuple(wide(a) for a in sample.args)
    sample.kwargs = {k: wide(v) for k, v in sample.kwargs.items()}
    return sample


def _tangents(row, sample, rng):
    """A tangent (or None) for each argument, by position/keyword: random for the
    floating Tensors in differentiable positions."""
    diff = {row.params[i].name for i in row.diff_params}
    names = [p.name for p in row.params]

    def make(name, v):
        if name not in diff:
            return None
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            return rng.standard_normal(v.shape)
        if isinstance(v, list) and v and all(isinstance(x, np.ndarray) for x in v):
            return [rng.standard_normal(x.shape) for x in v]
        return None
    args = [make(names[k] if k < len(names) else "", v) for k, v in enumerate(sample.args)]
    kwargs = {k: make(k, v) for k, v in sample.kwargs.items()}
    return args, kwargs


def _duals(mod):
    """value, tangent -> mod's Tensor (float64), a dual where a tangent is given."""
    conv = to_engine if mod is engine else to_torch
    make_dual = fw.make_dual if mod is engine else tfw.make_dual
    tensor = engine.tensor if mod is engine else torch.tensor

    def one(v, t):
        x = conv(v, "float64")
        if t is None:
            return x
        if isinstance(t, list):
            return [make_dual(xi.detach(), tensor(ti)) for xi, ti in zip(x, t)]
        return make_dual(x.detach(), tensor(t))
    return one


def _run(mod, row, sample, tangents):
    t_args, t_kwargs = tangents
    one = _duals(mod)
    args = [one(v, t) for v, t in zip(sample.args, t_args)]
    kwargs = {k: one(v, t_kwargs[k]) for k, v in sample.kwargs.items()}
    fn = getattr(engine.F, row.name) if mod is engine else torch_fn(row)
    out = fn(*args, **kwargs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    unpack = fw.unpack_dual if mod is engine else tfw.unpack_dual
    res = []
    for o in outs:
        primal, tangent = unpack(o)
        res.append((_np(primal), None if tangent is None else _np(tangent)))
    return res


def _np(t):
    return t.detach().numpy(force=True) if isinstance(t, torch.Tensor) else t.detach().numpy()


def _finite_differences(row, sample, tangents, eps=1e-6):
    """(f(x + eps t) - f(x - eps t)) / 2 eps for each output, in float64, no torch."""
    t_args, t_kwargs = tangents

    def shifted(s):
        def move(v, t):
            if t is None:
                return v
            if isinstance(t, list):
                return [x + s * u for x, u in zip(v, t)]
            return v + s * t
        args = [move(v, t) for v, t in zip(sample.args, t_args)]
        kwargs = {k: move(v, t_kwargs[k]) for k, v in sample.kwargs.items()}
        e = [to_engine(a, "float64") for a in args]
        ek = {k: to_engine(v, "float64") for k, v in kwargs.items()}
        with engine.no_grad():
            out = getattr(engine.F, row.name)(*e, **ek)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return [o.numpy() for o in outs]
    plus, minus = shifted(eps), shifted(-eps)
    return [(p - m) / (2 * eps) if p.dtype.kind == "f" else None for p, m in zip(plus, minus)]


@pytest.mark.parametrize("case", JVP_CASES, ids=[f"{r.qualname}-{i}" for r, i in JVP_CASES])
def test_jvp_rule_matches_torch_forward_ad(case):
    row, i = case
    sample = _sample(row, i)
    tangents = _tangents(row, sample, np.random.default_rng(11 + i))
    with fw.dual_level():
        ours = _run(engine, row, sample, tangents)
    try:
        with tfw.dual_level():
            theirs = _run(torch, row, sample, tangents)
    except NotImplementedError:  # torch has no forward AD here: central differences
        if not sample.gradcheck:
            pytest.skip("torch has no forward AD for this op, and the sample sits on a kink")
        numeric = _finite_differences(row, sample, tangents)
        for k, ((_, t), n) in enumerate(zip(ours, numeric)):
            if n is not None:
                assert t is not None, f"{row.qualname} output {k}: no tangent"
                np.testing.assert_allclose(t, n, rtol=1e-5, atol=1e-6,
                                           err_msg=f"{row.qualname} tangent[{k}] vs FD")
        return
    assert len(ours) == len(theirs)
    for k, ((p, t), (tp, tt)) in enumerate(zip(ours, theirs)):
        # float64 throughout, except rows whose samples fix float32 (one ulp apart)
        rtol = 1e-7 if tp.dtype == np.float64 else 1e-5
        np.testing.assert_allclose(p, tp, rtol=rtol, atol=rtol * 1e-2,
                                   err_msg=f"{row.qualname} primal[{k}]")
        if tt is None:  # torch: no tangent (integer outputs); ours: none or zeros
            assert t is None or not np.any(t), f"{row.qualname} tangent[{k}]"
            continue
        assert t is not None, f"{row.qualname} tangent[{k}] missing"
        assert t.shape == tt.shape, f"{row.qualname} tangent[{k}] shape"
        if not sample.gradcheck:  # at ties torch's own forward AD can give nan (max)
            tt = np.where(np.isnan(tt), t, tt)
        np.testing.assert_allclose(t, tt, rtol=rtol, atol=rtol * 1e-2,
                                   err_msg=f"{row.qualname} tangent[{k}]")


def test_most_differentiable_rows_have_a_rule():
    """Every differentiable primitive has a rule but hardsigmoid_backward, index_reduce,
    igamma and igammac, which have none in torch either; test_rows_without_rule_raise
    covers those (tests/test_special_functions.py compares igamma's text)."""
    assert [r.qualname for r in NO_JVP] == ["hardsigmoid_backward", "index_reduce", "igamma",
                                            "igammac"]
    g = torch.rand(3, dtype=torch.float64)
    with tfw.dual_level(), pytest.raises(NotImplementedError) as theirs:
        torch.ops.aten.hardsigmoid_backward(tfw.make_dual(g, g), g)
    with fw.dual_level(), pytest.raises(NotImplementedError) as ours:
        x = engine.tensor(g.numpy())
        engine.hardsigmoid_backward(fw.make_dual(x, x), x)
    assert str(ours.value) == str(theirs.value)
    for lib, level in ((torch, tfw), (engine, fw)):
        with level.dual_level(), pytest.raises(NotImplementedError) as raised:
            x = lib.ones(3, dtype=lib.float64)
            lib.ones(3, dtype=lib.float64).index_reduce(0, lib.tensor([0, 2]),
                                                        level.make_dual(x[:2], x[:2]), "amax")
        if lib is torch:
            theirs = raised
    assert str(raised.value) == str(theirs.value)


@pytest.fixture
def row_without_jvp():
    """A throwaway row with a VJP and no JVP, removed afterwards."""
    with temporary_op("_test_no_jvp(Tensor input) -> Tensor", "TestNoJvpBackward0",
                      forward=lambda input: input * 2, vjp={"input": lambda grad: grad * 2},
                      method=False) as row:
        yield row


@pytest.mark.parametrize("which", ["listed", "throwaway"])
def test_rows_without_rule_raise(which, request):
    rows = NO_JVP if which == "listed" else [request.getfixturevalue("row_without_jvp")]
    for row in rows:
        x = engine.tensor(np.ones(3))
        with fw.dual_level():
            d = fw.make_dual(x, engine.ones(3))
            with pytest.raises(NotImplementedError) as ours:
                if row.name == "index_reduce":
                    engine.F.index_reduce(d, 0, engine.tensor([0, 2]), d[:2], "amax")
                else:
                    getattr(engine.F, row.name)(*[d] * row.nrequired)
        assert str(ours.value).startswith(f"Trying to use forward AD with {row.name} that "
                                          "does not support it") or str(ours.value) == (
            f"Trying to use forward AD with aten::{row.name} that does not support it.")


def test_torch_text_for_ops_without_forward_ad():
    """Our message is torch's, word for word, apart from the op's name."""
    with tfw.dual_level():
        x = tfw.make_dual(torch.rand(3, 4, dtype=torch.float64), torch.rand(3, 4,
                                                                            dtype=torch.float64))
        with pytest.raises(NotImplementedError) as theirs:
            torch.nn.functional.multilabel_margin_loss(x, torch.zeros(3, 4, dtype=torch.long))
    from engine.forward_ad import _not_implemented
    ours = str(_not_implemented("multilabel_margin_loss_forward"))
    assert ours == str(theirs.value)


# ------------------------------------------------------------------ compositions and errors

COMPOSED = {
    "mlp": lambda m, a, b: ((a @ b.t()).tanh() * 2 - a.sum()).exp().mean(dim=0),
    "softmax_ce": lambda m, a, b: m.cross_entropy(a, b.softmax(dim=1)),
    "views": lambda m, a, b: a.t().reshape(6)[1:5].unsqueeze(0).expand(2, 4) * b.flatten()[:4],
    "reductions": lambda m, a, b: a.var(dim=1) + b.std() + a.max() * b.norm(),
    "linalg": lambda m, a, b: m.det(m.inverse(a @ b.t() + 3 * m.ones(2).diag())),
    "conv": lambda m, a, b: m.conv1d(a.unsqueeze(0), b.t().unsqueeze(2), padding=1).relu().sum(2),
}


class _TorchNS:
    """torch's names for the few functions the engine has at top level only."""
    cross_entropy = staticmethod(torch.nn.functional.cross_entropy)
    conv1d = staticmethod(torch.nn.functional.conv1d)
    max_pool2d = staticmethod(torch.nn.functional.max_pool2d)
    avg_pool2d = staticmethod(torch.nn.functional.avg_pool2d)
    gelu = staticmethod(torch.nn.functional.gelu)
    softplus = staticmethod(torch.nn.functional.softplus)
    logsigmoid = staticmethod(torch.nn.functional.logsigmoid)
    mse_loss = staticmethod(torch.nn.functional.mse_loss)
    smooth_l1_loss = staticmethod(torch.nn.functional.smooth_l1_loss)
    binary_cross_entropy = staticmethod(torch.nn.functional.binary_cross_entropy)

    def __getattr__(self, name):
        return getattr(torch, name)


@pytest.mark.parametrize("name", sorted(COMPOSED))
def test_compositions_match_torch(name):
    rng = np.random.default_rng(1)
    av, bv, at, bt = (rng.standard_normal((2, 3)) for _ in range(4))
    fn = COMPOSED[name]
    with fw.dual_level():
        a = fw.make_dual(engine.tensor(av), engine.tensor(at))
        b = fw.make_dual(engine.tensor(bv), engine.tensor(bt))
        primal, tangent = fw.unpack_dual(fn(engine, a, b))
    with tfw.dual_level():
        ta = tfw.make_dual(torch.tensor(av), torch.tensor(at))
        tb = tfw.make_dual(torch.tensor(bv), torch.tensor(bt))
        tprimal, ttangent = tfw.unpack_dual(fn(_TorchNS(), ta, tb))
    np.testing.assert_allclose(primal.numpy(), tprimal.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tangent.numpy(), ttangent.numpy(), rtol=1e-10, atol=1e-12)
    assert fw.unpack_dual(primal).tangent is None


def _same_tangents(build, xv, xt, yv, yt):
    """build(mod, x, y), with x and y dual tensors (values, tangents), gives the same
    tensors' tangents in the engine as in torch."""
    results = []
    for mod, api in ((engine, fw), (torch, tfw)):
        with api.dual_level():
            x = api.make_dual(mod.tensor(xv), mod.tensor(xt))
            y = api.make_dual(mod.tensor(yv), mod.tensor(yt))
            results.append([_np(api.unpack_dual(t).tangent) for t in build(mod, x, y)])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_inplace_ops_carry_the_tangent_like_torch():
    def build(mod, x, y):
        z = x * 1
        z.mul_(y)
        z.add_(x, alpha=2)
        w = mod.tensor(np.zeros(4))
        w.copy_(z)  # a plain tensor takes the source's tangent
        return z, w
    rng = np.random.default_rng(3)
    _same_tangents(build, *(rng.standard_normal(4) for _ in range(4)))


def test_inplace_on_views_carries_tangents_like_torch():
    """In-place writes through views (and views of views) update the base's tangent at
    the view's elements, and every other view of it sees the change, as in torch."""
    def build(mod, x, y):
        z = x * 2
        a, b = z[1], z[:, 1:3]
        c = b[0]  # a view of a view
        a.mul_(y[0])
        c.add_(3.0)
        z.mul_(y)  # the base itself: its views follow
        w = mod.tensor(np.zeros((3, 4)))
        v = w[0:2]
        v.copy_(y[1:3])  # a plain tensor's view takes a tangent: the base gets one too
        return z, a, b, c, w, v
    rng = np.random.default_rng(0)
    _same_tangents(build, *(rng.standard_normal((3, 4)) for _ in range(4)))


def test_errors_and_level_exit_like_torch():
    x, tx = engine.ones(2), torch.ones(2)
    with pytest.raises(RuntimeError) as theirs:
        tfw.make_dual(tx, tx)
    with pytest.raises(RuntimeError) as ours:
        fw.make_dual(x, x)
    assert str(ours.value) == str(theirs.value)
    with tfw.dual_level(), pytest.raises(RuntimeError) as theirs:
        tfw.make_dual(tx, torch.ones(3))
    with fw.dual_level(), pytest.raises(RuntimeError) as ours:
        fw.make_dual(x, engine.ones(3))
    assert str(ours.value) == str(theirs.value)
    with tfw.dual_level(), pytest.raises(ValueError) as theirs:
        tfw.make_dual(torch.ones(2, dtype=torch.long), torch.ones(2, dtype=torch.long))
    with fw.dual_level(), pytest.raises(ValueError) as ours:
        fw.make_dual(engine.ones(2, dtype=engine.int64), engine.ones(2, dtype=engine.int64))
    assert str(ours.value) == str(theirs.value)
    with fw.dual_level():
        d = fw.make_dual(x, engine.ones(2))
        y = d * 2
        assert fw.unpack_dual(d > 0).tangent is None  # no derivative, no error (as torch)
    assert fw.unpack_dual(y).tangent is None  # the level is gone, as in torch
    assert engine.ops.table.forward_hook is None


def test_samples_cover_duals_of_every_kind():
    """The generated cases include Tensor-list inputs and multi-output rows."""
    names = {row.qualname for row, _ in JVP_CASES}
    assert {"cat", "stack", "max.dim", "unbind.int", "convolution", "_softmax"} <= names
    assert any(isinstance(a, Const) for row, i in JVP_CASES for a in _sample(row, i).args)


# ------------------------------------------------------------------ functional over forward AD

def test_jacobian_forward_mode_runs_forward_ad():
    """A throwaway row whose VJP raises and whose JVP works: forward-mode gets the
    Jacobian, reverse mode cannot: forward-mode does not go through backward."""
    from engine.errors import DerivativeNotImplemented
    from engine.ops.table import F

    def no_vjp(grad):
        raise DerivativeNotImplemented("the derivative for '_test_fwd_only' is not "
                                       "implemented.")
    with temporary_op("_test_fwd_only(Tensor input) -> Tensor", "TestFwdOnlyBackward0",
                      forward=lambda input: input ** 3, vjp={"input": no_vjp},
                      jvp=lambda input_t, input: input_t * 3 * input ** 2, method=False):
        x = np.array([0.5, -1.0, 2.0])
        jac = engine.functional.jacobian(F._test_fwd_only, engine.tensor(x),
                                         strategy="forward-mode", vectorize=True)
        want = torch.autograd.functional.jacobian(lambda t: t ** 3, torch.tensor(x),
                                                  strategy="forward-mode", vectorize=True)
        np.testing.assert_allclose(jac.numpy(), want.numpy(), rtol=1e-14)
        with pytest.raises(DerivativeNotImplemented):
            engine.functional.jacobian(F._test_fwd_only, engine.tensor(x))


HESS = {
    "poly": lambda m, x: (x.exp() * x.sin()).sum() * x.prod(),
    "softmax_det": lambda m, x: x.softmax(1).log().var() + m.det(x @ x.t()),
    "tanh_cube": lambda m, x: (x.tanh() ** 3).sum() + x.norm(),
}


@pytest.mark.parametrize("name", sorted(HESS))
def test_hessian_forward_over_reverse_matches_torch(name):
    """hessian(outer_jacobian_strategy="forward-mode"): forward AD through a create_graph
    backward (saved outputs keep their tangents), against torch's."""
    xv = np.random.default_rng(5).standard_normal((2, 3))
    fn = HESS[name]
    ours = engine.functional.hessian(lambda x: fn(engine, x), engine.tensor(xv),
                                     vectorize=True, outer_jacobian_strategy="forward-mode")
    theirs = torch.autograd.functional.hessian(lambda x: fn(torch, x), torch.tensor(xv),
                                               vectorize=True,
                                               outer_jacobian_strategy="forward-mode")
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    assert ours.requires_grad == theirs.requires_grad  # tangents have history, as torch's
    with pytest.raises(NotImplementedError) as e_ours:
        engine.functional.hessian(lambda x: fn(engine, x), engine.tensor(xv),
                                  outer_jacobian_strategy="forward-mode")
    with pytest.raises(NotImplementedError) as e_theirs:
        torch.autograd.functional.hessian(lambda x: fn(torch, x), torch.tensor(xv),
                                          outer_jacobian_strategy="forward-mode")
    assert str(e_ours.value) == str(e_theirs.value)


def test_jvp_by_forward_ad_equals_torch_jvp():
    rng = np.random.default_rng(9)
    xv, yv, vx, vy = (rng.standard_normal(3) for _ in range(4))

    def f(m):
        return lambda x, y: ((x * y).sin(), (x.exp() @ y).tanh())
    ours = engine.functional._jvp_by_forward_ad(
        f(engine), (engine.tensor(xv), engine.tensor(yv)), (engine.tensor(vx),
                                                            engine.tensor(vy)))
    theirs = torch.autograd.functional.jvp(f(torch), (torch.tensor(xv), torch.tensor(yv)),
                                           (torch.tensor(vx), torch.tensor(vy)))
    for a, b in zip(ours, theirs):
        for u, w in zip(a, b):
            np.testing.assert_allclose(u.numpy(), w.numpy(), rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ gradcheck(check_forward_ad)

def test_gradcheck_check_forward_ad_like_torch():
    """check_forward_ad compares forward AD's Jacobian with finite differences: a wrong
    JVP fails with torch's text (after the backward check passes), a right one passes."""
    from engine.gradcheck import GradcheckError, gradcheck
    from engine.ops.table import F
    with temporary_op("_test_wrong_jvp(Tensor input) -> Tensor", "TestWrongJvpBackward0",
                      forward=lambda input: input ** 3,
                      vjp={"input": lambda grad, input: grad * 3 * input ** 2},
                      jvp=lambda input_t, input: input_t * 2 * input ** 2, method=False):
        xv = np.array([0.5, -1.0, 2.0])
        x = engine.tensor(xv, requires_grad=True)
        tx = torch.tensor(xv, requires_grad=True)
        assert gradcheck(F._test_wrong_jvp, (x,))  # backward only: fine
        assert torch.autograd.gradcheck(TorchWrongJvpCube.apply, (tx,))
        with pytest.raises(GradcheckError) as ours:
            gradcheck(F._test_wrong_jvp, (x,), check_forward_ad=True)
        with pytest.raises(sys.modules["torch.autograd.gradcheck"].GradcheckError) as theirs:
            torch.autograd.gradcheck(TorchWrongJvpCube.apply, (tx,), check_forward_ad=True)
        assert str(ours.value) == str(theirs.value)
        assert "computed with forward mode" in str(ours.value)
        assert gradcheck(lambda t: (t.exp() * t.sin()).softmax(0), (x,), check_forward_ad=True)


def _hess_conv(m, x):
    w = (x * 0.5 + m.tensor(np.linspace(-1, 1, 12))).reshape(2, 3, 2)  # both depend on x
    return (m.conv1d(x.reshape(1, 3, 4), w, padding=1) ** 2).tanh().sum()


def _hess_pools(m, x):
    img = x.reshape(1, 1, 3, 4) ** 2
    pooled = m.max_pool2d(img, 2, 1) * m.avg_pool2d(img, 2, 1)
    return pooled.sum()


def _hess_index(m, x):
    idx = m.tensor([[0, 2, 1, 0], [1, 1, 0, 2]])
    g = m.gather(x.reshape(3, 4), 0, idx)
    s = m.index_select(x.reshape(3, 4), 1, m.tensor([3, 0]))
    return (g.sin() ** 2).sum() + (s.exp() * x.reshape(3, 4)[:, ::2]).sum() \
        + (x.reshape(3, 4)[m.tensor([0, 2])] ** 3).sum()


def _hess_kernels(m, x):
    """Through the derivative-kernel rows (gelu_backward, softplus_backward,
    log_sigmoid_backward, sigmoid_backward, mse/smooth_l1/bce/nll_loss_backward,
    _log_softmax_backward_data, div.Tensor_mode, sgn...)."""
    a, b = x.reshape(3, 4), x.reshape(4, 3).t()
    t = m.tensor(np.linspace(0.1, 0.9, 12).reshape(3, 4))
    acts = m.gelu(a) * m.softplus(b, beta=2.0) + m.logsigmoid(a) * m.sigmoid(b) \
        + m.gelu(b, approximate="tanh") + m.div(a, b.exp(), rounding_mode=None) + a.abs() * b
    return (m.mse_loss(acts, t) + m.smooth_l1_loss(a * b, t, beta=0.5)
            + m.binary_cross_entropy(m.sigmoid(acts), t)
            + m.cross_entropy(acts * b, m.tensor([0, 3, 1])))


@pytest.mark.parametrize("fn", [_hess_conv, _hess_pools, _hess_index, _hess_kernels],
                         ids=["conv", "pools", "index", "kernels"])
def test_forward_over_reverse_through_backward_rows(fn):
    """The rows only a backward uses (_conv_grad_*, _max_pool_scatter, _avg_pool2d_grad,
    _gather_backward, _index_select_backward, _index_backward...) have no samples of
    their own: their JVPs run here, in a forward-mode Hessian, against torch's Hessian
    (reverse-over-reverse: torch's vmap has no batching rule for some of these)."""
    xv = np.random.default_rng(2).uniform(-1, 1, 12)
    ours = engine.functional.hessian(lambda x: fn(engine, x), engine.tensor(xv),
                                     vectorize=True, outer_jacobian_strategy="forward-mode")
    theirs = torch.autograd.functional.hessian(lambda x: fn(_TorchNS(), x), torch.tensor(xv))
    # (ours may require grad, as torch's forward-mode Hessian does: tangents have history)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-9,
                               atol=1e-12)


def _pool_indices():
    out = engine.max_pool2d_with_indices(engine.tensor(np.arange(12.0).reshape(1, 1, 3, 4)),
                                         (2, 2), (1, 1))
    return out[1]


# rows only the engine calls (backward formulas, in-place writes): no torch function to
# compare with, so each is checked against central differences of itself, in float64
INTERNAL = {
    "_max_pool_gather": lambda r: ([r.standard_normal((1, 1, 3, 4)), _pool_indices()], [0]),
    # (grad_output, input, weight, ...) as torch's convolution_backward; each is bilinear in
    # two of them and does not depend on the third (whose tangent must add nothing)
    "_conv_grad_input": lambda r: ([r.standard_normal((1, 2, 5)), r.standard_normal((1, 3, 4)),
                                    r.standard_normal((2, 3, 2)), (1,), (1,), (1,), 1],
                                   [0, 1, 2]),
    "_conv_grad_weight": lambda r: ([r.standard_normal((1, 2, 5)), r.standard_normal((1, 3, 4)),
                                     r.standard_normal((2, 3, 2)), (1,), (1,), (1,), 1],
                                    [0, 1, 2]),
    "_conv_grad_bias": lambda r: ([r.standard_normal((2, 2, 5)), r.standard_normal((2, 3, 4)),
                                   r.standard_normal((2, 3, 2))], [0, 1, 2]),
    "_copy_into": lambda r: ([r.standard_normal((3, 4)), np.array([0, 5, 7]),
                              r.standard_normal(3)], [0, 2]),
    "copy_slices": lambda r: ([r.standard_normal((3, 4)), (slice(0, 2),),
                               r.standard_normal((2, 4))], [0, 2]),
    "_index_put_value": lambda r: ([r.standard_normal((3, 4)), (1,), r.standard_normal(4)],
                                   [0, 2]),
    "_fill_": lambda r: ([r.standard_normal((2, 3)), r.standard_normal(())], [0, 1]),
    "_zero_": lambda r: ([r.standard_normal((2, 3))], [0]),
    "_reshape_alias": lambda r: ([r.standard_normal((2, 3)), (3, 2)], [0]),
    "_squeeze_inplace": lambda r: ([r.standard_normal((2, 1, 3)), 1], [0]),
    "to_device": lambda r: ([r.standard_normal((2, 3)), "cpu"], [0]),
    "copy": lambda r: ([r.standard_normal((2, 3)), r.standard_normal(3)], [0, 1]),
}


@pytest.mark.parametrize("name", sorted(INTERNAL))
def test_internal_rows_jvp_against_finite_differences(name):
    rng = np.random.default_rng(8)
    args, dual_at = INTERNAL[name](rng)
    tangents = {k: rng.standard_normal(np.shape(args[k])) for k in dual_at}
    fn = getattr(engine.F, name)

    def call(shift):
        with engine.no_grad():
            return fn(*[engine.tensor(a + shift * tangents[k]) if k in tangents else a
                        for k, a in enumerate(args)]).numpy()
    numeric = (call(1e-6) - call(-1e-6)) / 2e-6
    with fw.dual_level():
        out = fn(*[fw.make_dual(engine.tensor(a), engine.tensor(tangents[k]))
                   if k in tangents else a for k, a in enumerate(args)])
        tangent = fw.unpack_dual(out).tangent
    np.testing.assert_allclose(tangent.numpy(), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["_uniform_", "_normal_", "_fill_"])
def test_overwriting_rows_have_zero_tangents(name):
    """Random and constant overwrites do not depend on the old values (torch: zero)."""
    args = {"_uniform_": (0.0, 1.0), "_normal_": (0.0, 1.0), "_fill_": (2.5,)}[name]
    with fw.dual_level():
        x = fw.make_dual(engine.tensor(np.ones(3)), engine.tensor(np.ones(3)))
        tangent = fw.unpack_dual(getattr(engine.F, name)(x, *args)).tangent
    assert tangent is not None and not np.any(tangent.numpy())


def test_dual_levels_are_per_thread():
    """Threads each in their own level get their own tangents; a thread with no level
    open sees none, and its in-place ops and backward are untouched."""
    import threading
    rng = np.random.default_rng(4)
    xv = rng.standard_normal((4, 3))
    want = torch.autograd.functional.jacobian(lambda t: (t @ t.T).tanh(), torch.tensor(xv),
                                              strategy="forward-mode", vectorize=True)
    got, errors = [], []
    barrier = threading.Barrier(3)

    def jac():
        try:
            barrier.wait()
            for _ in range(3):
                got.append(engine.functional.jacobian(
                    lambda t: (t @ t.t()).tanh(), engine.tensor(xv),
                    strategy="forward-mode", vectorize=True).numpy())
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    def plain():
        try:
            barrier.wait()
            for _ in range(30):
                x = engine.tensor(xv, requires_grad=True)
                y = x * 2
                y.add_(x)
                assert fw.unpack_dual(y).tangent is None
                y.sum().backward()
                np.testing.assert_allclose(x.grad.numpy(), np.full_like(xv, 3.0))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=f) for f in (jac, jac, plain)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(got) == 6
    for g in got:
        np.testing.assert_allclose(g, want.numpy(), rtol=1e-12)
    assert engine.ops.table.forward_hook is None
