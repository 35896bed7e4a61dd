"""Every row of the op table on device="cuda" (the CuPy backend) against the same row on
the CPU, generated from the table as tests/test_ops.py is: forward values, dtypes, devices,
grad_fn names, first- and second-order gradients, and the same error where the CPU raises.
Skipped where engine.backend.cuda_available() is false.

``AUTOGRAD_TEST_DEVICE=cpu`` runs the same comparisons with the CPU on both sides, which
checks this file itself on a machine without a GPU."""

from __future__ import annotations

import os

import numpy as np
import pytest
from support.harness import diff_inputs, flat_tensors, to_engine
from test_ops import CASES, _id, _sample

import engine
from engine import backend

DEVICE = os.environ.get("AUTOGRAD_TEST_DEVICE", "cuda")

pytestmark = pytest.mark.skipif(DEVICE == "cuda" and not backend.cuda_available(),
                                reason="no CUDA device (CuPy missing or no GPU)")

# rows whose values come from a random stream: the device's stream is not the CPU's, so
# only what does not depend on it is compared (shape, dtype, device, grad_fn)
RANDOM = {"rand", "randn", "dropout", "_uniform_", "_normal_"}


def _call(row, sample, device):
    args = [to_engine(a, "float32", device) for a in sample.args]
    kwargs = {k: to_engine(v, "float32", device) for k, v in sample.kwargs.items()}
    return getattr(engine.F, row.name)(*args, **kwargs), args, kwargs


def _outputs(result):
    items = result if isinstance(result, (list, tuple)) else (result,)
    return [o for o in items if isinstance(o, engine.Tensor)]


def _tensors(args, kwargs):
    return flat_tensors(list(args) + list(kwargs.values()), engine.Tensor)


def _np(t):
    return t.detach().cpu().numpy()


def _compare(ours, cpu, what, random=False, rtol=1e-4, atol=1e-5, device=DEVICE):
    assert ours.device.split(":")[0] == device, f"{what}: on {ours.device}, not {device}"
    assert ours.dtype == cpu.dtype, f"{what}: dtype {ours.dtype} != {cpu.dtype}"
    assert tuple(ours.shape) == tuple(cpu.shape), f"{what}: shape"
    assert ours.requires_grad == cpu.requires_grad, f"{what}: requires_grad"
    names = [n.name() if n is not None else None for n in (ours.grad_fn, cpu.grad_fn)]
    assert names[0] == names[1], f"{what}: grad_fn {names[0]} != {names[1]}"
    if not random:
        np.testing.assert_allclose(_np(ours), _np(cpu), rtol=rtol, atol=atol, err_msg=what,
                                   equal_nan=True)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_row_on_the_device_matches_the_cpu(case):
    row, i = case
    sample = _sample(row, i)
    random = row.name in RANDOM
    try:
        cpu, c_args, c_kwargs = _call(row, sample, "cpu")
    except Exception as error:  # an error sample: the device raises the same
        with pytest.raises(type(error)) as raised:
            _call(row, sample, DEVICE)
        assert str(raised.value) == str(error)
        return
    ours, o_args, o_kwargs = _call(row, sample, DEVICE)
    c_out, o_out = _outputs(cpu), _outputs(ours)
    assert len(c_out) == len(o_out)
    # outputs live where the inputs do (creation rows without a tensor input: on the CPU)
    device = DEVICE if _tensors(o_args, o_kwargs) else "cpu"
    for k, (o, c) in enumerate(zip(o_out, c_out)):
        _compare(o, c, f"{row.qualname} forward[{k}]", random, device=device)

    c_in, o_in = diff_inputs(c_args, c_kwargs), diff_inputs(o_args, o_kwargs)
    c_diff = [o for o in c_out if o.requires_grad]
    o_diff = [o for o in o_out if o.requires_grad]
    if not c_in or not c_diff or random:
        return
    rng = np.random.default_rng(7)
    seeds = [rng.uniform(0.5, 1.5, size=tuple(o.shape)).astype("float32") for o in c_diff]
    c_g = engine.autograd.grad(c_diff, c_in, [engine.tensor(s) for s in seeds],
                               create_graph=True, allow_unused=True)
    o_g = engine.autograd.grad(o_diff, o_in, [engine.tensor(s, device=DEVICE) for s in seeds],
                               create_graph=True, allow_unused=True)
    for k, (a, b) in enumerate(zip(o_g, c_g)):
        assert (a is None) == (b is None), f"grad[{k}] defined"
        if a is not None:
            _compare(a, b, f"{row.qualname} grad[{k}]")
    if not row.twice_differentiable:
        return
    pairs = [(a, b) for a, b in zip(o_g, c_g) if a is not None and b.requires_grad]
    if not pairs:
        return
    vs = [rng.uniform(0.5, 1.5, size=tuple(b.shape)).astype("float32") for _, b in pairs]
    o_s = sum((a * engine.tensor(v, device=DEVICE)).sum() for (a, _), v in zip(pairs, vs))
    c_s = sum((b * engine.tensor(v)).sum() for (_, b), v in zip(pairs, vs))
    assert o_s.requires_grad == c_s.requires_grad
    if not c_s.requires_grad:
        return
    o_gg = engine.autograd.grad(o_s, o_in, allow_unused=True)
    c_gg = engine.autograd.grad(c_s, c_in, allow_unused=True)
    for k, (a, b) in enumerate(zip(o_gg, c_gg)):
        assert (a is None) == (b is None), f"second-order grad[{k}] defined"
        if a is not None:
            _compare(a, b, f"{row.qualname} gradgrad[{k}]", rtol=1e-3, atol=1e-4)


INPLACE = [(row, i) for row, i in CASES if row.inplace]


@pytest.mark.parametrize("case", INPLACE, ids=[_id(c) for c in INPLACE])
def test_inplace_variant_on_a_view_on_the_device_matches_the_cpu(case):
    """y[0] modified in place (tests/test_inplace.py's case against torch): the base's
    CopySlices, the views' AsStridedBackward0, values and gradients, device against CPU."""
    row, i = case
    sample = _sample(row, i)
    def run(device):
        x, *rest = [to_engine(a, "float32", device) for a in sample.args]
        kwargs = {k: to_engine(v, "float32", device) for k, v in sample.kwargs.items()}
        y = engine.stack([x * 1, x * 0.5])
        before, v = y[1], y[0]
        getattr(v, f"{row.name}_")(*rest, **kwargs)
        leaves = [x] + [t for t in _tensors(rest, kwargs) if t.requires_grad]
        seed = engine.tensor(np.full(tuple(y.shape), 0.75, dtype="float32"), device=device)
        grads = engine.autograd.grad([y, before], leaves, [seed, seed[1]], allow_unused=True)
        return y, v, before, grads

    try:
        cy, cv, cb, cg = run("cpu")
    except Exception as error:  # (other does not broadcast to self's shape): the same error
        with pytest.raises(type(error)) as raised:
            run(DEVICE)
        assert str(raised.value) == str(error)
        return
    oy, ov, ob, og = run(DEVICE)
    for what, o, c in (("y", oy, cy), ("y[0]", ov, cv), ("y[1]", ob, cb)):
        _compare(o, c, f"{row.qualname} {what}")
    for k, (a, b) in enumerate(zip(og, cg)):
        assert (a is None) == (b is None), f"grad[{k}] defined"
        if a is not None:
            _compare(a, b, f"{row.qualname} grad[{k}]")
