"""Grad-mode managers used as decorators, as torch 2.13 runs them: on a generator function
the mode holds inside its body at every resumption (next, send, throw, close) and not in
the caller between them; decorating a class warns (FutureWarning) and covers only its
construction. torch is the oracle, run side by side with the engine."""

import warnings

import pytest
import torch

import engine


def _drive_generator(lib, decorator, outer):
    """Observations of the grad mode inside the body and outside it, through send()."""
    seen = []

    @decorator(lib)
    def body(n):
        seen.append(("start", lib.is_grad_enabled()))
        for i in range(n):
            got = yield i
            seen.append(("resumed", got, lib.is_grad_enabled()))
        return "done"

    with lib.set_grad_enabled(outer):
        gen = body(3)
        value = gen.send(None)
        try:
            while True:
                seen.append(("caller", value, lib.is_grad_enabled()))
                value = gen.send(value * 10)
        except StopIteration as stop:
            seen.append(("returned", stop.value))
    return seen


DECORATORS = {
    "no_grad()": lambda lib: lib.no_grad(),
    "no_grad bare": lambda lib: lib.no_grad,
    "enable_grad()": lambda lib: lib.enable_grad(),
    "set_grad_enabled(False)": lambda lib: lib.set_grad_enabled(False),
}


def _throw_and_close(lib):
    seen = []

    @lib.no_grad()
    def body():
        while True:
            try:
                yield lib.is_grad_enabled()
            except ValueError:
                seen.append(("caught", lib.is_grad_enabled()))
            except GeneratorExit:
                seen.append(("closing", lib.is_grad_enabled()))
                raise

    with lib.enable_grad():
        gen = body()
        seen.append(next(gen))
        seen.append(gen.throw(ValueError("x")))
        seen.append(lib.is_grad_enabled())
        gen.close()
        seen.append(lib.is_grad_enabled())
    return seen


def test_generator_throw_and_close_run_in_the_mode():
    assert _throw_and_close(engine) == _throw_and_close(torch)


def _drive_coroutine(lib, decorator, outer):
    """A decorated ``async def``: calling it only makes the coroutine (under the mode);
    its body runs at send(), where torch applies no mode of the decorator's."""
    seen = []

    class Pause:
        def __await__(self):
            got = yield "paused"
            return got

    @decorator(lib)
    async def body():
        seen.append(("start", lib.is_grad_enabled()))
        got = await Pause()
        seen.append(("resumed", got, lib.is_grad_enabled()))
        return "done"

    with lib.set_grad_enabled(outer):
        coro = body()
        seen.append(("caller", coro.send(None), lib.is_grad_enabled()))
        try:
            coro.send(7)
        except StopIteration as stop:
            seen.append(("returned", stop.value))
    return seen


@pytest.mark.parametrize("outer", [True, False])
@pytest.mark.parametrize("name", list(DECORATORS))
@pytest.mark.parametrize("drive", [_drive_generator, _drive_coroutine],
                         ids=["generator", "coroutine"])
def test_decorated_body_runs_as_torch_runs_it(drive, name, outer):
    """A generator's body in the decorator's mode at every resumption; a coroutine's body
    under no mode of the decorator's."""
    expected = drive(torch, DECORATORS[name], outer)
    assert drive(engine, DECORATORS[name], outer) == expected


def _decorate_class(lib):
    seen = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        @lib.no_grad()
        class Made:
            def __init__(self):
                seen.append(("init", lib.is_grad_enabled()))

            def method(self):
                seen.append(("method", lib.is_grad_enabled()))

        Made().method()

        @lib.no_grad()
        def plain():
            return lib.is_grad_enabled()

        seen.append(("plain", plain()))
    return seen, [(w.category, str(w.message)) for w in caught]


def test_decorating_a_class_warns_and_covers_its_construction_only():
    expected = _decorate_class(torch)
    assert expected[1] and expected[1][0][0] is FutureWarning
    assert _decorate_class(engine) == expected
