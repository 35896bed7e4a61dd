"""Anomaly mode's forward traces, as torch 2.13 gives them: a backward function that fails
(NaN found, or an error raised in it) warns "Error detected in <Node>" with the Python
stack of the forward call that made the node, before the error propagates; a node made
outside anomaly mode warns that no forward information is available; nothing is warned
with anomaly mode off. torch is the oracle, run side by side with the engine."""

import os
import warnings

import torch
from support.functions import function
from support.semantics_harness import stories

import engine

HEADER = "Traceback of forward call that caused the error:\n"


def _nan_in_pow(lib):
    x = lib.tensor([-1.0], requires_grad=True)
    y = x ** 0.5  # the forward line the trace must show
    y.sum().backward()


def _refuse(ctx, grad):
    raise ValueError("refused in backward")


def _error_in_function(lib):
    Fails = function(lib, "Fails", forward=lambda ctx, x: x * 2, backward=_refuse)
    x = lib.ones(2, requires_grad=True)
    out = Fails.apply(x)  # the forward line the trace must show
    out.sum().backward()


def _run(lib, story, mode):
    """(error type and text, [(category, message)] of the UserWarnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if mode == "detect_anomaly":
                with lib.autograd.detect_anomaly():
                    story(lib)
            elif mode == "off":
                story(lib)
            else:  # the forward outside anomaly mode, the backward inside
                with lib.autograd.set_detect_anomaly(True):
                    story(lib)
        except Exception as e:  # noqa: BLE001 - compared below
            error = (type(e).__name__ if type(e) in (ValueError,) else "RuntimeError", str(e))
        else:
            error = None
    return error, [str(w.message) for w in caught if w.category is UserWarning]


def _forward_line(story):
    """The source line of the story's forward call (the one with the comment)."""
    code = story.__code__
    lines = open(code.co_filename).read().splitlines()
    start = code.co_firstlineno
    for number in range(start, start + 40):
        if "the forward line the trace must show" in lines[number - 1]:
            return number
    raise AssertionError("no marked line")


@stories(_nan_in_pow, _error_in_function)
def test_failing_backward_warns_with_the_forward_trace(story):
    expected_error, expected = _run(torch, story, "detect_anomaly")
    error, got = _run(engine, story, "detect_anomaly")
    assert error == expected_error
    # the mode's own warning, then the node's: same header; each trace (torch's has its
    # own Python wrappers and a C++ suffix) shows the story's forward line, from this file
    assert got[0] == expected[0]
    assert len(got) == len(expected) == 2
    head, _, trace = got[1].partition(HEADER)
    torch_head, _, torch_trace = expected[1].partition(HEADER)
    assert head == torch_head and trace and torch_trace
    where = f'File "{__file__}", line {_forward_line(story)}, in {story.__name__}'
    assert where in trace and where in torch_trace
    assert os.path.dirname(engine.__file__) not in trace  # the engine's frames are left out


def _forward_outside(lib):
    x = lib.tensor([-1.0], requires_grad=True)
    y = x ** 0.5
    with lib.autograd.set_detect_anomaly(True):
        y.sum().backward()


def _without_cpp_suffix(message):
    """torch's C++ warnings end with " (Triggered internally at <file>:<line>.)"."""
    return message.split(" (Triggered internally at ")[0]


def test_node_made_outside_anomaly_mode_has_no_trace():
    expected_error, expected = _run(torch, _forward_outside, "off")
    error, got = _run(engine, _forward_outside, "off")
    assert error == expected_error
    assert got == [_without_cpp_suffix(m) for m in expected]
    assert "No forward pass information available" in got[0]


def test_no_warning_with_anomaly_mode_off():
    assert _run(engine, _error_in_function, "off") == _run(torch, _error_in_function, "off")


def _nested_failure(lib):
    """A node recorded by another's backward (create_graph) fails: (error, warning heads),
    where each head is a warning's first line with the file lines dropped."""
    class Outer(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sum(0, keepdim=True)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return Inner.apply(grad.expand(x.shape) * x)

    Inner = function(lib, "Inner", forward=lambda ctx, x: x * 2,
                     backward=lambda ctx, grad: grad / 0 * 0)  # NaN

    x = lib.ones(3, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with lib.autograd.detect_anomaly():
                (g,) = lib.autograd.grad(Outer.apply(x), x, create_graph=True)
                g.sum().backward()
        except RuntimeError as e:
            error = str(e)
    heads = [str(w.message).strip().split("\n")[0] for w in caught]
    return error, heads, ["Outer.apply" in str(w.message) for w in caught]


def test_a_node_made_in_a_backward_shows_the_trace_of_the_node_that_made_it():
    # torch follows the chain: "Previous calculation was induced by OuterBackward", with
    # the forward trace of Outer's own call
    ours, theirs = _nested_failure(engine), _nested_failure(torch)
    assert ours == theirs
    assert any(h.startswith("Previous calculation was induced by OuterBackward")
               for h in theirs[1])


def _warnings_as_errors(lib, capsys):
    with warnings.catch_warnings(record=True):
        with lib.autograd.detect_anomaly():
            warnings.simplefilter("error")
            a = lib.ones(3, requires_grad=True)
            b = a + 1
            c = b ** 2
            b += 1
            try:
                lib.autograd.grad(c.sum(), a)
            except RuntimeError as e:
                error = str(e).split(".")[0]
    return error, capsys.readouterr().err.split("\n")[0]


def test_a_trace_warning_turned_error_goes_to_stderr_and_the_backward_error_propagates(
        capsys):
    assert _warnings_as_errors(engine, capsys) == _warnings_as_errors(torch, capsys)
