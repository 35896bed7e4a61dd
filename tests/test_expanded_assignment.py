"""Writing into a tensor whose elements share memory (an expanded one), as torch 2.13
allows and refuses it: ``t[i] = v`` is checked on the part written (allowed when that part
has no shared elements, every element sharing its memory sees the value), fill_/zero_ are
allowed, other in-place ops and copy_ are refused. torch is the oracle, run side by side
with the engine. Recorded for autograd, the write goes through the view ``t[i]`` (its own
elements do not share memory), so the gradient of what the write overwrote is zero where
torch's is. With index tensors (index_put_), nothing recorded, torch warns that it is
deprecated and writes anyway. (Recorded, torch refuses only at backward; the engine still
refuses at the write.)"""

import warnings

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


def _recorded(index, value, make_leaf, expand_to, then=None):
    """``index`` of an expanded clone of a leaf that requires grad is assigned ``value``
    (possibly a tensor that requires grad too); what backward gives everything."""
    def story(lib):
        leaf = make_leaf(lib).requires_grad_()
        g = leaf.clone().expand(*expand_to)
        src = value(lib) if callable(value) else value
        g[index] = src
        out = g if then is None else then(g)
        (out * lib.arange(float(out.numel())).reshape(out.shape)).sum().backward()
        return (g.tolist(), g.grad_fn.name(), leaf.grad.tolist(), g._version,
                src.grad.tolist() if hasattr(src, "grad") and src.grad is not None else None)
    return story


def _column(lib):
    return lib.tensor([[1.0], [2.0]])


def _source(lib):
    return lib.tensor([7.0, 8.0], requires_grad=True)


RECORDED = {
    "one element of a matrix": _recorded((0, 1), 5.0, _column, (2, 3)),
    "one element of a row": _recorded(0, 5.0, lambda lib: lib.ones(1), (4,)),
    "a column from a tensor that requires grad": _recorded((slice(None), 2), _source,
                                                           _column, (2, 3)),
    "ellipsis": _recorded((Ellipsis, 0), 4.0, _column, (2, 3)),
    "then used out of place": _recorded((1, 0), 3.0, _column, (2, 3), then=lambda g: g * g),
    "a shared row (refused)": _recorded(0, 1.0, _column, (2, 3)),
}


@pytest.mark.parametrize("name", list(RECORDED))
def test_recorded_write_into_an_expanded_tensor(name):
    story = RECORDED[name]
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


# -- index tensors (index_put_) into an expanded tensor, nothing recorded: torch warns that
#    this is deprecated (and, for one mask and one value, masked_fill_'s warning too), then
#    writes each indexed element's shared memory, the last write staying

def _index_put(index, value):
    def story(lib):
        g = _expanded_column(lib)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            g[index(lib, g)] = value(lib) if callable(value) else value
        seen = [(w.category.__name__, str(w.message).split(" (Triggered internally")[0])
                for w in caught]
        return g.tolist(), g._version, seen
    return story


INDEX_PUT = {
    "rows by a tensor": _index_put(lambda lib, g: lib.tensor([0]), 9.0),
    "pairs of positions": _index_put(lambda lib, g: (lib.tensor([0, 1]), lib.tensor([1, 2])),
                                     lambda lib: lib.tensor([5.0, 6.0])),
    "a mask and a number": _index_put(lambda lib, g: g > 1.5, 7.0),
    "a mask and a tensor": _index_put(lambda lib, g: g > 1.5,
                                      lambda lib: lib.tensor([5.0, 6.0, 7.0])),
    "a mask and a one-element tensor": _index_put(lambda lib, g: g > 1.5,
                                                  lambda lib: lib.tensor([4.0])),
    "a slice and a mask": _index_put(lambda lib, g: (slice(None), lib.tensor([True, False, True])),
                                     8.0),
    "an int and a tensor": _index_put(lambda lib, g: (0, lib.tensor([1])), 3.0),
    "a list": _index_put(lambda lib, g: [0, 1], 3.0),
    "a row twice": _index_put(lambda lib, g: lib.tensor([0, 0]),
                              lambda lib: lib.tensor([[5.0, 6.0, 7.0], [1.0, 2.0, 3.0]])),
}


@pytest.mark.parametrize("name", list(INDEX_PUT))
def test_index_put_into_an_expanded_tensor(name):
    story = INDEX_PUT[name]
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))
