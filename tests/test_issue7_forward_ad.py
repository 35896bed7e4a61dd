"""Forward-mode AD (autograd.forward_ad) vs torch.autograd.forward_ad computed in the test:
every op with a JVP rule, compositions, and the errors."""

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as tfw

import engine
from engine.autograd import forward_ad as fw
from engine.forward_ad import JVP

CASES = {
    "add": lambda a, b: a + b * 2,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b + 3),
    "matmul": lambda a, b: a @ b.transpose(0, 1),
    "mm": lambda a, b: a.mm(b.t()),
    "bmm": lambda a, b: a.unsqueeze(0).bmm(b.t().unsqueeze(0)),
    "mv": lambda a, b: a.mv(b[0]),
    "dot": lambda a, b: a[0].dot(b[1]),
    "pow": lambda a, b: a ** 3 + b ** 2,
    "neg": lambda a, b: -a,
    "sum": lambda a, b: (a * b).sum(dim=1),
    "mean": lambda a, b: a.mean(),
    "reshape": lambda a, b: a.reshape(3, 2),
    "view": lambda a, b: b.view(6),
    "transpose": lambda a, b: a.transpose(0, 1) * 2,
    "permute": lambda a, b: a.permute(1, 0),
    "expand": lambda a, b: a.sum(dim=0).expand(4, 3),
    "squeeze": lambda a, b: a.unsqueeze(0).squeeze(0),
    "unsqueeze": lambda a, b: b.unsqueeze(1),
    "clone": lambda a, b: a.clone(),
    "select": lambda a, b: a.select(1, 2) * b[0, 1],
    "flatten": lambda a, b: a.flatten(),
    "t": lambda a, b: a.t(),
    "alias": lambda a, b: a * 1,
    "exp": lambda a, b: a.exp(),
    "log": lambda a, b: (a * a + 1).log(),
    "sin": lambda a, b: a.sin(),
    "cos": lambda a, b: b.cos(),
    "tanh": lambda a, b: a.tanh(),
    "sigmoid": lambda a, b: b.sigmoid(),
    "relu": lambda a, b: a.relu(),
    "sqrt": lambda a, b: (b * b + 1).sqrt(),
    "composed": lambda a, b: ((a @ b.t()).tanh() * 2 - a.sum()).exp().mean(dim=0),
}


def test_every_rule_has_a_case():
    assert set(JVP) <= set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jvp_matches_torch(name):
    rng = np.random.default_rng(1)
    av, bv = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    at, bt = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    fn = CASES[name]
    with fw.dual_level():
        a = fw.make_dual(engine.tensor(av), engine.tensor(at))
        b = fw.make_dual(engine.tensor(bv), engine.tensor(bt))
        primal, tangent = fw.unpack_dual(fn(a, b))
    with tfw.dual_level():
        ta = tfw.make_dual(torch.tensor(av), torch.tensor(at))
        tb = tfw.make_dual(torch.tensor(bv), torch.tensor(bt))
        tprimal, ttangent = tfw.unpack_dual(fn(ta, tb))
    np.testing.assert_allclose(primal.numpy(), tprimal.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tangent.numpy(), ttangent.numpy(), rtol=1e-10, atol=1e-12)
    assert fw.unpack_dual(primal).tangent is None


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
    with fw.dual_level():
        d = fw.make_dual(x, engine.ones(2))
        y = d * 2
        with pytest.raises(NotImplementedError, match="Trying to use forward AD with cumsum"):
            engine.cumsum(d, 0)
    assert fw.unpack_dual(y).tangent is None  # the level is gone, as in torch
    assert engine.ops.table.forward_hook is None
