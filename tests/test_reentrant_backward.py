"""Reentrant backward (a custom Function whose backward runs a backward itself) nested as
deep as torch 2.13 allows: 2,000 levels without a RecursionError, an error raised at the
bottom reaching the caller unchanged, and the grad mode each level sees. torch is the
oracle, run side by side with the engine."""

import pytest
import torch

import engine


def _deep_function(lib, seen=None, fail_at=None):
    class Deep(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            with lib.enable_grad():
                ctx.x = x.detach().requires_grad_(True) - 1
            return ctx.x.detach()

        @staticmethod
        def backward(ctx, grad):
            level = ctx.x.item()
            if seen is not None:
                seen.append((level, lib.is_grad_enabled()))
            if fail_at is not None and level < fail_at:
                raise ValueError(f"refused at level {level}")
            if level < 0:
                return grad * 2
            with lib.enable_grad():
                Deep.apply(ctx.x).sum().backward()
            return grad * 2

    return Deep


def _run(lib, depth, seen=None, fail_at=None):
    v = lib.tensor(float(depth), dtype=lib.float64, requires_grad=True)
    try:
        _deep_function(lib, seen, fail_at).apply(v).sum().backward()
    except Exception as e:  # noqa: BLE001 - compared with torch's
        return type(e).__name__, str(e)
    return v.grad.item(), v.grad.grad_fn is None


@pytest.mark.parametrize("depth", [3, 2000])
def test_deep_reentrant_backward(depth):
    assert _run(engine, depth) == _run(torch, depth)


def test_reentrant_backward_twice_in_a_row():
    # the escape from deep nesting can be taken again
    assert [_run(engine, 300), _run(engine, 200)] == [_run(torch, 300), _run(torch, 200)]


def test_error_at_the_bottom_reaches_the_caller():
    assert _run(engine, 200, fail_at=2) == _run(torch, 200, fail_at=2)


def test_every_level_sees_torchs_grad_mode():
    seen_engine, seen_torch = [], []
    _run(engine, 100, seen_engine)
    _run(torch, 100, seen_torch)
    assert seen_engine == seen_torch
