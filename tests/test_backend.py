"""The array indirection (engine/backend.py) on the CPU: what the CuPy backend relies on
and can be checked without a GPU (tests/test_cuda*.py run the rest where one is)."""

import numpy as np
import pytest

from engine import backend


@pytest.mark.parametrize("perm", [(1, 0), (1, 0, 2), (2, 0, 1), (0, 2, 1)])
@pytest.mark.parametrize("sliced", [False, True])
def test_a_transfer_keeps_the_dimension_order(perm, sliced):
    """A transfer copies C-contiguous; _keeping_layout moves the array in its own dimension
    order, so the copy has the source's strides (torch's .to() keeps them), and a sliced
    source gets the strides of a dense array in that order. NumPy's C-contiguous copy
    stands in for the transfer."""
    base = np.random.default_rng(0).normal(size=(4, 6, 8)[:len(perm)]).astype(np.float32)
    a = base.transpose(perm)
    if sliced:
        a = a[::2]
    moved = backend._keeping_layout(a, np.ascontiguousarray)
    np.testing.assert_array_equal(moved, a)
    dense = np.empty_like(a, order="K")  # NumPy's own "same dimension order, dense"
    assert moved.strides == dense.strides


def test_writeable_reads_numpys_flag():
    a = np.zeros(3)
    assert backend.writeable(a)
    a.flags.writeable = False
    assert not backend.writeable(a)
    assert backend.writeable(np.broadcast_to(np.zeros(1), (3,)).copy())
