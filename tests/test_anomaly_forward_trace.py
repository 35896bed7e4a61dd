"""Anomaly mode's forward traces, as torch 2.13 gives them: a backward function that fails
(NaN found, or an error raised in it) warns "Error detected in <Node>" with the Python
stack of the forward call that made the node, before the error propagates; a node made
outside anomaly mode warns that no forward information is available; nothing is warned
with anomaly mode off. torch is the oracle, run side by side with the engine."""

import os
import warnings

import pytest
import torch

import engine

HEADER = "Traceback of forward call that caused the error:\n"


def _nan_in_pow(lib):
    x = lib.tensor([-1.0], requires_grad=True)
    y = x ** 0.5  # the forward line the trace must show
    y.sum().backward()


def _error_in_function(lib):
    class Fails(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            raise ValueError("refused in backward")

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


@pytest.mark.parametrize("story", [_nan_in_pow, _error_in_function],
                         ids=lambda f: f.__name__.strip("_"))
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
