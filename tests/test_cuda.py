"""The CuPy backend: tensors on device="cuda", ops, backward, double backward, transfers,
printing; every value compared with the same computation on the CPU (and with torch on
the CPU). Skipped where engine.backend.cuda_available() is false."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import engine
from engine import backend

pytestmark = pytest.mark.skipif(not backend.cuda_available(),
                                reason="no CUDA device (CuPy missing or no GPU)")

rng = np.random.default_rng(7)
A = rng.normal(size=(3, 4)).astype(np.float32)
B = rng.normal(size=(4,)).astype(np.float32)


def _graph(lib, device):
    kw = {"device": device} if device is not None else {}
    a = lib.tensor(A, requires_grad=True, **kw)
    b = lib.tensor(B, requires_grad=True, **kw)
    h = (a * b).tanh() + a.exp() / (b * b + 1)
    out = (h ** 2).sum() + h.mean() * 3 - (a - b).sigmoid().sum()
    return a, b, h, out


def _np(t):
    return t.detach().cpu().numpy()


def test_tensor_lives_on_the_device():
    t = engine.tensor(A, device="cuda")
    assert t.device.startswith("cuda")
    assert not isinstance(t.array, np.ndarray)
    assert (t * 2).device.startswith("cuda")
    np.testing.assert_array_equal(t.cpu().numpy(), A)


def test_forward_and_backward_match_cpu_and_torch():
    ga, gb, gh, gout = _graph(engine, "cuda")
    gh.retain_grad()
    gout.backward()
    ca, cb, ch, cout = _graph(engine, "cpu")
    ch.retain_grad()
    cout.backward()
    ta, tb, th, tout = _graph(torch, None)
    th.retain_grad()
    tout.backward()
    for g, c, t in ((gout, cout, tout), (ga.grad, ca.grad, ta.grad),
                    (gb.grad, cb.grad, tb.grad), (gh.grad, ch.grad, th.grad)):
        assert g.device.startswith("cuda")
        np.testing.assert_allclose(_np(g), _np(c), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(_np(g), t.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert gout.grad_fn.name() == cout.grad_fn.name() == tout.grad_fn.name()


def test_double_backward_on_device():
    results = []
    for device in ("cuda", "cpu"):
        a, b, _, out = _graph(engine, device)
        ga, gb = engine.autograd.grad(out, [a, b], create_graph=True)
        results.append(engine.autograd.grad((ga * gb.sum()).sum(), [a, b]))
    for g, c in zip(*results):
        assert g.device.startswith("cuda")
        np.testing.assert_allclose(_np(g), _np(c), rtol=1e-4, atol=1e-5)


def test_grad_tensors_and_retain_graph_on_device():
    a = engine.tensor(A, requires_grad=True, device="cuda")
    y = a ** 3
    seed = engine.tensor(np.ones_like(A) * 0.5, device="cuda")
    y.backward(seed, retain_graph=True)
    y.backward(seed)
    np.testing.assert_allclose(_np(a.grad), 2 * 0.5 * 3 * A ** 2, rtol=1e-5)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward(seed)


def test_transfers_are_differentiable():
    a = engine.tensor(A, requires_grad=True)  # on the CPU
    on_gpu = a.to("cuda")
    assert on_gpu.grad_fn.name() == "ToCopyBackward0"
    (on_gpu * 2).sum().backward()
    assert a.grad.device == "cpu"
    np.testing.assert_allclose(a.grad.numpy(), np.full_like(A, 2.0))


def test_printing_names_the_device():
    t = engine.tensor([1.0, 2.5], device="cuda")
    assert repr(t) == "tensor([1.0000, 2.5000], device='cuda:0')"
    r = engine.tensor([1.0, 2.0], device="cuda", requires_grad=True) * 2
    assert repr(r) == "tensor([2., 4.], device='cuda:0', grad_fn=<MulBackward0>)"


def test_functional_jacobian_on_device():
    x = engine.tensor(B, device="cuda")
    jac = engine.autograd.functional.jacobian(lambda v: v.exp() * v, x)
    ref = engine.autograd.functional.jacobian(lambda v: v.exp() * v, engine.tensor(B))
    np.testing.assert_allclose(_np(jac), _np(ref), rtol=1e-5)


def test_backend_reports_a_device():
    assert backend.module_for("cuda") is not np
    assert backend.device_of(backend.module_for("cuda").zeros(1)) == "cuda"


@pytest.mark.parametrize("perm", [(1, 0), (1, 0, 2), (2, 0, 1), (0, 2, 1)])
def test_transfers_keep_the_dimension_order(perm):
    """torch's .to() keeps strides; a transfer copies C-contiguous, so to_device moves the
    array in its own dimension order (and reshape of a transposed tensor is a copy,
    UnsafeViewBackward0, on either device)."""
    a = rng.normal(size=(2, 3, 4)[:len(perm)]).astype(np.float32).transpose(perm)
    on_device = backend.to_device(a, "cuda")
    back = backend.to_device(on_device, "cpu")
    for moved in (on_device, back):
        assert moved.strides == a.strides
    np.testing.assert_array_equal(back, a)
    t = torch.tensor(a, requires_grad=True)
    e = engine.tensor(a, requires_grad=True, device="cuda")
    assert engine.F.flatten(e).grad_fn.name() == torch.flatten(t).grad_fn.name()


def test_tensor_of_a_tensor_keeps_its_device_unless_told():
    """torch.tensor(t): device None means t's device."""
    t = engine.tensor(A, device="cuda")
    assert engine.tensor(t).device.startswith("cuda")
    assert engine.tensor(t, device="cpu").device == "cpu"
    np.testing.assert_array_equal(engine.tensor(t, device="cpu").numpy(), A)
