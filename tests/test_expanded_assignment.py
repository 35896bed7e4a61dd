"""Writing into a tensor whose elements share memory (an expanded one), as torch 2.13
allows and refuses it: ``t[i] = v`` is checked on the part written (allowed when that part
has no shared elements, every element sharing its memory sees the value), fill_/zero_ are
allowed, other in-place ops and copy_ are refused. torch is the oracle, run side by side
with the engine. (The engine still refuses such a write when it is recorded for autograd:
its CopySlices would not give torch's gradient over shared memory.)"""

import pytest
import torch
from support.semantics_harness import outcome as raised_or_returned

import engine


def outcome(fn):
    """raised_or_returned, RuntimeError first (the engine's refusals here are RuntimeErrors
    that are also ValueErrors, torch's plain RuntimeErrors), tensors as lists."""
    kind, value = raised_or_returned(fn, kinds=(RuntimeError, TypeError, ValueError, Exception))
    return kind, value.tolist() if hasattr(value, "tolist") else value


def _expanded_row(lib):
    return lib.ones(1).clone().expand(10)


def _expanded_column(lib):
    return lib.tensor([[1.0], [2.0]]).clone().expand(2, 3)


def _assign(make, index, value):
    def story(lib):
        g = make(lib)
        g[index] = value(lib) if callable(value) else value
        return g
    return story


def _method(make, name, *args):
    def story(lib):
        g = make(lib)
        getattr(g, name)(*[a(lib) if callable(a) else a for a in args])
        return g
    return story


STORIES = {
    "one element of a row": _assign(_expanded_row, 0, 0.0),
    "a slice of a row": _assign(_expanded_row, slice(2, 4), 5.0),
    "one element of a matrix": _assign(_expanded_column, (0, 1), 5.0),
    "a shared row of a matrix": _assign(_expanded_column, 0, lambda lib: lib.tensor([1., 2., 3.])),
    "a column of a matrix": _assign(_expanded_column, (slice(None), 2),
                                    lambda lib: lib.tensor([7.0, 8.0])),
    "ellipsis": _assign(_expanded_column, (Ellipsis, 0), 4.0),
    "zero_": _method(_expanded_column, "zero_"),
    "fill_": _method(_expanded_column, "fill_", 3.0),
    "add_": _method(_expanded_row, "add_", 1.0),
    "copy_": _method(_expanded_column, "copy_", lambda lib: lib.ones(2, 3)),
    "mul_": _method(_expanded_column, "mul_", 2.0),
}


@pytest.mark.parametrize("name", list(STORIES))
def test_write_into_an_expanded_tensor(name):
    story = STORIES[name]
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))
