"""dropout: torch's RNG cannot be reproduced, so our dropout takes a ``seed`` and the tests
apply the same scaled mask in torch by hand (ATen's CPU dropout is exactly
``input * (bernoulli(1 - p) / (1 - p))``), then compare values, graph and gradients."""

import numpy as np
import pytest
import torch
from support.harness import assert_close, node_signature

import engine
from engine.errors import OpError
from engine.ops.conv import dropout_mask


def _pair(shape, dtype="float32", seed=0):
    x = np.random.default_rng(seed).uniform(-2, 2, size=shape).astype(dtype)
    return (engine.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_matches_torch_with_the_same_mask(p, dtype):
    e, t = _pair((4, 5), dtype)
    ours = engine.F.dropout(e, p, seed=42)
    mask = dropout_mask((4, 5), p, 42, np.dtype(dtype))
    keep = torch.tensor(mask != 0).to(getattr(torch, dtype))
    theirs = t * keep.div_(1 - p)  # what ATen computes from its bernoulli draw
    assert_close(ours, theirs)
    assert ours.dtype.name == dtype
    assert node_signature(ours.grad_fn) == node_signature(theirs.grad_fn)
    assert node_signature(ours.grad_fn)[0] == "MulBackward0"
    # the graph torch's own dropout builds: MulBackward0 over the input and a constant
    assert node_signature(torch.nn.functional.dropout(t, p).grad_fn) == node_signature(
        ours.grad_fn)
    seed = np.random.default_rng(1).uniform(0.5, 1.5, size=(4, 5)).astype(dtype)
    (ge,) = engine.autograd.grad(ours, e, engine.tensor(seed), create_graph=True)
    (gt,) = torch.autograd.grad(theirs, t, torch.tensor(seed), create_graph=True)
    assert_close(ge, gt)
    assert ge.requires_grad == gt.requires_grad


def test_mask_is_deterministic_for_a_seed_and_keeps_about_1_minus_p():
    e, _ = _pair((200, 50))
    a = engine.F.dropout(e, 0.3, seed=7).detach().numpy()
    b = engine.F.dropout(e, 0.3, seed=7).detach().numpy()
    c = engine.F.dropout(e, 0.3, seed=8).detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert abs((a != 0).mean() - 0.7) < 0.02


@pytest.mark.parametrize("kwargs", [{"p": 0.0}, {"p": 0.5, "training": False}])
def test_identity_cases_return_the_input_itself(kwargs):
    e, t = _pair((3,))
    assert engine.F.dropout(e, **kwargs) is e
    assert torch.nn.functional.dropout(t, **kwargs) is t


def test_p_one_zeroes_with_a_constant_edge():
    e, t = _pair((3,))
    ours, theirs = engine.F.dropout(e, 1.0), torch.nn.functional.dropout(t, 1.0)
    assert_close(ours, theirs)
    assert node_signature(ours.grad_fn) == node_signature(theirs.grad_fn)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_bad_probability_has_torchs_text(p):
    e, t = _pair((3,))
    with pytest.raises(ValueError) as theirs:
        torch.nn.functional.dropout(t, p)
    with pytest.raises(OpError) as ours:
        engine.F.dropout(e, p)
    assert str(ours.value) == str(theirs.value)


def test_backward_through_dropout_matches_finite_differences():
    x = np.random.default_rng(3).uniform(-1, 1, size=(3, 4))
    e = engine.tensor(x, requires_grad=True)
    engine.F.dropout(e, 0.4, seed=5).sum().backward()
    mask = dropout_mask((3, 4), 0.4, 5, np.float64)
    np.testing.assert_allclose(e.grad.numpy(), mask)  # d(sum(x * m))/dx = m
