"""Sample inputs for the per-op tests (like PyTorch's OpInfo sample_inputs).

A row's ``samples`` is a function ``rng -> list[Sample]``. In ``Sample.args``/``kwargs``,
a NumPy float array is a Tensor input that requires grad; ``Const(array)`` is a Tensor
input that does not (indices, targets, masks); anything else is passed as is.
"""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Const:
    array: np.ndarray


@dataclass
class Sample:
    args: tuple
    kwargs: dict = field(default_factory=dict)
    # finite differences need smooth points: samples at kinks/ties set this False
    gradcheck: bool = True


def _arr(rng, shape, low, high):
    return rng.uniform(low, high, size=shape)


UNARY_SHAPES = [(), (3,), (2, 3), (2, 1, 3)]
BINARY_SHAPES = [((3,), (3,)), ((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)),
                 ((), (2, 3)), ((2, 3), ())]


def unary(low=-2.0, high=2.0, shapes=UNARY_SHAPES, **kwargs):
    def make(rng):
        return [Sample((_arr(rng, s, low, high),), dict(kwargs)) for s in shapes]
    return make


def binary(low=-2.0, high=2.0, shapes=BINARY_SHAPES, other_low=None, other_high=None,
           scalar=None, **kwargs):
    """Pairs of broadcastable Tensors, plus (if given) a Python scalar as ``other``."""
    olow = low if other_low is None else other_low
    ohigh = high if other_high is None else other_high

    def make(rng):
        out = [Sample((_arr(rng, a, low, high), _arr(rng, b, olow, ohigh)), dict(kwargs))
               for a, b in shapes]
        if scalar is not None:
            out.append(Sample((_arr(rng, (2, 3), low, high), scalar), dict(kwargs)))
        return out
    return make


def explicit(*samples):
    """Samples written out: each item is a function rng -> Sample."""
    def make(rng):
        return [s(rng) for s in samples]
    return make


def rand(rng, *shape, low=-2.0, high=2.0):
    return _arr(rng, shape, low, high)
