"""The op rows' ``extra`` rules (memory a forward allocates beyond its outputs, checked by
the service before it runs: NOTE [allocation guard]) against what the forward really
allocates, measured with tracemalloc (NumPy reports its buffers to it)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from engine.ops import ROWS

RNG = np.random.default_rng(0)
X = RNG.uniform(-1, 1, (2, 3, 40, 40))
W = RNG.uniform(-1, 1, (4, 3, 7, 7))
G = RNG.uniform(-1, 1, (2, 4, 40, 40))
CASES = [
    ("convolution", (X, W, None, (1, 1), (3, 3), (1, 1), False, (0, 0), 1)),
    ("convolution", (X, W, None, (2, 1), (0, 3), (1, 2), False, (0, 0), 1)),
    ("convolution", (RNG.uniform(-1, 1, (2, 3, 500)), RNG.uniform(-1, 1, (4, 3, 9)), None,
                     (2,), (4,), (1,), False, (0,), 1)),
    ("_conv_grad_input", (G, X, W, (1, 1), (3, 3), (1, 1), 1)),
    ("_conv_grad_weight", (G, X, W, (1, 1), (3, 3), (1, 1), 1)),
    ("max_pool2d_with_indices", (X, (5, 5), (1, 1), (2, 2), (1, 1), False)),
    ("max_pool2d_with_indices", (X, (4, 4), (3, 3), (1, 1), (1, 1), True)),
    ("avg_pool2d", (X, (5, 5), (1, 1), (2, 2), False, True, None)),
    ("_avg_pool2d_grad", (RNG.uniform(-1, 1, (2, 3, 40, 40)), X, (5, 5), (1, 1), (2, 2),
                          False, True, None)),
    ("empty_strided", ((100, 10), (1000, 1), None, None, False)),  # a 99,010-element buffer
]


def test_every_extra_rule_is_measured_here():
    assert {name for name, _ in CASES} == {q for q, r in ROWS.items() if r.extra is not None}


@pytest.mark.parametrize("name,args", CASES, ids=[f"{n}-{i}" for i, (n, _) in
                                                  enumerate(CASES)])
def test_extra_rule_bounds_the_forwards_working_memory(name, args):
    row = ROWS[name]
    extra = row.extra_elements(args)
    assert extra > 0
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = row.forward(*args)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    outputs = sum(o.nbytes for o in (out if isinstance(out, tuple) else (out,)))
    working = peak - outputs
    # the rule is an upper bound of the working memory (float64: 8 bytes an element; a
    # little slack for NumPy's small temporaries) ...
    assert working <= extra * 8 * 1.1 + 256 * 1024, (working, extra * 8)
    # ... and not a loose one: the forward does use a good part of it
    assert working >= extra * 8 * 0.3, (working, extra * 8)
